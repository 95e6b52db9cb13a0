/** A NATS JetStream stream, possibly replicated across a cluster. */
export interface JetStreamStoreChoice {
  readonly kind: "nats";
  /** NATS servers as host:port; the client connects to any and learns the rest of the cluster. */
  readonly servers: readonly string[];
  /** The stream's name. Default PULSE_LEARNING_LOG. */
  readonly stream: string;
  /** The subject records are published on (the stream's only subject). Default pulse.learninglog.events. */
  readonly subject: string;
  /** Copies of each record JetStream keeps (1, 3 or 5 in practice; at most 5). Default 1. */
  readonly replicas: number;
}

/** Defaults of the JetStream choice's options. */
export const jetStreamDefaults = Object.freeze({ stream: "PULSE_LEARNING_LOG", subject: "pulse.learninglog.events", replicas: 1 });

const HOST_PORT = /^(\[[^\]]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
// JetStream stream names: no whitespace, dots, wildcards or path separators.
const STREAM_NAME = /^[A-Za-z0-9_-]{1,255}$/;
// A literal subject: dot-separated non-empty tokens, no wildcards or whitespace.
const SUBJECT = /^[^\s.*>]+(\.[^\s.*>]+)*$/;

/** The options of a JetStream store given beside its URL (flags --nats-stream, --nats-subject, --nats-replicas). */
export interface JetStreamUrlOptions {
  stream?: string;
  subject?: string;
  replicas?: number;
}

/**
 * Reads a `nats://HOST:PORT[,HOST:PORT...]` store URL and its options.
 * Returns the choice, or a message naming what is wrong (config.ts turns it into a ConfigError).
 */
export function parseJetStreamChoice(text: string, options: JetStreamUrlOptions): JetStreamStoreChoice | { problem: string } {
  const servers = text.slice("nats://".length).split(",").map((s) => s.trim().replace(/^nats:\/\//, ""));
  for (const server of servers) {
    const m = HOST_PORT.exec(server);
    if (!m || Number(m[2]) > 65535 || Number(m[2]) === 0) return { problem: `--store: "${server}" is not HOST:PORT` };
  }
  const stream = options.stream ?? jetStreamDefaults.stream;
  if (!STREAM_NAME.test(stream)) return { problem: `--nats-stream must be letters, digits, _ or - (JetStream stream name); got "${stream}"` };
  const subject = options.subject ?? jetStreamDefaults.subject;
  if (!SUBJECT.test(subject)) return { problem: `--nats-subject must be a literal subject (dot-separated tokens, no wildcards); got "${subject}"` };
  const replicas = options.replicas ?? jetStreamDefaults.replicas;
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > 5) return { problem: `--nats-replicas must be 1 to 5; got "${replicas}"` };
  return Object.freeze({ kind: "nats", servers: Object.freeze(servers), stream, subject, replicas });
}
