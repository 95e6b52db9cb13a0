import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { defaultEventLimits, type EventLimits } from "./guard/limits.js";

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
  /** Limits on one event. */
  readonly limits: Readonly<EventLimits>;
  /** Largest gRPC message accepted, in bytes. Default 4 MiB (flag --message-bytes-max). */
  readonly messageBytesMax: number;
  /** Bytes waiting for a write before unary calls get RESOURCE_EXHAUSTED and streams wait. Default 64 MiB (flag --queue-bytes-max). */
  readonly queueBytesMax: number;
  /** Records whose event_id is remembered to answer retries exactly once. Default 100,000 (flag --dedup-window). */
  readonly dedupWindowRecords: number;
  /** Time a shutdown may take before open calls are cancelled, in ms. Default 10,000 (flag --shutdown-timeout-ms). */
  readonly shutdownTimeoutMs: number;
  /** Server log level: fatal, error, warn, info, debug, trace or silent. Default info (flag --log-level, env PULSE_LEARNING_LOG_LEVEL). */
  readonly logLevel: string;
  /** Allow a non-loopback address without TLS and tokens. Default false (flag --insecure). */
  readonly insecure: boolean;
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
  --log-level LEVEL          server log level      [env PULSE_LEARNING_LOG_LEVEL, default info]
  --message-bytes-max N      largest gRPC message  [default 4194304]
  --record-bytes-max N       largest record        [default 1048576]
  --event-type-chars-max N   longest event_type    [default 128]
  --nesting-depth-max N      deepest data nesting  [default 32]
  --batch-events-max N       most events per batch [default 10000]
  --queue-bytes-max N        write queue bound     [default 67108864]
  --dedup-window N           event_ids remembered for exactly-once retries [default 100000]
  --shutdown-timeout-ms N    drain deadline on SIGTERM/SIGINT [default 10000]
  --insecure                 allow a non-loopback address without TLS and tokens
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
        "log-level": { type: "string" },
        "message-bytes-max": { type: "string" },
        "record-bytes-max": { type: "string" },
        "event-type-chars-max": { type: "string" },
        "nesting-depth-max": { type: "string" },
        "batch-events-max": { type: "string" },
        "queue-bytes-max": { type: "string" },
        "dedup-window": { type: "string" },
        "shutdown-timeout-ms": { type: "string" },
        insecure: { type: "boolean" },
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
  if (!isLoopback(host) && !insecure) {
    throw new ConfigError(`refusing to listen on ${address} without TLS and tokens; use a loopback address or pass --insecure`);
  }
  const logPath = v["log-path"] ?? env.PULSE_LEARNING_LOG_PATH ?? join("logs", "pulse_learning_log.jsonl");
  const logLevel = v["log-level"] ?? env.PULSE_LEARNING_LOG_LEVEL ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  }
  if (v["trust-tracker"] !== undefined) parseAddress(v["trust-tracker"]);
  const limits: EventLimits = Object.freeze({
    eventTypeCharsMax: positiveInt("event-type-chars-max", v["event-type-chars-max"], defaultEventLimits.eventTypeCharsMax),
    recordBytesMax: positiveInt("record-bytes-max", v["record-bytes-max"], defaultEventLimits.recordBytesMax),
    nestingDepthMax: positiveInt("nesting-depth-max", v["nesting-depth-max"], defaultEventLimits.nestingDepthMax),
    batchEventsMax: positiveInt("batch-events-max", v["batch-events-max"], defaultEventLimits.batchEventsMax),
  });
  return Object.freeze({
    address,
    logPath,
    trustDir: v["trust-dir"] ?? join(dirname(logPath), "trust"),
    trustTracker: v["trust-tracker"],
    limits,
    messageBytesMax: positiveInt("message-bytes-max", v["message-bytes-max"], 4 * 1024 * 1024),
    queueBytesMax: positiveInt("queue-bytes-max", v["queue-bytes-max"], 64 * 1024 * 1024),
    dedupWindowRecords: positiveInt("dedup-window", v["dedup-window"], 100_000),
    shutdownTimeoutMs: positiveInt("shutdown-timeout-ms", v["shutdown-timeout-ms"], 10_000),
    logLevel,
    insecure,
    help: v.help ?? false,
  });
}
