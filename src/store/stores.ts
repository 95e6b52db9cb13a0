import { openFileStore, type FileStoreConfig } from "./file/open-file-store.js";
import { openJetStreamStore, type JetStreamStoreConfig } from "./jetstream/open-jetstream-store.js";
import type { StoreChoice } from "./store-choice.js";
import type { LogStore, StoreDeps } from "./store.js";

/**
 * What any store may be opened with: the choice its URL names and every
 * store's own config (each store declares the members it reads; the
 * server's config has them all, so no store imports the server's config).
 */
export type StoreConfig = FileStoreConfig & Omit<JetStreamStoreConfig, "store"> & { readonly store: StoreChoice };

/** Opens one kind of store from its config (its `store` choice and the options it reads). */
type StoreOpener<K extends StoreChoice["kind"]> = (config: StoreConfig & { store: Extract<StoreChoice, { kind: K }> }, deps: StoreDeps) => Promise<LogStore>;

/** The stores, by the kind their URL names: adding a store is one line here (and its URL in store-choice.ts). */
const openers: { [K in StoreChoice["kind"]]: StoreOpener<K> } = {
  file: openFileStore,
  nats: openJetStreamStore,
};

/** Opens the store the config's URL names, ready to append (see {@link LogStore}). */
export function openStore(config: StoreConfig, deps: StoreDeps): Promise<LogStore> {
  const open = openers[config.store.kind] as StoreOpener<StoreChoice["kind"]>;
  return open(config, deps);
}
