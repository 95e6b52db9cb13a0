import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { parseTimestamp } from "../../clock.js";
import type { LogRecordView, ReadQuery } from "../reader.js";
import type { RecordCursor, RecordSource } from "../store.js";
import { StoredRecord } from "./stored-record.js";

/** Options of a {@link JetStreamRecordSource}. */
export interface JetStreamReaderOptions {
  /** Most records in one batch handed to the caller. Default 1,000. */
  batchRecordsMax?: number;
  /**
   * How far record timestamps may run out of seq order, in ms. Each front end
   * stamps its records before publishing, so with several front ends (or
   * clock skew between their machines) a later seq can carry a slightly
   * earlier time. A since search starts this much earlier, and an until read
   * stops only at a record this much past until (both still filter exactly).
   * Default 2,000.
   */
  timeSkewMs?: number;
  /** Told the stream's last seq each time a cursor opens (the store keeps its lastSeq fresh with it). */
  onLastSeq?: (seq: number) => void;
}

/**
 * Reads records from a JetStream stream for ReadEvents: each cursor finds
 * its first seq (by sequence, or by a binary search over record timestamps
 * with direct gets), then reads forward with an ordered consumer, which
 * JetStream re-creates by itself after a gap or a server loss.
 */
export class JetStreamRecordSource implements RecordSource {
  private readonly batchRecordsMax: number;
  private readonly timeSkewMicros: number;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly options: JetStreamReaderOptions = {},
  ) {
    this.batchRecordsMax = options.batchRecordsMax ?? 1000;
    this.timeSkewMicros = (options.timeSkewMs ?? 2000) * 1000;
  }

  async open(query: ReadQuery = {}): Promise<RecordCursor> {
    const { state } = await retrying(() => this.jsm.streams.info(this.stream));
    this.options.onLastSeq?.(state.last_seq);
    const first = Math.max(1, state.first_seq);
    let start = Math.max(query.fromSeq ?? 1, first);
    if (query.sinceMicros !== undefined && start <= state.last_seq) {
      start = Math.max(start, await this.firstSeqAtOrAfter(query.sinceMicros - this.timeSkewMicros, start, state.last_seq));
    }
    return new JetStreamCursor(this.js, this.stream, query, start, state.last_seq, this.batchRecordsMax, this.timeSkewMicros);
  }

  /** Binary search over [lo, hi] for the first record whose timestamp is >= micros (hi + 1 when none is). */
  private async firstSeqAtOrAfter(micros: number, lo: number, hi: number): Promise<number> {
    let end = hi + 1;
    while (lo < end) {
      const mid = lo + Math.floor((end - lo) / 2);
      const t = await this.timestampAt(mid);
      // A missing or foreign message cannot tell: search to its left, the read filters exactly anyway.
      if (t !== undefined && t < micros) lo = mid + 1;
      else end = mid;
    }
    return lo;
  }

  private async timestampAt(seq: number): Promise<number | undefined> {
    const m = await this.jsm.streams.getMessage(this.stream, { seq }).catch(() => null);
    const record = m === null ? undefined : StoredRecord.of(seq, m.data);
    const t = record === undefined ? Number.NaN : parseTimestamp(record.timestamp);
    return Number.isNaN(t) ? undefined : t;
  }
}

/** Consumers a cursor re-creates in a row (none delivering anything) before it gives up. */
const RESTARTS_MAX = 10;

/** Calls `fn` again while it fails, for up to `ms` (a stream leader election takes a few seconds). */
async function retrying<T>(fn: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 1000)));
    }
  }
}

/**
 * A forward read of the stream from one seq. Reads only messages that are
 * known to exist (up to the stream's last seq when it opened, or the
 * durable seq the caller passes), so it never waits on the network for a
 * message that may not come; a follower calls `batches` again after the
 * next commit and goes on with the same consumer.
 */
