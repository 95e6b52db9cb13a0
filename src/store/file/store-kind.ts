import { option } from "../../options/option-table.js";
import { onOff, positiveInt } from "../../options/parsers.js";
import { storeKind } from "../store-kind.js";

/** The embedded JSONL file (group commit, O_DSYNC): nothing else to run. The log's path is the server's --log-path. */
export interface FileStoreChoice {
  readonly kind: "file";
}

/** The file store's own options: the hash chain, segments and retention of the JSONL log. */
export const fileStoreOptions = Object.freeze({
  hashChain: option({ flag: "hash-chain", value: "on|off", default: true, defaultText: "on", parse: onOff, help: "SHA-256 chain over the records (tamper evidence; pulse-log verify)" }),
  segmentBytesMax: option({ flag: "segment-bytes-max", value: "BYTES", default: 256 * 1024 * 1024, defaultText: "268435456 (256 MiB)", parse: positiveInt, help: "close the active file into a segment named by its seq range at this size" }),
  retentionBytesMax: option({ flag: "retention-bytes-max", value: "BYTES", defaultText: "keep all", parse: positiveInt, help: "delete the oldest closed segments while all of them exceed this size" }),
  retentionDays: option({ flag: "retention-days", value: "DAYS", defaultText: "keep all", parse: positiveInt, help: "delete closed segments older than this" }),
});

/** The JSONL file store, named by `--store file` (the default). */
export const fileStoreKind = storeKind<FileStoreChoice, typeof fileStoreOptions>({
  kind: "file",
  urlForm: "file",
  names: (url) => url === "file",
  options: fileStoreOptions,
  choose: () => Object.freeze({ kind: "file" }),
});
