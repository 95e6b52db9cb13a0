import type { Logger } from "pino";
import type { Clock } from "../clock.js";

/**
 * One record to append. The store adds `event_id`, `timestamp` and `seq`
 * around the body, so a line reads, in the record contract's key order:
 * {"event_id":..,"timestamp":..,<body>,"seq":..}
 */
export interface AppendEntry {
  /** The record's event_id: a UUID, checked before it gets here. */
  readonly eventId: string;
  /**
   * True when the client chose the event_id (it may be a retry): only such
   * ids are checked against, and remembered in, the dedup window. Default false.
   */
  readonly clientChosenId?: boolean;
  /** JSON members between timestamp and seq: `"event_type":..,"data":..`, `,"context":..` when non-empty, and `,"run":..` when the event belongs to a run. */
  readonly body: string;
  /**
   * The body's UTF-8 bytes, at [bodyStart, bodyEnd) of `bodyUtf8`, when the
   * writer has them (the ingest workers encode bodies as bytes): a store may
   * copy these instead of encoding `body`, which is then only made if asked for.
   */
  readonly bodyUtf8?: Uint8Array;
  readonly bodyStart?: number;
  readonly bodyEnd?: number;
  /** The run the body names, if any: not written by the store (the body holds it), read by what follows commits (the run index). */
  readonly run?: string;
  /** The body's event type, when the writer has it at hand (the run index reads it instead of the body). */
  readonly eventType?: string;
}

/** Where one appended entry landed. */
export interface AppendResult {
  /** The record's seq. */
  readonly seq: number;
  /** The record's timestamp as written. */
  readonly timestamp: string;
  /** True when the event_id was already in the log: nothing new was written. */
  readonly duplicate: boolean;
}

/**
 * What a store's records carry that lets a reader check them afterwards:
 * "hash-chain" when each record holds a SHA-256 chained to the one before
 * (`pulse-log verify` proves nothing was changed, dropped or reordered),
 * "none" when only the records' seq order and JSON can be checked.
 */
export type StoreIntegrity = "hash-chain" | "none";

/**
 * The log store: the one contract the service above it knows. The embedded
 * JSONL file (`Appender`) and the JetStream stream (`JetStreamStore`)
 * implement all of it; the server opens one by its URL (stores.ts) and never
 * asks which it has. A store is opened ready: torn tails repaired, the last
 * seq known and the dedup window rebuilt, so a retry of an event it already
 * holds is answered with the original record from the first append on.
 */
export interface LogStore {
  /**
   * Appends entries; resolves once they are durable, in order. A
   * client-chosen event_id the store already holds is answered with its
   * original record (`duplicate: true`) and not written again; so is one
   * still being written (by this call: the same id twice in one call is
   * written once, the second answered as a duplicate of the first; or by
   * another call in flight). Both stores follow this rule through one
   * lookup (known-ids.ts); the contract suite checks both cases. When the
   * store's queue is full, rejects with RESOURCE_EXHAUSTED, or waits for
   * room when `wait` is set (streams push back on their clients this way).
   * After close: UNAVAILABLE.
   */
  append(entries: readonly AppendEntry[], options?: { wait?: boolean }): Promise<AppendResult[]>;
  /** The highest durable seq (0 for an empty log). Readers never show records past it. */
  readonly lastSeq: number;
  /** Calls `listener(lastSeq)` after the log grows (followers wait on this, no polling). Returns the unsubscribe function. */
  onCommit(listener: (lastSeq: number) => void): () => void;
  /** Where the log's records are read from: replay, follow, trust restore. */
  readonly records: RecordSource;
  /** What the records carry to be verified afterwards. */
  readonly integrity: StoreIntegrity;
  /** Drains what was accepted (still acked), then releases the store. */
  close(): Promise<void>;
}

/** A storage failure of a store: what failed, and what it cost the callers. */
export interface StorageFailure {
  /** "commit": a group commit's write failed, and with it every append not yet durable; "rotation": closing the active file into a segment (or retention after it) failed, nothing was lost and the next commit recovers. */
  stage: "commit" | "rotation";
  /** The error, usually with an errno `code` (EIO, ENOSPC...). */
  err: unknown;
  /** Appends (calls or batches) failed with it, and their records (0 for a rotation). */
  appends: number;
  records: number;
}

