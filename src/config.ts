import { basename, dirname, extname, isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { TlsFiles } from "./auth/tls.js";
import { defaultEventLimits, type EventLimits } from "./guard/limits.js";
import { defaultSensitiveKeys, type PiiOptions } from "./guard/pii.js";
import { parseStoreChoice, type StoreChoice } from "./store/store-choice.js";

/** Everything the server is configured with; built only by {@link resolveConfig}. */
export interface ServerConfig {
  /** host:port to listen on. Default 127.0.0.1:50051 (flag --addr, env PULSE_LEARNING_LOG_ADDR). */
  readonly address: string;
  /** The JSONL log. Default logs/pulse_learning_log.jsonl (flag --log-path, env PULSE_LEARNING_LOG_PATH). */
  readonly logPath: string;
  /** Folder that client-named trust files are confined to. Default: `trust` beside the log (flag --trust-dir). */
  readonly trustDir: string;
  /** host:port of a remote trust tracker; in process when absent (flag --trust-tracker). */
  readonly trustTracker?: string;
  /** CA (PEM) to reach the remote trust tracker over TLS; plaintext when absent (flag --trust-tracker-ca). */
  readonly trustTrackerCa?: string;
  /** File holding the bearer token for the remote trust tracker (flag --trust-tracker-token-file). */
  readonly trustTrackerTokenFile?: string;
  /** The in-process tracker's private state folder (snapshot, audit key). Default: `<log name>.trust-state` beside the log (flag --trust-state-dir). */
  readonly trustStateDir: string;
  /** Trust changes between snapshots. Default 1,000 (flag --trust-snapshot-changes). */
  readonly trustSnapshotChanges: number;
  /** Longest time between snapshots while the log moves, in ms. Default 60,000 (flag --trust-snapshot-interval-ms). */
  readonly trustSnapshotIntervalMs: number;
  /** Limits on one event. */
  readonly limits: Readonly<EventLimits>;
  /** Largest gRPC message accepted, in bytes. Default 4 MiB (flag --message-bytes-max). */
  readonly messageBytesMax: number;
  /** Bytes waiting for a write before unary calls get RESOURCE_EXHAUSTED and streams wait. Default 16 MiB (flag --queue-bytes-max). */
  readonly queueBytesMax: number;
  /** Records whose event_id is remembered to answer retries exactly once. Default 100,000 (flag --dedup-window). */
  readonly dedupWindowRecords: number;
  /** Time a shutdown may take before open calls are cancelled, in ms. Default 10,000 (flag --shutdown-timeout-ms). */
  readonly shutdownTimeoutMs: number;
  /** Server log level: fatal, error, warn, info, debug, trace or silent. Default info (flag --log-level, env PULSE_LEARNING_LOG_LEVEL). */
  readonly logLevel: string;
  /** Chain every record to the previous one by a SHA-256 hash (tamper evidence). Default true (flag --hash-chain on|off). */
  readonly hashChain: boolean;
  /** Size at which the active log file becomes a closed segment, in bytes. Default 256 MiB (flag --segment-bytes-max). */
  readonly segmentBytesMax: number;
  /** Closed segments are deleted, oldest first, while the log exceeds this many bytes. Default: keep all (flag --retention-bytes-max). */
  readonly retentionBytesMax?: number;
  /** Closed segments older than this are deleted, in ms. Default: keep all (flag --retention-days). */
  readonly retentionAgeMs?: number;
  /** Allow a non-loopback address without TLS and tokens. Default false (flag --insecure). */
  readonly insecure: boolean;
  /** TLS certificate, key and optional client CA (mutual TLS); plaintext when absent (flags --tls-cert, --tls-key, --tls-client-ca). */
  readonly tls?: Readonly<TlsFiles>;
  /** JSON file of bearer tokens with roles; no authentication when absent (flag --tokens-file, env PULSE_LEARNING_LOG_TOKENS_FILE). */
  readonly tokensFile?: string;
  /** host:port of the Prometheus /metrics HTTP endpoint; off when absent. Loopback only unless --insecure (flag --metrics-addr). */
  readonly metricsAddress?: string;
  /** PII guard: mode (default redact; flag --pii-mode, env PULSE_LEARNING_LOG_PII_MODE) and sensitive keys (flag --pii-keys, comma-separated, replaces the default list). */
  readonly pii: Readonly<PiiOptions>;
  /** File holding the token the NATS servers require (flag --nats-token-file). */
  readonly natsTokenFile?: string;
  /** CA to reach the NATS servers over TLS (flag --nats-ca). */
  readonly natsCaFile?: string;
  /** The log store: the JSONL file (default) or a JetStream stream (flags --store, --nats-stream, --nats-subject, --nats-replicas; env PULSE_LEARNING_LOG_STORE). */
  readonly store: StoreChoice;
}

/** Thrown for a bad flag or setting; main prints it and exits 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Usage text for --help. */
export const usage = `Usage: npm start -- [options]

Serves the Pulse learning log over gRPC.

Options (flags win over the environment):
  --addr HOST:PORT           listen address        [env PULSE_LEARNING_LOG_ADDR, default 127.0.0.1:50051]
  --log-path FILE            JSONL log file        [env PULSE_LEARNING_LOG_PATH, default logs/pulse_learning_log.jsonl]
  --trust-dir DIR            folder for trust files [default: trust/ beside the log]
  --trust-tracker HOST:PORT  use a remote trust tracker instead of the in-process one
  --trust-tracker-ca FILE    reach it over TLS, trusting this CA
  --trust-tracker-token-file FILE  bearer token for it (needs --trust-tracker-ca)
  --trust-state-dir DIR      tracker snapshot folder [default: <log name>.trust-state/ beside the log]
  --trust-snapshot-changes N trust changes between snapshots [default 1000]
  --trust-snapshot-interval-ms N  most time between snapshots [default 60000]
  --log-level LEVEL          server log level      [env PULSE_LEARNING_LOG_LEVEL, default info]
  --message-bytes-max N      largest gRPC message  [default 4194304]
  --record-bytes-max N       largest record        [default 1048576]
  --event-type-chars-max N   longest event_type    [default 128]
  --nesting-depth-max N      deepest data nesting  [default 32]
  --batch-events-max N       most events per batch [default 10000]
  --queue-bytes-max N        write queue bound     [default 16777216]
  --dedup-window N           event_ids remembered for exactly-once retries [default 100000]
  --shutdown-timeout-ms N    drain deadline on SIGTERM/SIGINT [default 10000]
  --pii-mode MODE            off | redact | reject personal data [env PULSE_LEARNING_LOG_PII_MODE, default redact]
  --pii-keys K1,K2,...       sensitive key names (replaces the default list: password, secret, token, api_key, email, phone, ssn, ...)
  --metrics-addr HOST:PORT   serve Prometheus metrics at http://HOST:PORT/metrics [default: off]
  --hash-chain on|off        SHA-256 chain over the records [default on]
  --segment-bytes-max N      close the active file into a segment at this size [default 268435456]
  --retention-bytes-max N    delete the oldest segments beyond this total size [default: keep all]
  --retention-days N         delete segments older than this [default: keep all]
  --tls-cert FILE            server certificate chain (PEM); with --tls-key enables TLS
  --tls-key FILE             server private key (PEM)
  --tls-client-ca FILE       CA for client certificates: mutual TLS
  --tokens-file FILE         bearer tokens with roles (writer, reader, admin) [env PULSE_LEARNING_LOG_TOKENS_FILE]
  --insecure                 allow a non-loopback address without TLS and tokens
  --store file|nats://HOST:PORT[,HOST:PORT...]  log store: the JSONL file, or a NATS JetStream stream
                             [env PULSE_LEARNING_LOG_STORE, default file]
  --nats-stream NAME         JetStream stream name [default PULSE_LEARNING_LOG]
  --nats-subject SUBJECT     subject the records are published on [default pulse.learninglog.events]
  --nats-replicas N          copies JetStream keeps of each record (a stream made by this server) [default 1]
  --nats-token-file FILE     token the NATS servers require (file holding it)
  --nats-ca FILE             reach the NATS servers over TLS, trusting this CA
  -h, --help                 show this text
`;

const LOOPBACK = /^(127(\.\d{1,3}){3}|localhost|\[::1\]|::1)$/;

/** Splits host:port (IPv6 in brackets); throws ConfigError when malformed. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`address "${address}" is not HOST:PORT`);
  return { host: m[1], port };
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`--${name} must be a positive integer, got "${text}"`);
  return n;
}

/**
 * The one place that reads flags and environment: turns them into a frozen
 * config with every default filled, or throws ConfigError.
 */
export function resolveConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServerConfig & { help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        addr: { type: "string" },
        "log-path": { type: "string" },
        "trust-dir": { type: "string" },
        "trust-tracker": { type: "string" },
        "trust-tracker-ca": { type: "string" },
        "trust-tracker-token-file": { type: "string" },
        "trust-state-dir": { type: "string" },
        "trust-snapshot-changes": { type: "string" },
        "trust-snapshot-interval-ms": { type: "string" },
        "log-level": { type: "string" },
        "message-bytes-max": { type: "string" },
        "record-bytes-max": { type: "string" },
        "event-type-chars-max": { type: "string" },
        "nesting-depth-max": { type: "string" },
        "batch-events-max": { type: "string" },
        "queue-bytes-max": { type: "string" },
        "dedup-window": { type: "string" },
        "shutdown-timeout-ms": { type: "string" },
        "pii-mode": { type: "string" },
        "pii-keys": { type: "string" },
        "metrics-addr": { type: "string" },
        "hash-chain": { type: "string" },
        "segment-bytes-max": { type: "string" },
        "retention-bytes-max": { type: "string" },
        "retention-days": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "tls-client-ca": { type: "string" },
        "tokens-file": { type: "string" },
        insecure: { type: "boolean" },
        store: { type: "string" },
        "nats-stream": { type: "string" },
        "nats-subject": { type: "string" },
        "nats-replicas": { type: "string" },
        "nats-token-file": { type: "string" },
        "nats-ca": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const v = parsed.values;
  const address = v.addr ?? env.PULSE_LEARNING_LOG_ADDR ?? "127.0.0.1:50051";
  const { host } = parseAddress(address);
  const insecure = v.insecure ?? false;
  if ((v["tls-cert"] === undefined) !== (v["tls-key"] === undefined)) throw new ConfigError("--tls-cert and --tls-key go together");
  if (v["tls-client-ca"] !== undefined && v["tls-cert"] === undefined) throw new ConfigError("--tls-client-ca needs --tls-cert and --tls-key");
  const tls: TlsFiles | undefined = v["tls-cert"] === undefined ? undefined : Object.freeze({ certPath: v["tls-cert"], keyPath: v["tls-key"]!, clientCaPath: v["tls-client-ca"] });
  const hashChainFlag = v["hash-chain"] ?? "on";
  if (hashChainFlag !== "on" && hashChainFlag !== "off") throw new ConfigError(`--hash-chain must be on or off; got "${hashChainFlag}"`);
  const hashChain = hashChainFlag === "on";
  const tokensFile = v["tokens-file"] ?? env.PULSE_LEARNING_LOG_TOKENS_FILE;
  if (!isLoopback(host) && !insecure && (tls === undefined || tokensFile === undefined)) {
    throw new ConfigError(`refusing to listen on ${address} without TLS and tokens (--tls-cert, --tls-key, --tokens-file); use a loopback address or pass --insecure`);
  }
  const logPath = v["log-path"] ?? env.PULSE_LEARNING_LOG_PATH ?? join("logs", "pulse_learning_log.jsonl");
  const logLevel = v["log-level"] ?? env.PULSE_LEARNING_LOG_LEVEL ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  }
  if (v["trust-tracker"] !== undefined) parseAddress(v["trust-tracker"]);
  if (v["trust-tracker-token-file"] !== undefined && v["trust-tracker-ca"] === undefined) {
    throw new ConfigError("--trust-tracker-token-file needs --trust-tracker-ca: tokens only travel over TLS");
  }
  const metricsAddress = v["metrics-addr"];
  if (metricsAddress !== undefined && !isLoopback(parseAddress(metricsAddress).host) && !insecure) {
    throw new ConfigError(`refusing to serve metrics on ${metricsAddress}, which is not loopback; pass --insecure to allow it`);
  }
  const trustDir = v["trust-dir"] ?? join(dirname(logPath), "trust");
  const trustStateDir = v["trust-state-dir"] ?? join(dirname(logPath), `${basename(logPath, extname(logPath))}.trust-state`);
  // Clients name files inside the trust folder: it must not hold the log or the tracker's own state.
  for (const [what, path] of [["the log", logPath], ["the trust state folder", trustStateDir]] as const) {
    const rel = relative(resolve(trustDir), resolve(path));
    if (rel === "" || (!rel.startsWith("..") && !isAbsolute(rel))) throw new ConfigError(`--trust-dir ${trustDir} must not contain ${what} (${path})`);
  }
  const piiMode = v["pii-mode"] ?? env.PULSE_LEARNING_LOG_PII_MODE ?? "redact";
  if (piiMode !== "off" && piiMode !== "redact" && piiMode !== "reject") {
    throw new ConfigError(`--pii-mode must be off, redact or reject; got "${piiMode}"`);
  }
  if ((v["nats-token-file"] !== undefined || v["nats-ca"] !== undefined) && !(v.store ?? env.PULSE_LEARNING_LOG_STORE ?? "file").startsWith("nats://")) {
    throw new ConfigError("--nats-token-file and --nats-ca need --store nats://HOST:PORT");
  }
  const store = parseStoreChoice(v.store ?? env.PULSE_LEARNING_LOG_STORE ?? "file", {
    stream: v["nats-stream"],
    subject: v["nats-subject"],
    replicas: v["nats-replicas"] === undefined ? undefined : positiveInt("nats-replicas", v["nats-replicas"], 1),
  });
  if ("problem" in store) throw new ConfigError(store.problem);
  const piiKeys = v["pii-keys"] === undefined ? defaultSensitiveKeys : v["pii-keys"].split(",").map((k) => k.trim()).filter((k) => k !== "");
  const limits: EventLimits = Object.freeze({
    eventTypeCharsMax: positiveInt("event-type-chars-max", v["event-type-chars-max"], defaultEventLimits.eventTypeCharsMax),
    recordBytesMax: positiveInt("record-bytes-max", v["record-bytes-max"], defaultEventLimits.recordBytesMax),
    nestingDepthMax: positiveInt("nesting-depth-max", v["nesting-depth-max"], defaultEventLimits.nestingDepthMax),
    batchEventsMax: positiveInt("batch-events-max", v["batch-events-max"], defaultEventLimits.batchEventsMax),
  });
  return Object.freeze({
    address,
    logPath,
    trustDir,
    trustStateDir,
    trustSnapshotChanges: positiveInt("trust-snapshot-changes", v["trust-snapshot-changes"], 1000),
    trustSnapshotIntervalMs: positiveInt("trust-snapshot-interval-ms", v["trust-snapshot-interval-ms"], 60_000),
    trustTracker: v["trust-tracker"],
    trustTrackerCa: v["trust-tracker-ca"],
    trustTrackerTokenFile: v["trust-tracker-token-file"],
    limits,
    messageBytesMax: positiveInt("message-bytes-max", v["message-bytes-max"], 4 * 1024 * 1024),
    queueBytesMax: positiveInt("queue-bytes-max", v["queue-bytes-max"], 16 * 1024 * 1024),
    dedupWindowRecords: positiveInt("dedup-window", v["dedup-window"], 100_000),
    shutdownTimeoutMs: positiveInt("shutdown-timeout-ms", v["shutdown-timeout-ms"], 10_000),
    logLevel,
    insecure,
    tls,
    tokensFile,
    hashChain,
    segmentBytesMax: positiveInt("segment-bytes-max", v["segment-bytes-max"], 256 * 1024 * 1024),
    retentionBytesMax: v["retention-bytes-max"] === undefined ? undefined : positiveInt("retention-bytes-max", v["retention-bytes-max"], 0),
    retentionAgeMs: v["retention-days"] === undefined ? undefined : positiveInt("retention-days", v["retention-days"], 0) * 86_400_000,
    metricsAddress,
    pii: Object.freeze({ mode: piiMode, sensitiveKeys: Object.freeze([...piiKeys]) }),
    store,
    natsTokenFile: v["nats-token-file"],
    natsCaFile: v["nats-ca"],
    help: v.help ?? false,
  });
}
