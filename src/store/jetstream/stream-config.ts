import { JetStreamApiCodes, JetStreamApiError, StorageType, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { retrying, type RetryOptions } from "./retry.js";

/** What the store needs of its stream. */
export interface StreamRequirements {
  stream: string;
  /** The literal subject records are published on: the stream must capture it. */
  subject: string;
  /** Copies of a stream made here; an existing stream keeps its own (a difference is reported). */
  replicas: number;
  /** The duplicate window of a stream made here, in ms. */
  duplicateWindowMs: number;
  /**
   * How long a front end publishes one message again, with the same message
   * id, before it gives up (its publish retry horizon), in ms: the stream's
   * duplicate window must be at least this long.
   */
  retryHorizonMs: number;
}

/** What opening the stream found. */
export interface StreamFound {
  /** True when the stream was made here. */
  created: boolean;
  /** Its state and config as JetStream reported them. */
  info: StreamInfo;
  /** Copies JetStream keeps of each record (the stream's own setting). */
  replicas: number;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** True when the subject filter (NATS wildcards: `*` one token, `>` the rest) matches the literal subject. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length || (f[i] !== "*" && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

/** True when the stream stores messages published on this literal subject. */
export function captures(info: StreamInfo, subject: string): boolean {
  return (info.config.subjects ?? []).some((filter) => subjectMatches(filter, subject));
}

/**
 * Refuses a stream the store cannot keep its promises on: one that does
 * not capture the subject, one kept in memory (an acknowledged record would
 * not outlive a restart of its servers), and one whose duplicate window is
 * shorter than the retry horizon (a message retried after the window would
 * no longer be answered by its message id). Returns the reason, or undefined.
 */
export function streamProblem(info: StreamInfo, needs: StreamRequirements): string | undefined {
  const { config } = info;
  if (!captures(info, needs.subject)) {
    return `JetStream stream ${needs.stream} exists but does not capture subject ${needs.subject} (its subjects: ${config.subjects?.join(", ") ?? "none"})`;
  }
  if (config.storage === StorageType.Memory) {
    return `JetStream stream ${needs.stream} keeps its messages in memory (storage: memory): an acknowledged record would not survive a restart of its servers; use a stream with file storage`;
  }
  const windowMs = config.duplicate_window / 1_000_000;
  if (windowMs < needs.retryHorizonMs) {
    return `JetStream stream ${needs.stream} has a duplicate window of ${seconds(windowMs)}, shorter than this server's publish retry horizon of ${seconds(needs.retryHorizonMs)}: a message published again after the window would not be recognised by its message id; give the stream a duplicate_window of at least ${seconds(needs.retryHorizonMs)}`;
  }
  return undefined;
}

/**
 * Finds the stream and checks it ({@link streamProblem}), or makes it (file
 * storage, the duplicate window asked for) when it is missing. Two front
 * ends may both find it missing: JetStream accepts the same config twice;
 * on any other clash the stream is read back and checked.
 */
export async function ensureStream(jsm: JetStreamManager, needs: StreamRequirements, retry: RetryOptions): Promise<StreamFound> {
  const checked = (info: StreamInfo, created: boolean): StreamFound => {
    const problem = streamProblem(info, needs);
    if (problem !== undefined) throw new Error(problem);
    return { created, info, replicas: info.config.num_replicas };
  };
  try {
    return checked(await retrying(() => jsm.streams.info(needs.stream), retry), false);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  if (needs.duplicateWindowMs < needs.retryHorizonMs) {
    throw new Error(`a duplicate window of ${seconds(needs.duplicateWindowMs)} is shorter than the publish retry horizon of ${seconds(needs.retryHorizonMs)}`);
  }
  try {
    const info = await retrying(
      () =>
        jsm.streams.add({
          name: needs.stream,
          subjects: [needs.subject],
          num_replicas: needs.replicas,
          storage: StorageType.File,
          duplicate_window: needs.duplicateWindowMs * 1_000_000,
          allow_direct: true,
        }),
      retry,
    );
    return checked(info, true);
  } catch (err) {
    const info = await retrying(() => jsm.streams.info(needs.stream), retry).catch(() => undefined);
    if (info === undefined) throw err;
    return checked(info, false);
  }
}