/** What a store reports as it works (metrics and the server log). */
export interface StoreObserver {
  commit?(events: number, bytes: number, durableWriteSeconds: number): void;
  failed?(failure: StorageFailure): void;
  /**
   * A replicated store found its copies disagreeing: "write" when the log no
   * longer holds what was acked (the store refuses to write), "read" when a
   * read landed on a copy off the hash chain (`mended`: served from the
   * authoritative copy instead; else the read failed with UNAVAILABLE).
   */
  diverged?(kind: "write" | "read", mended: boolean): void;
}

/** What every store is opened with beside the server's config. */
export interface StoreDeps {
  /** Clock for record timestamps. */
  clock: Clock;
  /** The server log: stores say what opening found and what fails later. */
  logger: Logger;
  /** Told about commits and storage failures (metrics). */
  observer?: StoreObserver;
  /** Told, in words, what a long open is doing ("rebuilding the dedup window of ..."): a starting server says it to the calls it refuses. */
  onOpening?: (doing: string) => void;
}

/**
 * A forward cursor over the log's records (the JSONL {@link LogCursor} and
 * the JetStream cursor are two). `batches(maxSeq)` yields what is there now;
 * called again later it continues where it stopped (followers use this).
 */
export interface RecordCursor {
  /** The seq after the last record read (matching or not): where a follower continues. */
  readonly nextSeq: number;
  /** True once the limit is reached or a record past until was seen: nothing more will come. */
  readonly done: boolean;
  /** Yields the matching records available now, in seq order, in non-empty arrays, reading no further than `maxSeq` of this store's durable records. */
  batches(maxSeq?: number, signal?: AbortSignal): AsyncGenerator<LogRecordView[]>;
  /** Releases what the cursor holds (a file, a consumer). */
  close(): Promise<void>;
}

/** Where ReadEvents reads records from: the JSONL files ({@link LogReader}) or a JetStream stream. */
export interface RecordSource {
  /** Opens a cursor at the first record matching the query's fromSeq and since. */
  open(query?: ReadQuery, options?: OpenOptions): Promise<RecordCursor>;
}

/** How long a read may keep trying (a store that reaches its records over the network). */
export interface OpenOptions {
  /**
   * The caller's deadline (Date.now() ms): a store that retries (JetStream)
   * stops early enough to fail with UNAVAILABLE, naming what did not answer
   * and where to resume, before the caller's own deadline ends the call
   * without saying why. A local file ignores it.
   */
  deadline?: number;
}

/** The byte fields of a record that encoders copy. */
export type RecordField = "eventId" | "timestamp" | "eventType" | "json";

/** One record of the log as the Reader sees it: its identity, and the line as written. */
export interface LogRecordView {
  /** The record's seq (for lines of the original module, which have none: its line number). */
  readonly seq: number;
  readonly eventType: string;
  readonly eventId: string;
  /** The timestamp as written. */
  readonly timestamp: string;
  /** The whole line, without its newline: one JSON object. */
  readonly json: string;
  /** The line's UTF-8 bytes without its newline (a view into the chunk read: copy it to keep it past the next read). */
  readonly bytes: Buffer;
  /** UTF-8 bytes of event_id, timestamp and event_type (views into `bytes` when the line was written by this service). */
  readonly eventIdBytes: Buffer;
  readonly timestampBytes: Buffer;
  readonly eventTypeBytes: Buffer;
  /** Length in bytes of a field's UTF-8 ("json" is the whole line). */
  fieldLength(field: RecordField): number;
  /** Copies a field's UTF-8 bytes into `out` at `pos`; returns the bytes copied. No intermediate buffers on the fast path. */
  copyField(field: RecordField, out: Buffer, pos: number): number;
}

/** Which records to read. Every field is optional; all given conditions must hold. */
export interface ReadQuery {
  /** First seq to return (inclusive). Default: the beginning of the log. */
  fromSeq?: number;
  /** Only records with timestamp >= since, in microseconds since the epoch. */
  sinceMicros?: number;
  /** Only records with timestamp < until, in microseconds since the epoch; reading stops at the first later record. */
  untilMicros?: number;
  /** Only records of these event types; empty or absent means all. */
  eventTypes?: ReadonlySet<string>;
  /** Only records of these runs (their "run" member); empty or absent means all. */
  runs?: ReadonlySet<string>;
  /** Most records to return; 0 or absent means no limit. */
  limit?: number;
}
