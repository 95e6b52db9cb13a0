import { status } from "@grpc/grpc-js";
import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { parseTimestamp } from "../../clock.js";
import { ServiceError } from "../../errors.js";
import type { LogRecordView, ReadQuery } from "../store.js";
import type { RecordCursor, RecordSource } from "../store.js";
import { hedged, isPassing, retrying } from "./retry.js";
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
  /**
   * How long a read keeps trying to reach the stream through a leader change
   * or a lost server (its info, a new consumer, a message), in ms, before it
   * fails with UNAVAILABLE. Default 60,000.
   */
  retryMs?: number;
  /** A consumer create not answered within this long is raced by another one, in ms (see {@link hedged}). Default 1,000. */
  hedgeMs?: number;
  /** A consumer that delivers nothing for this long while records are known to be there is replaced by a new one, in ms. Default 10,000. */
  stallMs?: number;
  /** Told about every JetStream request of a read that failed and is tried again, or a consumer replaced (server log). */
  onRetry?: (what: string, err: unknown, attempt: number) => void;
}

/** The reader's settings, defaults applied. */
interface ReaderSettings {
  readonly batchRecordsMax: number;
  readonly timeSkewMicros: number;
  readonly retryMs: number;
  readonly hedgeMs: number;
  readonly stallMs: number;
  readonly onRetry?: (what: string, err: unknown, attempt: number) => void;
}

/**
 * Reads records from a JetStream stream for ReadEvents: each cursor finds
 * its first seq (by sequence, or by a binary search over record timestamps
 * with message gets), then reads forward with an ordered consumer.
 *
 * Through a leader change or a lost server every request is tried again
 * for up to `retryMs`; a consumer create is raced by another one when it
 * is not answered within `hedgeMs` (JetStream may place it on the lost
 * server, which never answers); a consumer that stops, fails or stalls is
 * replaced by a new one from the next seq. When the stream cannot be reached
 * for that long, the read fails with UNAVAILABLE naming the seq to resume
 * from; an INTERNAL is left for what is not JetStream's passing trouble.
 */
export class JetStreamRecordSource implements RecordSource {
  private readonly settings: ReaderSettings;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly options: JetStreamReaderOptions = {},
  ) {
    this.settings = {
      batchRecordsMax: options.batchRecordsMax ?? 1000,
      timeSkewMicros: (options.timeSkewMs ?? 2000) * 1000,
      retryMs: options.retryMs ?? 60_000,
      hedgeMs: options.hedgeMs ?? 1000,
      stallMs: options.stallMs ?? 10_000,
      onRetry: options.onRetry,
    };
  }

  async open(query: ReadQuery = {}): Promise<RecordCursor> {
    const { retryMs, onRetry } = this.settings;
    const { state } = await retrying(() => this.jsm.streams.info(this.stream), { ms: retryMs, onRetry: (err, n) => onRetry?.("stream info", err, n) }).catch((err: unknown) => {
      throw unavailable(err, `JetStream stream ${this.stream} did not answer; nothing was read`);
    });
    this.options.onLastSeq?.(state.last_seq);
    const first = Math.max(1, state.first_seq);
    let start = Math.max(query.fromSeq ?? 1, first);
    if (query.sinceMicros !== undefined && start <= state.last_seq) {
      start = Math.max(start, await this.firstSeqAtOrAfter(query.sinceMicros - this.settings.timeSkewMicros, start, state.last_seq));
    }
    return new JetStreamCursor(this.js, this.stream, query, start, state.last_seq, this.settings);
  }

  /** Binary search over [lo, hi] for the first record whose timestamp is >= micros (hi + 1 when none is). */
  private async firstSeqAtOrAfter(micros: number, lo: number, hi: number): Promise<number> {
    let end = hi + 1;
    // One retry budget for the whole search, not one per probe.
    const deadline = Date.now() + this.settings.retryMs;
    while (lo < end) {
      const mid = lo + Math.floor((end - lo) / 2);
      const t = await this.timestampAt(mid, deadline);
      // A missing or foreign message cannot tell: search to its left, the read filters exactly anyway.
      if (t !== undefined && t < micros) lo = mid + 1;
      else end = mid;
    }
    return lo;
  }

  private async timestampAt(seq: number, deadline: number): Promise<number | undefined> {
    const { onRetry } = this.settings;
    // null: no such message. A failure that outlasts the retries cannot tell either (the search then starts earlier; the read filters exactly).
    const m = await retrying(() => this.jsm.streams.getMessage(this.stream, { seq }), { ms: deadline - Date.now(), onRetry: (err, n) => onRetry?.("message get", err, n) }).catch(() => null);
    const record = m === null ? undefined : StoredRecord.of(seq, m.data);
    const t = record === undefined ? Number.NaN : parseTimestamp(record.timestamp);
    return Number.isNaN(t) ? undefined : t;
  }
}

/** Consumers a cursor re-creates in a row (none delivering anything) before it gives up. */
const RESTARTS_MAX = 10;

/** Creates a consumer at most this many at once (see {@link hedged}). */
const CREATES_IN_FLIGHT_MAX = 3;

/**
 * The status for a read JetStream could not serve: UNAVAILABLE (retryable)
 * for its passing failures, with the cause kept for the server log; any
 * other error is left as it is (an INTERNAL, logged with its cause).
 */
function unavailable(err: unknown, message: string): unknown {
  if (err instanceof ServiceError || !isPassing(err)) return err;
  return new ServiceError(status.UNAVAILABLE, `${message} (${(err as Error)?.message ?? String(err)})`, { cause: err });
}

