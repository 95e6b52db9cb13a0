import type { OptionTable, OptionValues } from "../options/option-table.js";

/**
 * One kind of log store as the server's configuration meets it: the URL that
 * names it (`--store`), the options only it reads, and how the two become its
 * choice. Each store's folder exports one (file/store-kind.ts,
 * jetstream/store-kind.ts); stores.ts lists them, and the option table,
 * `--help` and the URL errors read that list. Nothing here loads a store's
 * code (reading options stays cheap for every pulse-log command); its opener
 * is in open-store.ts.
 */
export interface StoreKind<Choice extends { readonly kind: string }, Options extends OptionTable> {
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
}

/** Declares a store kind (a typed identity: the rows' value types flow into `choose`). */
export function storeKind<Choice extends { readonly kind: string }, Options extends OptionTable>(kind: StoreKind<Choice, Options>): StoreKind<Choice, Options> {
  return Object.freeze(kind);
}
