import type { LogRecordView, ReadQuery } from "./reader.js";

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
  /** JSON members between timestamp and seq: `"event_type":..,"data":..` and `,"context":..` when non-empty. */
  readonly body: string;
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
 * The log store: append a batch, get a durable ack. The JSONL appender is
 * the embedded implementation; a replicated log can stand in for it.
 */
export interface LogStore {
  /** Appends entries; resolves once they are durable, in order. */
  append(entries: readonly AppendEntry[], options?: { wait?: boolean }): Promise<AppendResult[]>;
  /** The highest seq written so far. */
  readonly lastSeq: number;
  /** Drains what was accepted, then releases the store. */
  close(): Promise<void>;
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
  open(query?: ReadQuery): Promise<RecordCursor>;
}
