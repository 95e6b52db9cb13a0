import { parseJetStreamChoice, type JetStreamStoreChoice, type JetStreamUrlOptions } from "./jetstream/store-choice.js";

/**
 * Which log store the server writes to, read from its URL (`--store`): the
 * embedded JSONL file, or a JetStream stream. Each store's choice names its
 * `kind`; stores.ts opens the store of that kind.
 */
export type StoreChoice = FileStoreChoice | JetStreamStoreChoice;

/** The embedded JSONL file (group commit, O_DSYNC): nothing else to run. Its options are the log's flags (--log-path...). */
export interface FileStoreChoice {
  readonly kind: "file";
}

/** Options given beside the URL, for the store that takes them. */
export type StoreUrlOptions = JetStreamUrlOptions;

/** The store URL forms, one per store: the usage text and the errors name them. */
export const STORE_URL_FORMS = "file or nats://HOST:PORT[,HOST:PORT...]";

/**
 * Reads `--store`: "file", or "nats://HOST:PORT[,HOST:PORT...]". Returns the
 * choice, or a message naming what is wrong (config turns it into a ConfigError).
 */
export function parseStoreChoice(text: string, options: StoreUrlOptions): StoreChoice | { problem: string } {
  if (text === "file") {
    const usesNatsOptions = options.stream !== undefined || options.subject !== undefined || options.replicas !== undefined;
    return usesNatsOptions ? { problem: "--nats-stream, --nats-subject and --nats-replicas need --store nats://HOST:PORT" } : { kind: "file" };
  }
  if (text.startsWith("nats://")) return parseJetStreamChoice(text, options);
  return { problem: `--store must be ${STORE_URL_FORMS}; got "${text}"` };
}