class JetStreamCursor implements RecordCursor {
  private messages: ConsumerMessages | undefined;
  private iterator: AsyncIterator<JsMsg> | undefined;
  private finished = false;
  private returned = 0;
  private restarts = 0;
  /** Why the last consumer failed, when it failed rather than ended. */
  private lastStopError: unknown;
  private readonly limit: number;
  private readonly types?: ReadonlySet<string>;
  /** Messages of the stream that were not records (skipped). */
  skippedMessages = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly query: ReadQuery,
    /** The seq after the last message read: where reading goes on. */
    public nextSeq: number,
    /** The stream's last seq when the cursor opened: a replay reads at least this far. */
    private readonly horizon: number,
    private readonly batchRecordsMax: number,
    private readonly timeSkewMicros: number,
  ) {
    this.limit = query.limit ?? 0;
    if (query.eventTypes !== undefined && query.eventTypes.size > 0) this.types = query.eventTypes;
  }

  get done(): boolean {
    return this.finished;
  }

  async *batches(maxSeq?: number, signal?: AbortSignal): AsyncGenerator<LogRecordView[]> {
    // Everything JetStream stored is durable: read to the later of the caller's bound and the stream end seen at open.
    const bound = Math.max(maxSeq ?? 0, this.horizon);
    while (!this.finished && !signal?.aborted && this.nextSeq <= bound) {
      const iterator = await this.consumer();
      const records: LogRecordView[] = [];
      while (this.nextSeq <= bound && records.length < this.batchRecordsMax && !this.finished) {
        let next: IteratorResult<JsMsg>;
        try {
          next = await iterator.next();
        } catch (err) {
          // A consumer can also fail outright while its stream's leader moves: treated as stopped.
          next = { done: true, value: undefined };
          this.lastStopError = err;
        }
        if (next.done) {
          // The consumer stopped (its server was lost, heartbeats missed): a new one goes on from nextSeq.
          if (++this.restarts > RESTARTS_MAX) {
            const why = this.lastStopError instanceof Error ? `; last error: ${this.lastStopError.message}` : "";
            throw new Error(`JetStream consumer on stream ${this.stream} stopped before seq ${this.nextSeq}, ${RESTARTS_MAX} times in a row${why}`);
          }
          this.iterator = undefined;
          this.messages?.stop();
          this.messages = undefined;
          break;
        }
        this.restarts = 0; // progress: only consumers that fail in a row count
        const view = this.accept(next.value);
        if (view !== undefined) records.push(view);
      }
      if (records.length > 0) yield records;
    }
  }

  async close(): Promise<void> {
    this.finished = true;
    const { messages, iterator } = this;
    this.messages = undefined;
    this.iterator = undefined;
    // stop() ends the pull subscription; close() would wait for our iterator to be read to its end, so it is finished here instead.
    messages?.stop();
    await iterator?.return?.();
  }

  /** Applies the query to one message; returns the record to hand out, if it matches. */
  private accept(m: JsMsg): LogRecordView | undefined {
    const seq = m.seq;
    if (seq < this.nextSeq) return undefined; // a redelivery after the consumer was re-created
    this.nextSeq = seq + 1;
    const view = StoredRecord.of(seq, m.data);
    if (view === undefined) {
      this.skippedMessages++;
      return undefined;
    }
    const { sinceMicros, untilMicros } = this.query;
    if (sinceMicros !== undefined || untilMicros !== undefined) {
      const t = parseTimestamp(view.timestamp);
      if (sinceMicros !== undefined && !(t >= sinceMicros)) return undefined;
      if (untilMicros !== undefined && !(t < untilMicros)) {
        // Later front ends' records may still fall before until: stop only past the skew margin.
        if (t >= untilMicros + this.timeSkewMicros) this.finished = true;
        return undefined;
      }
    }
    if (this.types !== undefined && !this.types.has(view.eventType)) return undefined;
    if (this.limit > 0 && ++this.returned >= this.limit) this.finished = true;
    return view;
  }

  /** The ordered consumer, made on first need (a follower at the end makes none until something comes). */
  private async consumer(): Promise<AsyncIterator<JsMsg>> {
    if (this.iterator !== undefined) return this.iterator;
    const consumer = await retrying(() => this.js.consumers.get(this.stream, { deliver_policy: "by_start_sequence", opt_start_seq: this.nextSeq }));
    this.messages = await retrying(() => consumer.consume({ max_messages: this.batchRecordsMax }));
    this.iterator = this.messages[Symbol.asyncIterator]();
    return this.iterator;
  }
}
