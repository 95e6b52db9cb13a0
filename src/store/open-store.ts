import { openFileStore } from "./file/open-file-store.js";
import { openJetStreamStore } from "./jetstream/open-jetstream-store.js";
import type { StoreChoice, Intersection } from "./stores.js";
import type { LogStore, StoreDeps } from "./store.js";

/**
 * Each store's opener, by the kind its URL names (stores.ts lists the kinds;
 * tsc refuses a kind without its line here). Apart from the kinds so that
 * reading options loads no store's code: only the server imports this.
 */
const openers = {
  file: openFileStore,
  nats: openJetStreamStore,
} satisfies { [K in StoreChoice["kind"]]: (config: never, deps: StoreDeps) => Promise<LogStore> };

type ConfigOf<F> = F extends (config: infer C, deps: StoreDeps) => Promise<LogStore> ? Omit<C, "store"> : never;

/**
 * What any store may be opened with: the choice its URL names and every
 * store's own config (each store declares the members it reads; the
 * server's config has them all, so no store imports the server's config).
 */
export type StoreConfig = Intersection<ConfigOf<(typeof openers)[StoreChoice["kind"]]>> & { readonly store: StoreChoice };

/** Opens the store the config's URL names, ready to append (see {@link LogStore}). */
export function openStore(config: StoreConfig, deps: StoreDeps): Promise<LogStore> {
  const open = openers[config.store.kind] as (config: StoreConfig, deps: StoreDeps) => Promise<LogStore>;
  return open(config, deps);
}
