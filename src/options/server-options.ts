import { join } from "node:path";
import { defaultEventLimits } from "../guard/limits.js";
import { STORE_URL_FORMS, storeOptions } from "../store/stores.js";
import { option } from "./option-table.js";
import { commaList, hostPort, nonEmpty, oneOf, positiveInt } from "./parsers.js";

/** The server's log levels (pino's). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * Every option of the server, once: flag, environment variable, default,
 * parser, help. `npm start`, `pulse-log serve`, `--help`, the README's
 * configuration table and the clients' defaults (the address and the log
 * path) all read it. Order is the order of the help.
 */
export const serverOptions = Object.freeze({
  address: option({ flag: "addr", value: "HOST:PORT", env: "PULSE_LEARNING_LOG_ADDR", default: "127.0.0.1:50051", parse: hostPort, help: "where the server listens (and where clients connect)" }),
  logPath: option({ flag: "log-path", value: "FILE", env: "PULSE_LEARNING_LOG_PATH", default: join("logs", "pulse_learning_log.jsonl"), parse: nonEmpty, help: "the JSONL log (folder created 0700, file 0600)" }),
  store: option({ flag: "store", value: "URL", env: "PULSE_LEARNING_LOG_STORE", default: "file", parse: nonEmpty, help: `the log store: ${STORE_URL_FORMS} (the embedded JSONL file, or a NATS JetStream stream: docs/jetstream.md)` }),
  // Each store's own options (src/store/stores.ts), right after the URL that picks the store.
  ...storeOptions,
  trustDir: option({ flag: "trust-dir", value: "DIR", defaultText: "trust/ beside the log", parse: nonEmpty, help: "the only folder client-named trust files may be in" }),
  trustTracker: option({ flag: "trust-tracker", value: "HOST:PORT", defaultText: "in process", parse: hostPort, help: "use the trust tracker of another instance" }),
  trustTrackerCa: option({ flag: "trust-tracker-ca", value: "FILE", parse: nonEmpty, help: "reach the remote trust tracker over TLS, trusting this CA (PEM)" }),
  trustTrackerTokenFile: option({ flag: "trust-tracker-token-file", value: "FILE", parse: nonEmpty, help: "bearer token for the remote trust tracker (needs --trust-tracker-ca)" }),
  trustStateDir: option({ flag: "trust-state-dir", value: "DIR", defaultText: "<log name>.trust-state/ beside the log", parse: nonEmpty, help: "the in-process tracker's snapshot and audit key (0700)" }),
  trustSnapshotChanges: option({ flag: "trust-snapshot-changes", value: "N", default: 1000, parse: positiveInt, help: "snapshot the trust state after this many changes (and at shutdown)" }),
  trustSnapshotIntervalMs: option({ flag: "trust-snapshot-interval-ms", value: "MS", default: 60_000, parse: positiveInt, help: "longest time between trust snapshots while the log moves" }),
  runIndexPath: option({ flag: "run-index", value: "FILE", defaultText: "<log name>.run-index.json beside the log", parse: nonEmpty, help: "the run index's checkpoint (0600; rebuilt from the log when missing or stale)" }),
  runIdleSeconds: option({ flag: "run-idle-seconds", value: "S", default: 900, parse: positiveInt, help: "a run with no finish record and no process holding it is listed as ended this long after its last record" }),
  metricsAddress: option({ flag: "metrics-addr", value: "HOST:PORT", defaultText: "off", parse: hostPort, help: "Prometheus metrics at http://HOST:PORT/metrics (loopback unless --insecure; names in docs/metrics.md)" }),
  logLevel: option({ flag: "log-level", value: "LEVEL", env: "PULSE_LEARNING_LOG_LEVEL", default: "info" as (typeof LOG_LEVELS)[number], parse: oneOf(...LOG_LEVELS), help: `server log level, pino JSON on stdout (${LOG_LEVELS.join(", ")})` }),
  messageBytesMax: option({ flag: "message-bytes-max", value: "BYTES", default: 4 * 1024 * 1024, defaultText: "4194304 (4 MiB)", parse: positiveInt, help: "largest gRPC message accepted" }),
  recordBytesMax: option({ flag: "record-bytes-max", value: "BYTES", default: defaultEventLimits.recordBytesMax, defaultText: "1048576 (1 MiB)", parse: positiveInt, help: "largest record (one JSON line)" }),
  eventTypeCharsMax: option({ flag: "event-type-chars-max", value: "N", default: defaultEventLimits.eventTypeCharsMax, parse: positiveInt, help: "longest event_type, in characters" }),
  nestingDepthMax: option({ flag: "nesting-depth-max", value: "N", default: defaultEventLimits.nestingDepthMax, parse: positiveInt, help: "deepest nesting of objects and arrays in data and context" }),
  batchEventsMax: option({ flag: "batch-events-max", value: "N", default: defaultEventLimits.batchEventsMax, parse: positiveInt, help: "most events in one LogBatch or IngestEvents message" }),
  queueBytesMax: option({ flag: "queue-bytes-max", value: "BYTES", default: 16 * 1024 * 1024, defaultText: "16777216 (16 MiB)", parse: positiveInt, help: "bytes waiting to be written; beyond it unary calls get RESOURCE_EXHAUSTED and streams stop being read" }),
  ingestWorkers: option({ flag: "ingest-workers", value: "N", env: "PULSE_LEARNING_LOG_INGEST_WORKERS", default: 0, parse: (text: string) => (text.trim() === "0" ? 0 : positiveInt(text)), help: "worker threads that decode, check, guard and encode batch requests (IngestEvents, StreamEvents, LogBatch) beside the main thread; 0: all on the main thread" }),
  dedupWindowRecords: option({ flag: "dedup-window", value: "N", default: 100_000, parse: positiveInt, help: "recent records whose event_ids answer retries exactly once (rebuilt at start, across closed segments as needed)" }),
  shutdownTimeoutMs: option({ flag: "shutdown-timeout-ms", value: "MS", default: 10_000, parse: positiveInt, help: "how long SIGTERM/SIGINT waits for open calls before cancelling them" }),
  piiMode: option({ flag: "pii-mode", value: "MODE", env: "PULSE_LEARNING_LOG_PII_MODE", default: "redact" as "off" | "redact" | "reject", parse: oneOf("off", "redact", "reject"), help: "off, redact or reject personal and secret data (see The PII guard)" }),
  piiKeys: option({ flag: "pii-keys", value: "K1,K2", defaultText: "password, secret, token, api_key, email, phone, ssn, ...", parse: commaList, help: "sensitive key names, comma-separated (replaces the default list)" }),
  tlsCert: option({ flag: "tls-cert", value: "FILE", parse: nonEmpty, help: "serve TLS with this certificate chain (PEM); needs --tls-key" }),
  tlsKey: option({ flag: "tls-key", value: "FILE", parse: nonEmpty, help: "the TLS private key (PEM)" }),
  tlsClientCa: option({ flag: "tls-client-ca", value: "FILE", parse: nonEmpty, help: "require client certificates signed by this CA (mutual TLS)" }),
  tokensFile: option({ flag: "tokens-file", value: "FILE", env: "PULSE_LEARNING_LOG_TOKENS_FILE", parse: nonEmpty, help: "require bearer tokens with roles (writer, reader, admin; see Tokens and roles)" }),
  insecure: option({ flag: "insecure", default: false, help: "allow a non-loopback address without TLS and tokens" }),
  help: option({ flag: "help", short: "h", default: false, help: "print this help and exit" }),
  version: option({ flag: "version", default: false, help: "print the version and exit" }),
});
