import { basename, dirname, extname, isAbsolute, join, relative, resolve } from "node:path";
import type { TlsFiles } from "./auth/tls.js";
import type { EventLimits } from "./guard/limits.js";
import { defaultSensitiveKeys, type PiiOptions } from "./guard/pii.js";
import { helpLines, OptionError, parseOptions } from "./options/option-table.js";
import { splitHostPort } from "./options/parsers.js";
import { serverOptions } from "./options/server-options.js";
import { parseStoreChoice, type StoreChoice } from "./store/stores.js";

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
  /** Worker threads that decode, check, guard and encode batch requests; 0: all on the main thread. Default 0 (flag --ingest-workers, env PULSE_LEARNING_LOG_INGEST_WORKERS). */
  readonly ingestWorkers: number;
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
  /** The run index's checkpoint file. Default <log name>.run-index.json beside the log (flag --run-index). */
  readonly runIndexPath: string;
  /** A run with no finish record and no holder still counts as logging this long after its last record, in ms. Default 900 s (flag --run-idle-seconds). */
  readonly runIdleMs: number;
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
  /** The log store: the JSONL file (default) or a JetStream stream (flag --store, env PULSE_LEARNING_LOG_STORE, and the store's own options: src/store/stores.ts). */
  readonly store: StoreChoice;
}

/** Thrown for a bad flag or setting; main prints it and exits 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Usage text for --help, made from the option table. */
export const usage = `Usage: npm start -- [options]

Serves the Pulse learning log over gRPC.

Options (flags win over the environment):
${helpLines(serverOptions)}
`;

/** Splits host:port (IPv6 in brackets); throws ConfigError when malformed. */
export function parseAddress(address: string): { host: string; port: number } {
  const split = splitHostPort(address);
  if (split === undefined) throw new ConfigError(`address "${address}" is not HOST:PORT`);
  return split;
}

const LOOPBACK = /^(127(\.\d{1,3}){3}|localhost|\[::1\]|::1)$/;

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/**
 * The one place that reads flags and environment: parses them with the
 * option table (src/options/server-options.ts), checks how they go together,
 * and returns a frozen config with every default filled, or throws ConfigError.
 */
export function resolveConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServerConfig & { help: boolean; version: boolean } {
  let v, sources;
  try {
    ({ values: v, sources } = parseOptions(serverOptions, argv, env));
  } catch (err) {
    if (err instanceof OptionError) throw new ConfigError(err.message);
    throw err;
  }
  const { host } = parseAddress(v.address);
  if ((v.tlsCert === undefined) !== (v.tlsKey === undefined)) throw new ConfigError("--tls-cert and --tls-key go together");
  if (v.tlsClientCa !== undefined && v.tlsCert === undefined) throw new ConfigError("--tls-client-ca needs --tls-cert and --tls-key");
  const tls: TlsFiles | undefined = v.tlsCert === undefined ? undefined : Object.freeze({ certPath: v.tlsCert, keyPath: v.tlsKey!, clientCaPath: v.tlsClientCa });
  if (!isLoopback(host) && !v.insecure && (tls === undefined || v.tokensFile === undefined)) {
    throw new ConfigError(`refusing to listen on ${v.address} without TLS and tokens (--tls-cert, --tls-key, --tokens-file); use a loopback address or pass --insecure`);
  }
  if (v.trustTrackerTokenFile !== undefined && v.trustTrackerCa === undefined) {
    throw new ConfigError("--trust-tracker-token-file needs --trust-tracker-ca: tokens only travel over TLS");
  }
  if (v.metricsAddress !== undefined && !isLoopback(parseAddress(v.metricsAddress).host) && !v.insecure) {
    throw new ConfigError(`refusing to serve metrics on ${v.metricsAddress}, which is not loopback; pass --insecure to allow it`);
  }
  const logPath = v.logPath;
  const trustDir = v.trustDir ?? join(dirname(logPath), "trust");
  const trustStateDir = v.trustStateDir ?? join(dirname(logPath), `${basename(logPath, extname(logPath))}.trust-state`);
  // Clients name files inside the trust folder: it must not hold the log or the tracker's own state.
  for (const [what, path] of [["the log", logPath], ["the trust state folder", trustStateDir]] as const) {
    const rel = relative(resolve(trustDir), resolve(path));
    if (rel === "" || (!rel.startsWith("..") && !isAbsolute(rel))) throw new ConfigError(`--trust-dir ${trustDir} must not contain ${what} (${path})`);
  }
  const store = parseStoreChoice(v.store, v, sources);
  if ("problem" in store) throw new ConfigError(store.problem);
  const limits: EventLimits = Object.freeze({
    eventTypeCharsMax: v.eventTypeCharsMax,
    recordBytesMax: v.recordBytesMax,
    nestingDepthMax: v.nestingDepthMax,
    batchEventsMax: v.batchEventsMax,
  });
  return Object.freeze({
    address: v.address,
    logPath,
    trustDir,
    trustStateDir,
    runIndexPath: v.runIndexPath ?? join(dirname(logPath), `${basename(logPath, extname(logPath))}.run-index.json`),
    runIdleMs: v.runIdleSeconds * 1000,
    trustSnapshotChanges: v.trustSnapshotChanges,
    trustSnapshotIntervalMs: v.trustSnapshotIntervalMs,
    trustTracker: v.trustTracker,
    trustTrackerCa: v.trustTrackerCa,
    trustTrackerTokenFile: v.trustTrackerTokenFile,
    ingestWorkers: v.ingestWorkers,
    limits,
    messageBytesMax: v.messageBytesMax,
    queueBytesMax: v.queueBytesMax,
    dedupWindowRecords: v.dedupWindowRecords,
    shutdownTimeoutMs: v.shutdownTimeoutMs,
    logLevel: v.logLevel,
    insecure: v.insecure,
    tls,
    tokensFile: v.tokensFile,
    hashChain: v.hashChain,
    segmentBytesMax: v.segmentBytesMax,
    retentionBytesMax: v.retentionBytesMax,
    retentionAgeMs: v.retentionDays === undefined ? undefined : v.retentionDays * 86_400_000,
    metricsAddress: v.metricsAddress,
    pii: Object.freeze({ mode: v.piiMode, sensitiveKeys: Object.freeze([...(v.piiKeys ?? defaultSensitiveKeys)]) }),
    store,
    natsTokenFile: v.natsTokenFile,
    natsCaFile: v.natsCaFile,
    help: v.help,
    version: v.version,
  });
}
