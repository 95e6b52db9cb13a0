import type { OptionSources, OptionValues } from "../options/option-table.js";
import { fileStoreKind } from "./file/store-kind.js";
import { jetStreamStoreKind } from "./jetstream/store-kind.js";
import type { StoreKind } from "./store-kind.js";

/**
 * The log stores, each declared in its own folder: adding a store is its
 * folder (with a store-kind.ts), one line here and its opener's line in
 * open-store.ts (which tsc asks for). The option table, `--help` and the URL
 * errors read this list.
 */
export const storeKinds = [fileStoreKind, jetStreamStoreKind] as const;

type AnyKind = (typeof storeKinds)[number];
type ChoiceOf<K> = K extends StoreKind<infer C, infer _O> ? C : never;
type OptionsOf<K> = K extends StoreKind<infer _C, infer O> ? O : never;
/** The intersection of a union's members. */
export type Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Which log store the server writes to, read from its URL (`--store`): one member per store kind. */
export type StoreChoice = ChoiceOf<AnyKind>;

/** Every store's own option rows, in the list's order: the server's option table takes them after `--store`. */
export type StoreOptions = Intersection<OptionsOf<AnyKind>>;
export const storeOptions = Object.freeze(Object.assign({}, ...storeKinds.map((k) => k.options))) as StoreOptions;

/** The store URL forms, one per store: the usage text and the errors name them. */
export const STORE_URL_FORMS = storeKinds.map((k) => k.urlForm).join(" or ");

/**
 * Reads `--store` and the stores' options into the choice of the store the
 * URL names, or a message naming what is wrong (config turns it into a
 * ConfigError): an unknown URL, or an option of another store given (from
 * its flag or environment) — an operator who gives one expects it to act.
 */
export function parseStoreChoice(url: string, values: OptionValues<StoreOptions>, sources: OptionSources<StoreOptions>): StoreChoice | { problem: string } {
  const kind = storeKinds.find((k) => k.names(url));
  if (kind === undefined) return { problem: `--store must be ${STORE_URL_FORMS}; got "${url}"` };
  const foreign = storeKinds
    .filter((k) => k !== kind)
    .flatMap((k) => Object.entries(k.options).filter(([key]) => sources[key as keyof StoreOptions] !== "default").map(([, spec]) => ({ flag: `--${spec.flag}`, urlForm: k.urlForm })));
  if (foreign.length > 0) {
    const flags = foreign.map((f) => f.flag);
    const list = flags.length === 1 ? flags[0] : `${flags.slice(0, -1).join(", ")} and ${flags[flags.length - 1]}`;
    return { problem: `${list} ${flags.length === 1 ? "needs" : "need"} --store ${foreign[0].urlForm}` };
  }
  return (kind as StoreKind<StoreChoice, never>).choose(url, values as never);
}
