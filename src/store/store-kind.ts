import type { OptionTable, OptionValues } from "../options/option-table.js";
import type { LogStore, StoreDeps } from "./store.js";

/**
 * One kind of log store as the server's configuration meets it: the URL that
 * names it (`--store`), the options only it reads, how the two become its
 * choice, and how it opens. Each store's folder exports one (file/store-kind.ts,
 * jetstream/store-kind.ts); store-choice.ts lists them, and the option table,
 * `--help`, the URL errors and the opener all read that list.
 */
export interface StoreKind<Choice extends { readonly kind: string }, Options extends OptionTable, Config> {
  /** The `kind` of its choice. */
  readonly kind: Choice["kind"];
  /** Its URL as usage and errors write it: "file", "nats://HOST:PORT[,HOST:PORT...]". */
  readonly urlForm: string;
  /** True when `--store`'s text names this store. */
  names(url: string): boolean;
  /** The options only this store reads (its rows of the server's option table, in help order); giving one with another store is an error. */
  readonly options: Options;
  /** Its choice from the URL and its options' values, or a message naming what is wrong. */
  choose(url: string, values: OptionValues<Options>): Choice | { problem: string };
  /**
   * Opens it, ready to append. `config` is the server's config, which has
   * every member a store's config declares (no store imports the server's
   * config). Loaded on demand, so reading options loads no store's code.
   */
  open(config: Config & { readonly store: Choice }, deps: StoreDeps): Promise<LogStore>;
}

/** Declares a store kind (a typed identity: the rows' value types flow into `choose`). */
export function storeKind<Choice extends { readonly kind: string }, Options extends OptionTable, Config>(kind: StoreKind<Choice, Options, Config>): StoreKind<Choice, Options, Config> {
  return Object.freeze(kind);
}
