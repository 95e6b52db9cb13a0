import { LogCursor } from "./log-cursor.js";
import type { LogRecordView, ReadQuery, RecordSource } from "../store.js";

/** Options of a {@link LogReader}. */
export interface ReaderOptions {
  /** Bytes read from the file at a time: the reader's memory bound (a longer line grows one read to fit it). Default 1 MiB. */
  chunkBytes?: number;
}

/**
 * The file store's records: reads the log in order, across its segment
 * files, in bounded memory. Its cursors ({@link LogCursor}) read a chunk at
 * a time and return only complete lines (a line still being written is left
 * for the next call); where a read starts is found by binary search
 * (log-search.ts), which records it returns is the query's filter
 * (read-filter.ts), and what a line is read as is record-view.ts.
 */
export class LogReader implements RecordSource {
  private readonly chunkBytes: number;

  constructor(
    /** The log path (the active file); closed segments are found beside it. */
    readonly logPath: string,
    options: ReaderOptions = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? 1024 * 1024;
  }

  /**
   * Opens a cursor at the first record matching the query's fromSeq and
   * since, found by binary search (over segments, then over byte offsets).
   */
  open(query: ReadQuery = {}): Promise<LogCursor> {
    return LogCursor.open(this.logPath, query, this.chunkBytes);
  }

  /** Convenience: every matching record, in batches (one per chunk read), up to the current end of the log. */
  async *batches(query: ReadQuery = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<LogRecordView[]> {
    const cursor = await this.open(query);
    try {
      yield* cursor.batches(undefined, options.signal);
    } finally {
      await cursor.close();
    }
  }
}
