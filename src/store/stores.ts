import type { ServerConfig } from "../config.js";
import { openFileStore } from "./open-file-store.js";
import { openJetStreamStore } from "./jetstream/open-jetstream-store.js";
import type { StoreChoice } from "./store-choice.js";
import type { LogStore, StoreDeps } from "./store.js";

/** Opens one kind of store from the server's config (its `store` choice and the options it reads). */
type StoreOpener<K extends StoreChoice["kind"]> = (config: ServerConfig & { store: Extract<StoreChoice, { kind: K }> }, deps: StoreDeps) => Promise<LogStore>;

/** The stores, by the kind their URL names: adding a store is one line here (and its URL in store-choice.ts). */
const openers: { [K in StoreChoice["kind"]]: StoreOpener<K> } = {
  file: openFileStore,
  nats: openJetStreamStore,
};

/** Opens the store the config's URL names, ready to append (see {@link LogStore}). */
export function openStore(config: ServerConfig, deps: StoreDeps): Promise<LogStore> {
  const open = openers[config.store.kind] as StoreOpener<StoreChoice["kind"]>;
  return open(config, deps);
}
