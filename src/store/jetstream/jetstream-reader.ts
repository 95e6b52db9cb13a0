import { status } from "@grpc/grpc-js";
import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg, StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { ServiceError } from "../../errors.js";
import { ReadFilter } from "../read-filter.js";
import type { LogRecordView, OpenOptions, ReadQuery, RecordCursor, RecordSource } from "../store.js";
import { chainOfHeaders, decodeMessage, rangeOfHeaders } from "./record-message.js";
import type { ChainCursor } from "./stream-writer.js";
import { hedged, isPassing, retrying } from "./retry.js";
import { lastRecordAt, messageGetter, streamSeqAtTime, streamSeqOfRecord, type MessageGetter, type RecentMessages } from "./stream-positions.js";

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
  /** Told the seq of the stream's last record each time a cursor opens (the store keeps its lastSeq fresh with it). */
  onLastSeq?: (seq: number) => void;
  /**
   * How long a read keeps trying to reach the stream through a leader change
   * or a lost server (its info, a new consumer, a message), in ms, before it
   * fails with UNAVAILABLE. Default 60,000.
   */
  retryMs?: number;
  /**
   * A read whose caller set a deadline gives up this long before it (at most
   * a quarter of the time the caller gave), in ms, failing with UNAVAILABLE
   * that names what JetStream did not answer and the seq to resume from,
   * rather than leaving the caller a bare DEADLINE_EXCEEDED. Cover one
   * JetStream request (its timeout) and the answer's way back. Default 6,000.
   */
  deadlineMarginMs?: number;
  /** A consumer create not answered within this long is raced by another one, in ms (see {@link hedged}). Default 1,000. */
  hedgeMs?: number;
  /** A consumer that delivers nothing for this long while records are known to be there is replaced by a new one, in ms. Default 10,000. */
  stallMs?: number;
  /** Told about every JetStream request of a read that failed and is tried again, or a consumer replaced (server log). */
  onRetry?: (what: string, err: unknown, attempt: number) => void;
  /** The stream answers direct gets (`allow_direct`): searches read raw messages from any of its servers. Default false. */
  directGets?: boolean;
  /** The latest messages' seq ranges as the front end saw them: a read starting among them needs no search. */
  recent?: RecentMessages;
  /**
   * Checked before every read: the stream still holds what was acked (the
   * front end's witness); rejects with UNAVAILABLE naming what it lost.
   */
  checkAcked?: (deadline: number) => Promise<void>;
  /** Told about every message a read found off the chain it was reading, before it is tried through the stream leader (server log, metrics). */
  onDivergence?: (streamSeq: number, cause: string, mended: boolean) => void;
}

/** The reader's settings, defaults applied. */
interface ReaderSettings {
  readonly batchRecordsMax: number;
  readonly timeSkewMicros: number;
  readonly retryMs: number;
  readonly deadlineMarginMs: number;
  readonly hedgeMs: number;
  readonly stallMs: number;
  readonly onRetry?: (what: string, err: unknown, attempt: number) => void;
  /** Gets a message from the stream's leader (never a direct get: a replica may hold another history). */
  readonly leaderGet: MessageGetter;
  readonly onDivergence?: (streamSeq: number, cause: string, mended: boolean) => void;
}