/**
 * A forward read of the stream from one seq. Reads only messages that are
 * known to exist (up to the stream's last seq when it opened, or the
 * durable seq the caller passes), so it never waits on the network for a
 * message that may not come, and a consumer that delivers nothing for
 * `stallMs` while such messages are there is stuck (its server was lost):
 * it is replaced. A follower calls `batches` again after the next commit
 * and goes on with the same consumer.
 */
class JetStreamCursor implements RecordCursor {
  private messages: ConsumerMessages | undefined;
  private iterator: AsyncIterator<JsMsg> | undefined;
  private finished = false;
  private returned = 0;
  private restarts = 0;
  /** Why the last consumer was replaced. */
  private lastStopError: unknown;
  /** When the cursor started waiting for a message (0: not waiting), for the stall check. */
  private waitingSince = 0;
  /** Set by the stall check when it stopped a consumer that delivered nothing. */
  private stalled = false;
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
    private readonly settings: ReaderSettings,
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
    if (this.finished || signal?.aborted || this.nextSeq > bound) return;
    // One timer per read, not per message: it stops a consumer that has kept the cursor waiting for stallMs.
    const { stallMs } = this.settings;
    const stallCheck = setInterval(() => {
      if (this.waitingSince !== 0 && Date.now() - this.waitingSince >= stallMs) {
        this.stalled = true;
        this.messages?.stop();
      }
    }, Math.max(10, Math.floor(stallMs / 4)));
    stallCheck.unref();
    const wake = () => this.messages?.stop();
    signal?.addEventListener("abort", wake);
    try {
      while (!this.finished && !signal?.aborted && this.nextSeq <= bound) {
        const iterator = await this.consumer(signal);
        if (iterator === undefined) return; // aborted
        const records: LogRecordView[] = [];
        while (this.nextSeq <= bound && records.length < this.batchRecordsMax && !this.finished) {
          let next: IteratorResult<JsMsg>;
          this.waitingSince = Date.now();
          try {
            next = await iterator.next();
          } catch (err) {
            // A consumer can also fail outright while its stream's leader moves: treated as stopped.
            next = { done: true, value: undefined };
            this.lastStopError = err;
          } finally {
            this.waitingSince = 0;
          }
          if (next.done) {
            if (signal?.aborted) break;
            if (this.stalled) {
              this.stalled = false;
              this.lastStopError = new Error(`no message for ${stallMs} ms while seq ${this.nextSeq} is stored`);
            }
            // The consumer stopped (its server was lost, it stalled, it failed): a new one goes on from nextSeq.
            if (++this.restarts > RESTARTS_MAX) {
              const why = this.lastStopError instanceof Error ? `; last error: ${this.lastStopError.message}` : "";
              throw new ServiceError(
                status.UNAVAILABLE,
                `JetStream consumer on stream ${this.stream} stopped before seq ${this.nextSeq}, ${RESTARTS_MAX} times in a row${why}; resume with from_seq ${this.nextSeq}`,
                { cause: this.lastStopError },
              );
            }
            this.settings.onRetry?.("consumer", this.lastStopError, this.restarts);
            this.dropConsumer();
            break;
          }
          // Progress: only consumers that fail in a row count.
          this.restarts = 0;
          this.stalled = false;
          this.lastStopError = undefined;
          const view = this.accept(next.value);
          if (view !== undefined) records.push(view);
        }
        if (records.length > 0) yield records;
      }
    } finally {
      clearInterval(stallCheck);
      signal?.removeEventListener("abort", wake);
      // A consumer stopped by an abort cannot go on: the next call makes a new one.
      if (signal?.aborted) this.dropConsumer();
    }
  }

  private get batchRecordsMax(): number {
    return this.settings.batchRecordsMax;
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

  private dropConsumer(): void {
    const { messages, iterator } = this;
    this.iterator = undefined;
    this.messages = undefined;
    messages?.stop();
    void iterator?.return?.()?.catch(() => undefined);
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
        if (t >= untilMicros + this.settings.timeSkewMicros) this.finished = true;
        return undefined;
      }
    }
    if (this.types !== undefined && !this.types.has(view.eventType)) return undefined;
    if (this.limit > 0 && ++this.returned >= this.limit) this.finished = true;
    return view;
  }

  /**
   * The ordered consumer, made on first need (a follower at the end makes
   * none until something comes). Undefined when `signal` was aborted.
   */
  private async consumer(signal?: AbortSignal): Promise<AsyncIterator<JsMsg> | undefined> {
    if (this.iterator !== undefined) return this.iterator;
    const { retryMs, hedgeMs, onRetry } = this.settings;
    const start = this.nextSeq;
    let consumer: Consumer;
    try {
      consumer = await hedged(() => this.js.consumers.get(this.stream, { deliver_policy: "by_start_sequence", opt_start_seq: start }), {
        ms: retryMs,
        hedgeMs,
        inFlightMax: CREATES_IN_FLIGHT_MAX,
        signal,
        onRetry: (err, n) => onRetry?.("consumer create", err, n),
        // A create answered after another one won: its consumer is not needed.
        discard: (c) => void c.delete().catch(() => undefined),
      });
    } catch (err) {
      if (signal?.aborted) return undefined;
      throw unavailable(err, `JetStream did not start a reader on stream ${this.stream} at seq ${start}; resume with from_seq ${start}`);
    }
    // Pulls that expire after 10 s: heartbeats every 5 s (the library's own check of its consumer).
    this.messages = await consumer.consume({ max_messages: this.batchRecordsMax, expires: 10_000 });
    this.iterator = this.messages[Symbol.asyncIterator]();
    return this.iterator;
  }
}