/**
 * Reads records from a JetStream stream for ReadEvents. A message holds one
 * group commit (a seq range, named by its headers; see record-message.ts),
 * or one record stored by an earlier version of this service (its seq is
 * its stream sequence); other programs' messages are skipped. Each cursor
 * finds the message holding its first seq (a binary search over message
 * headers, or over record timestamps, with message gets), then reads
 * forward with an ordered consumer.
 *
 * Through a leader change or a lost server every request is tried again
 * for up to `retryMs`; a consumer create is raced by another one when it
 * is not answered within `hedgeMs` (JetStream may place it on the lost
 * server, which never answers); a consumer that stops, fails or stalls is
 * replaced by a new one from the next message. When the stream cannot be
 * reached for that long, the read fails with UNAVAILABLE naming the seq to
 * resume from; an INTERNAL is left for what is not JetStream's passing trouble.
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
      deadlineMarginMs: options.deadlineMarginMs ?? 6000,
      hedgeMs: options.hedgeMs ?? 1000,
      stallMs: options.stallMs ?? 10_000,
      onRetry: options.onRetry,
      leaderGet: messageGetter(jsm, stream, { direct: false, retryMs: options.retryMs ?? 60_000, onRetry: (err, n) => options.onRetry?.("leader message get", err, n) }),
      onDivergence: options.onDivergence,
    };
  }

  async open(query: ReadQuery = {}, options: OpenOptions = {}): Promise<RecordCursor> {
    const { retryMs, onRetry } = this.settings;
    const giveUpAt = this.giveUpAt(options.deadline);
    // One retry budget for the requests of this open, not one per request, and none past the caller's deadline.
    const openUntil = Math.min(Date.now() + retryMs, giveUpAt);
    await this.options.checkAcked?.(openUntil).catch((err: unknown) => {
      throw unavailable(err, `JetStream stream ${this.stream}: the stream leader did not answer whether it holds the newest acked record; nothing was read`);
    });
    const { state } = await retrying(() => this.jsm.streams.info(this.stream), { ms: openUntil - Date.now(), onRetry: (err, n) => onRetry?.("stream info", err, n) }).catch((err: unknown) => {
      throw unavailable(err, `JetStream stream ${this.stream} did not answer; nothing was read`);
    });
    const first = Math.max(1, state.first_seq);
    const last = state.last_seq;
    // A get that cannot be answered reads as no message.
    const getter = messageGetter(this.jsm, this.stream, { direct: this.options.directGets === true, retryMs, deadline: openUntil, onRetry: (err, n) => onRetry?.("message get", err, n) });
    const get = (seq: number) => getter(seq).catch(() => null);
    if (this.options.onLastSeq !== undefined && last >= first) {
      const end = await lastRecordAt(last, first, get).catch(() => undefined);
      if (end !== undefined) this.options.onLastSeq(end.recordSeq);
    }
    const fromSeq = Math.max(1, query.fromSeq ?? 1);
    let start = first;
    if (fromSeq > 1 && start <= last) {
      const known = this.options.recent?.find(fromSeq);
      start = known !== undefined ? Math.max(start, Math.min(known, last + 1)) : await streamSeqOfRecord(fromSeq, start, last, get);
    }
    if (query.sinceMicros !== undefined && start <= last) start = await streamSeqAtTime(query.sinceMicros - this.settings.timeSkewMicros, start, last, get);
    return new JetStreamCursor(this.js, this.stream, query, fromSeq, start, last, this.settings, undefined, giveUpAt);
  }

  /** When a read with this deadline stops retrying (see {@link JetStreamReaderOptions.deadlineMarginMs}); Infinity without one. */
  private giveUpAt(deadline: number | undefined): number {
    if (deadline === undefined) return Number.POSITIVE_INFINITY;
    return deadline - Math.min(this.settings.deadlineMarginMs, Math.max(0, (deadline - Date.now()) / 4));
  }

  /**
   * A cursor over every record of the messages at stream sequences
   * [fromStreamSeq, toStreamSeq] (no query): the store reads the stream's
   * tail through it (its dedup window, what other front ends wrote).
   */
  scan(fromStreamSeq: number, toStreamSeq: number, prevHash?: string): ChainCursor {
    return new JetStreamCursor(this.js, this.stream, {}, 1, fromStreamSeq, toStreamSeq, this.settings, prevHash, Number.POSITIVE_INFINITY);
  }
}

/** Consumers a cursor re-creates in a row (none delivering anything) before it gives up. */
const RESTARTS_MAX = 10;

/**
 * Bytes a cursor's consumer asks for at a time: its memory bound while a
 * read waits for the client. A pull must fit a whole message, so this is
 * above the largest message a server takes (max_payload: 1 MiB by default, 8 MiB at most as recommended).
 */
const PULL_BYTES_MAX = 8 * 1024 * 1024;

/** Past its give-up time, a read waits this long for a consumer's next message before it fails with UNAVAILABLE, in ms. */
const LATE_WAIT_MS = 250;

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
 * A forward read of the stream from one message. Reads only messages that
 * are known to exist (up to the stream's last message when it opened, or
 * the one holding the durable seq the caller passes), so it never waits on
 * the network for a message that may not come, and a consumer that
 * delivers nothing for `stallMs` while such messages are there is stuck
 * (its server was lost): it is replaced. A follower calls `batches` again
 * after the next commit and goes on with the same consumer.
 */
class JetStreamCursor implements ChainCursor {
  private messages: ConsumerMessages | undefined;
  private iterator: AsyncIterator<JsMsg> | undefined;
  /** Closed: nothing more is read. */
  private closed = false;
  private restarts = 0;
  /** Why the last consumer was replaced. */
  private lastStopError: unknown;
  /** When the cursor started waiting for a message (0: not waiting), for the stall check. */
  private waitingSince = 0;
  /** Set by the stall check when it stopped a consumer that delivered nothing. */
  private stalled = false;
  /** The query, applied record by record (the one filter of every store's cursor). */
  private readonly filter: ReadFilter;
  /** Messages of the stream that were not records (skipped). */
  skippedMessages = 0;
  /** The hash chain's tip after the last message read (undefined: nothing read yet, and no anchor given). */
  private chainTip: string | undefined;
  /** Messages read off the chain and mended through the leader: a cursor that keeps landing on a diverged replica gives up. */
  private mends = 0;
  /** The first seq of the last message accepted (0: none yet). */
  private lastFirstSeq = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    query: ReadQuery,
    /** The first seq to return (the read's fromSeq). */
    fromSeq: number,
    /** The stream sequence of the next message to read: where a new consumer starts. */
    private nextStreamSeq: number,
    /** The stream's last message when the cursor opened: a replay reads at least this far. */
    private readonly horizon: number,
    private readonly settings: ReaderSettings,
    /** The hash the first message must chain on, when known (a catch-up knows its tail); else the stream leader's copy of the first message anchors the read. */
    prevHash: string | undefined,
    /** When the read stops retrying and waiting on JetStream, to fail before its caller's deadline (Date.now() ms; Infinity: never). */
    private readonly giveUpAt: number,
  ) {
    this.chainTip = prevHash;
    // Records of later front ends may still fall before until: a read stops only past the skew margin.
    this.filter = new ReadFilter(query, { startSeq: fromSeq, untilSlackMicros: settings.timeSkewMicros });
  }

  get done(): boolean {
    return this.closed || this.filter.done;
  }

  /** The seq after the last record read (matching or not): where a follower continues. */
  get nextSeq(): number {
    return this.filter.nextSeq;
  }

  /** The hash chain's tip after what was read. */
  get tip(): string | undefined {
    return this.chainTip;
  }

  /**
   * True while a message is known to be stored past what was read: one up
   * to the horizon, or one holding a seq up to `maxSeq` (the caller's
   * durable seq: the message holding it is at or after the next one).
   */
  private more(maxSeq: number): boolean {
    return this.nextStreamSeq <= this.horizon || this.nextSeq <= maxSeq;
  }

  async *batches(maxSeq = 0, signal?: AbortSignal): AsyncGenerator<LogRecordView[]> {
    if (this.done || signal?.aborted || !this.more(maxSeq)) return;
    // One timer per read, not per message: it stops a consumer that has kept the cursor waiting for stallMs
    // (for LATE_WAIT_MS past the give-up time; a read without a deadline, a long follower, is looked at 4 times per stallMs only).
    const { stallMs } = this.settings;
    const stallCheck = setInterval(
      () => {
        if (this.waitingSince === 0) return;
        const waited = Date.now() - this.waitingSince;
        if (waited >= stallMs || (this.late && waited >= LATE_WAIT_MS)) {
          this.stalled = true;
          this.messages?.stop();
        }
      },
      Math.max(10, Math.floor(this.giveUpAt === Number.POSITIVE_INFINITY ? stallMs / 4 : Math.min(LATE_WAIT_MS, stallMs / 4))),
    );
    stallCheck.unref();
    const wake = () => this.messages?.stop();
    signal?.addEventListener("abort", wake);
    try {
      while (!this.done && !signal?.aborted && this.more(maxSeq)) {
        const iterator = await this.consumer(signal);
        if (iterator === undefined) return; // aborted
        const records: LogRecordView[] = [];
        // What was read before a failure is handed out first: the error names the seq after it to resume from.
        const failure = await this.fill(iterator, records, maxSeq, signal).then(
          () => undefined,
          (err: unknown) => ({ err }),
        );
        if (records.length > 0) yield records;
        if (failure !== undefined) throw failure.err;
      }
    } finally {
      clearInterval(stallCheck);
      signal?.removeEventListener("abort", wake);
      // A consumer stopped by an abort cannot go on: the next call makes a new one.
      if (signal?.aborted) this.dropConsumer();
    }
  }

  /**
   * Reads messages from the consumer into `records` until a batch is full,
   * nothing more is known to be stored, or the consumer must be replaced
   * (it stopped, stalled, or its server holds another history: it is dropped).
   * Rejects when the read cannot go on; `records` then holds what was read before.
   */
  private async fill(iterator: AsyncIterator<JsMsg>, records: LogRecordView[], maxSeq: number, signal: AbortSignal | undefined): Promise<void> {
    while (this.more(maxSeq) && records.length < this.batchRecordsMax && !this.done) {
      let next: IteratorResult<JsMsg>;
      const waitedFrom = (this.waitingSince = Date.now());
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
        if (signal?.aborted) return;
        if (this.stalled) {
          this.stalled = false;
          this.lastStopError = new Error(`no message for ${Date.now() - waitedFrom} ms while seq ${this.nextSeq} is stored`);
        }
        if (this.late) {
          // No time for another consumer: the caller learns why, and where to go on, before its deadline.
          const why = this.lastStopError instanceof Error ? ` (${this.lastStopError.message})` : "";
          throw new ServiceError(
            status.UNAVAILABLE,
            `JetStream consumer on stream ${this.stream} stopped before seq ${this.nextSeq}${why}, and the call's deadline is near; resume with from_seq ${this.nextSeq}`,
            { cause: this.lastStopError },
          );
        }
        // The consumer stopped (its server was lost, it stalled, it failed): a new one goes on from the next message.
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
        return;
      }
      // Progress: only consumers that fail in a row count.
      this.restarts = 0;
      this.stalled = false;
      this.lastStopError = undefined;
      if (!(await this.onChain(next.value, records))) {
        // The consumer's server holds another history: a new consumer goes on after the message mended through the leader.
        this.dropConsumer();
        return;
      }
    }
  }

  /** Past the give-up time: no more retries or waits on JetStream. */
  private get late(): boolean {
    return Date.now() >= this.giveUpAt;
  }

  private get batchRecordsMax(): number {
    return this.settings.batchRecordsMax;
  }

  async close(): Promise<void> {
    this.closed = true;
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

  /**
   * Accepts a message when it chains on what the cursor read before (and,
   * for the first message of a read, on the stream leader's copy of it, and
   * for the one at the horizon, the leader's copy too: a read whose ends
   * agree with the leader and whose links all hold read the leader's
   * history). A message off the chain (the consumer's server holds another
   * history: a replica that diverged) is read again from the stream leader:
   * when the leader's copy chains on, it is accepted in its stead and false
   * is returned (the consumer is replaced); when not, the read ends with
   * UNAVAILABLE naming the seq and the cause.
   */
  private async onChain(m: JsMsg, out: LogRecordView[]): Promise<boolean> {
    if (m.seq < this.nextStreamSeq) return true; // a redelivery after the consumer was re-created
    const link = chainOfHeaders(m.headers);
    const range = rangeOfHeaders(m.headers);
    if (link === undefined || range === undefined) {
      // Not a chained group commit (an earlier version's record, another program's message): the chain starts again after it.
      this.accept(m.seq, m.data, m.headers, out);
      if (range !== undefined) this.chainTip = "";
      return true;
    }
    const anchor = this.chainTip === undefined || m.seq === this.horizon;
    let problem: string | undefined;
    if (this.chainTip !== undefined && link.prev !== this.chainTip) problem = `the message at stream sequence ${m.seq} (seqs ${range.first}-${range.last}) does not chain on the one read before it`;
    let leaderCopy: StoredMsg | null | undefined;
    if (problem === undefined && anchor) {
      leaderCopy = await this.leaderCopy(m.seq);
      const leaderLink = leaderCopy === null ? undefined : chainOfHeaders(leaderCopy.header);
      if (leaderLink?.last !== link.last) problem = `the message at stream sequence ${m.seq} (seqs ${range.first}-${range.last}) is not the stream leader's message there`;
    }
    if (problem === undefined) {
      this.lastFirstSeq = range.first;
      this.accept(m.seq, m.data, m.headers, out);
      this.chainTip = link.last;
      return true;
    }
    leaderCopy ??= await this.leaderCopy(m.seq);
    const leaderLink = leaderCopy === null ? undefined : chainOfHeaders(leaderCopy.header);
    const mended = leaderCopy !== null && leaderLink !== undefined && (this.chainTip === undefined || leaderLink.prev === this.chainTip) && ++this.mends <= RESTARTS_MAX;
    this.settings.onDivergence?.(m.seq, problem, mended);
    if (!mended) {
      // The leader's history does not go on from what this read returned: those records were another history's (the replica's).
      const returnedOff = leaderCopy !== null && leaderLink !== undefined && this.chainTip !== undefined && leaderLink.prev !== this.chainTip && this.lastFirstSeq > 0;
      const cause =
        this.mends > RESTARTS_MAX
          ? `this read kept landing on a replica that holds another history; nothing past seq ${this.nextSeq - 1} was returned; resume with from_seq ${this.nextSeq}`
          : leaderCopy === null
            ? `the stream leader has no message there; nothing past seq ${this.nextSeq - 1} was returned; resume with from_seq ${this.nextSeq}`
            : returnedOff
              ? `the stream leader's message there does not chain on it either: records from seq ${this.lastFirstSeq} on that this read read came from a replica whose history diverged from the stream leader's; re-read from_seq ${this.lastFirstSeq}`
              : `the stream leader's message there does not chain on what this read returned either; resume with from_seq ${this.nextSeq}`;
      throw new ServiceError(status.UNAVAILABLE, `JetStream stream ${this.stream}: ${problem}, and ${cause}`);
    }
    this.lastFirstSeq = rangeOfHeaders(leaderCopy!.header)?.first ?? this.lastFirstSeq;
    this.accept(m.seq, leaderCopy!.data, leaderCopy!.header, out);
    this.chainTip = leaderLink!.last;
    return false;
  }

  private leaderCopy(streamSeq: number): Promise<StoredMsg | null> {
    return this.settings.leaderGet(streamSeq, this.giveUpAt).catch((err: unknown) => {
      throw unavailable(err, `JetStream stream ${this.stream}: the stream leader did not answer for the message at stream sequence ${streamSeq}; resume with from_seq ${this.nextSeq}`);
    });
  }

  /** Applies the query to one message's records; adds those to hand out to `out`. */
  private accept(streamSeq: number, data: Uint8Array, headers: MsgHdrs | undefined, out: LogRecordView[]): void {
    this.nextStreamSeq = streamSeq + 1;
    const decoded = decodeMessage(streamSeq, data, headers);
    if (decoded.kind === "other") {
      this.skippedMessages++;
      return;
    }
    const { filter } = this;
    for (const view of decoded.records) {
      // Records before the read's first seq (the start message holds earlier ones too), or not after what was read.
      if (!filter.passSeq(view.seq)) continue;
      // Once the read is done, the rest of the message is passed over, not returned.
      if (!filter.done && filter.matches(view)) out.push(view);
    }
  }

  /**
   * The ordered consumer, made on first need (a follower at the end makes
   * none until something comes). Undefined when `signal` was aborted.
   */
  private async consumer(signal?: AbortSignal): Promise<AsyncIterator<JsMsg> | undefined> {
    if (this.iterator !== undefined) return this.iterator;
    const { retryMs, hedgeMs, onRetry } = this.settings;
    const start = this.nextStreamSeq;
    // Pulls bounded in bytes (a message holds a whole group commit, up to the servers' max_payload),
    // that expire after 10 s: heartbeats every 5 s (the library's own check of its consumer). An ordered
    // consumer is made on the server at its first consume: that request fails and is raced like the create.
    const attempt = async (): Promise<{ consumer: Consumer; messages: ConsumerMessages }> => {
      const consumer = await this.js.consumers.get(this.stream, { deliver_policy: "by_start_sequence", opt_start_seq: start });
      try {
        return { consumer, messages: await consumer.consume({ max_bytes: PULL_BYTES_MAX, expires: 10_000 }) };
      } catch (err) {
        void consumer.delete().catch(() => undefined);
        throw err;
      }
    };
    try {
      const made = await hedged(attempt, {
        ms: Math.min(retryMs, this.giveUpAt - Date.now()),
        hedgeMs,
        inFlightMax: CREATES_IN_FLIGHT_MAX,
        signal,
        onRetry: (err, n) => onRetry?.("consumer create", err, n),
        // A create answered after another one won: its consumer is not needed.
        discard: (c) => {
          c.messages.stop();
          void c.consumer.delete().catch(() => undefined);
        },
      });
      this.messages = made.messages;
    } catch (err) {
      if (signal?.aborted) return undefined;
      throw unavailable(err, `JetStream did not start a reader on stream ${this.stream} at seq ${this.nextSeq}; resume with from_seq ${this.nextSeq}`);
    }
    this.iterator = this.messages[Symbol.asyncIterator]();
    return this.iterator;
  }
}
