import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { JetStreamApiError, type JetStreamClient, type JetStreamManager, type PubAck, type StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { ServiceError } from "../../errors.js";
import type { AppendEntry, AppendResult, LogRecordView, RecordCursor, StoreObserver } from "../store.js";
import { recordHead } from "../../record/layout.js";
import { decodeMessage, MSG_ID_HEADER, rangeHeaders, recordLine, type SeqRange } from "./record-message.js";
import { isPassing, retrying } from "./retry.js";
import type { StreamWindow } from "./stream-window.js";

/** Where the stream ends, as far as this front end has read it. */
export interface StreamTail {
  /** The stream sequence of the last message read (or stored by this front end). */
  readonly streamSeq: number;
  /** The seq of the last record up to that message (0 when none). */
  readonly recordSeq: number;
}

/** What a {@link StreamWriter} works with. */
export interface StreamWriterDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Reads every record of the messages at stream sequences [from, to] (a long catch-up). */
  scan: (fromStreamSeq: number, toStreamSeq: number) => RecordCursor;
  /** The front end's window of recent event_ids, filled from the stream's tail at open. */
  window: StreamWindow;
  /** The stream's end when the window was filled. */
  tail: StreamTail;
  /** Told the last seq after every commit, this front end's or one read in a catch-up. */
  onCommitted: (lastSeq: number) => void;
  /** Told how many records and bytes each stored message held, and how long its publish took. */
  observer?: StoreObserver;
}

/** Options of a {@link StreamWriter}. */
export interface StreamWriterOptions {
  stream: string;
  subject: string;
  /** Wait for one publish ack, in ms. */
  publishTimeoutMs: number;
  /** How long an append is tried (republished, caught up, rebuilt) before it fails with UNAVAILABLE, in ms. */
  publishRetryMs: number;
  /** How long a request of a catch-up (stream info, message get) is tried through an election, in ms. */
  readRetryMs: number;
  /** Most bytes of records in one message (the servers' max_payload bounds it). */
  messageBytesMax: number;
  /** Messages published before the first is acked, each chained on the one before. */
  messagesInFlightMax: number;
  /** Told about every publish tried again after a passing failure. */
  onRetry?: (err: unknown, attempt: number) => void;
  /** Told about every request of a catch-up tried again. */
  onReadRetry?: (what: string, err: unknown, attempt: number) => void;
  /** Told when the stream's records do not follow on from each other (another writer that does not serialize, damage). */
  onGap?: (expectedSeq: number, foundSeq: number, streamSeq: number) => void;
}

/** What a writer did, for tests and the server log. */
export interface StreamWriterStats {
  /** Messages this front end stored. */
  messages: number;
  /** Publishes refused because another writer had stored a message first (each followed by a catch-up). */
  racesLost: number;
  /** Records of other writers read in catch-ups. */
  recordsCaughtUp: number;
  /** Publishes tried again as they were after a passing failure (a timeout, an election). */
  republished: number;
}

/** One append call: its entries, its results as they come, how it ends. */
interface Call {
  readonly entries: readonly AppendEntry[];
  /** The timestamp all its records carry (stamped when the call came). */
  readonly timestamp: string;
  /** The records' text from the timestamp on, made once per call. */
  readonly head: string;
  readonly results: AppendResult[];
  /** Results still missing. */
  open: number;
  /** After this (Date.now() ms), the call fails with UNAVAILABLE if it is not stored. */
  readonly deadline: number;
  done: boolean;
  resolve: (results: AppendResult[]) => void;
  reject: (err: unknown) => void;
}

/** A record to write: entry `index` of `call`, and later calls that repeat its client event_id. */
interface Slot {
  readonly call: Call;
  readonly index: number;
  twins?: Array<{ call: Call; index: number }>;
}

/** A message built from slots and published (maybe not stored yet). */
interface OutMessage {
  /** Its Nats-Msg-Id: unique to this front end and this build of the message. */
  readonly id: string;
  readonly slots: readonly Slot[];
  readonly range: SeqRange;
  /** The stream sequence it must follow (Nats-Expected-Last-Sequence). */
  readonly expectLast: number;
  /** The message it must follow, when it is chained on another of ours in flight (Nats-Expected-Last-Msg-Id). */
  readonly prevId?: string;
  readonly data: Buffer;
  readonly headers: MsgHdrs;
  /** Publishes tried again as they were. */
  tries: number;
}

/** JetStream's answer to a publish whose expectations failed: another writer's message is there. */
const WRONG_LAST_SEQUENCE = 10071;
const WRONG_LAST_MSG_ID = 10070;

function lostRace(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === WRONG_LAST_SEQUENCE || err.code === WRONG_LAST_MSG_ID);
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Messages of a catch-up read with single gets (more go through a consumer). */
const CATCH_UP_GETS_MAX = 64;

/**
 * Appends to a stream that several front ends write at once, one JetStream
 * message per group commit. Appends that arrive while a commit is in flight
 * wait and go out together in the next one; a commit bigger than a message
 * is split into several, published back to back, each chained on the one
 * before.
 *
 * Each message carries consecutive seqs, continuing the stream's last
 * record, and is published with `Nats-Expected-Last-Sequence` (the stream
 * sequence of the last message this front end has read): JetStream stores
 * it only if no other message came in between, so the front ends take turns
 * on the stream and seqs stay dense and strictly increasing. A front end
 * that loses the race (JetStream answers "wrong last sequence") reads the
 * messages it missed (a catch-up), adds their records to its dedup window,
 * answers those of its pending client event_ids it finds there as
 * duplicates (exactly once across front ends), and publishes the rest again
 * with new seqs.
 *
 * A message whose publish timed out (an election, a lost server) is
 * published again as it was, with the same `Nats-Msg-Id`: if the first try
 * was stored, JetStream answers "duplicate" with its place, so it is stored
 * once (the stream's duplicate window must cover the retry horizon; see
 * stream-config.ts). A try that is stored late is found by its message id in
 * the next catch-up.
 */
export class StreamWriter {
  private pending: Slot[] = [];
  private pendingHead = 0;
  private outstanding: OutMessage[] = [];
  /** Client-chosen event_ids pending or in flight: a repeat waits for the original's result. */
  private readonly inFlightIds = new Map<string, Slot>();
  private tail: StreamTail;
  private running = false;
  private scheduled = false;
  private idle: Array<() => void> = [];
  private readonly idPrefix = randomUUID();
  private messageNo = 0;
  /** What this writer did (tests, the server log). */
  readonly stats: StreamWriterStats = { messages: 0, racesLost: 0, recordsCaughtUp: 0, republished: 0 };

  constructor(
    private readonly deps: StreamWriterDeps,
    private readonly options: StreamWriterOptions,
  ) {
    this.tail = deps.tail;
  }

  /** The stream's end as this front end knows it. */
  get streamTail(): StreamTail {
    return this.tail;
  }

  /**
   * Queues a call's entries (all stamped with `timestamp`) and resolves with
   * where each landed once they are stored, in order of entries. A client
   * event_id already in the window, or pending in this front end, is
   * answered with the original record (duplicate).
   */
  append(entries: readonly AppendEntry[], timestamp: string): Promise<AppendResult[]> {
    return new Promise<AppendResult[]>((resolve, reject) => {
      const call: Call = { entries, timestamp, head: recordHead(timestamp), results: new Array(entries.length), open: entries.length, deadline: Date.now() + this.options.publishRetryMs, done: false, resolve, reject };
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i];
        if (e.clientChosenId) {
          const known = this.deps.window.get(e.eventId);
          if (known !== undefined) {
            settle(call, i, { seq: known.seq, timestamp: known.timestamp, duplicate: true });
            continue;
          }
          const original = this.inFlightIds.get(e.eventId);
          if (original !== undefined) {
            (original.twins ??= []).push({ call, index: i });
            continue;
          }
        }
        const slot: Slot = { call, index: i };
        if (e.clientChosenId) this.inFlightIds.set(e.eventId, slot);
        this.pending.push(slot);
      }
      if (call.open === 0) finish(call);
      else this.schedule();
    });
  }

  /** Resolves once nothing is pending or in flight (appends that came first are stored or failed). */
  drained(): Promise<void> {
    if (!this.running && !this.scheduled && this.pendingCount === 0 && this.outstanding.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private get pendingCount(): number {
    return this.pending.length - this.pendingHead;
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // After the event loop's I/O phase: calls that came in on the same socket read share a message.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  /** The commit loop: one round of messages at a time, until nothing is left. */
  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pendingCount > 0 || this.outstanding.length > 0) {
        try {
          await this.round();
        } catch (err) {
          // The stream could not be read or written for the whole retry budget: everything waiting fails; later appends start over from the tail.
          this.failWaiting(err);
        }
      }
    } finally {
      this.running = false;
      for (const wake of this.idle.splice(0)) wake();
      if (this.pendingCount > 0) this.schedule();
    }
  }

  /** Builds messages from what is pending, publishes what is outstanding, and deals with the answers. */
  private async round(): Promise<void> {
    this.fill();
    const out = this.outstanding;
    if (out.length === 0) return;
    const started = performance.now();
    const settled = await Promise.allSettled(out.map((m) => this.publish(m)));
    const seconds = (performance.now() - started) / 1000;
    let stored = 0;
    while (stored < settled.length && settled[stored].status === "fulfilled") {
      const ack = (settled[stored] as PromiseFulfilledResult<PubAck>).value;
      this.committed(out[stored], ack.seq, seconds);
      stored++;
    }
    this.outstanding = out.slice(stored);
    if (this.outstanding.length === 0) return;
    const err = (settled[stored] as PromiseRejectedResult).reason;
    if (lostRace(err)) return this.catchUp();
    if (isPassing(err)) {
      // A timeout or an election: the same messages again (same ids, same expectations), after a pause.
      const head = this.outstanding[0];
      head.tries++;
      this.stats.republished++;
      this.options.onRetry?.(err, head.tries);
      this.expire(err);
      await pause(Math.min(50 * 2 ** (head.tries - 1), 1000));
      return;
    }
    // Not something a retry mends (too large, no such stream, no permission): its calls fail; messages chained on it are built again.
    const [failed, ...chained] = this.outstanding;
    this.outstanding = [];
    const error = new ServiceError(status.UNAVAILABLE, `JetStream did not store the records (${(err as Error)?.message ?? String(err)}); nothing of them was acked`, { cause: err });
    this.deps.observer?.failed?.({ stage: "commit", err, appends: new Set(failed.slots.map((s) => s.call)).size, records: failed.slots.length });
    for (const slot of failed.slots) this.abandon(slot, error);
    this.requeue(chained);
  }

  /** Builds messages from the pending slots, chained after the last outstanding one (or the tail), up to the in-flight bound. */
  private fill(): void {
    const { messageBytesMax, messagesInFlightMax } = this.options;
    while (this.outstanding.length < messagesInFlightMax && this.pendingCount > 0) {
      const prev = this.outstanding.at(-1);
      const expectLast = prev === undefined ? this.tail.streamSeq : prev.expectLast + 1;
      const first = prev === undefined ? this.tail.recordSeq + 1 : prev.range.last + 1;
      const slots: Slot[] = [];
      const lines: string[] = [];
      let bytes = 0;
      while (this.pendingHead < this.pending.length) {
        const slot = this.pending[this.pendingHead];
        if (slot.call.done) {
          this.pendingHead++;
          this.abandon(slot, undefined);
          continue;
        }
        const e = slot.call.entries[slot.index];
        const line = recordLine(e.eventId, slot.call.head, e.body, first + slots.length);
        const size = Buffer.byteLength(line);
        if (size > messageBytesMax) {
          this.pendingHead++;
          failCall(slot.call, ServiceError.invalid("event", `is ${size} bytes as a record; the NATS servers take messages of at most ${messageBytesMax} bytes (their max_payload)`));
          this.abandon(slot, undefined);
          continue;
        }
        if (bytes + size > messageBytesMax) break;
        this.pendingHead++;
        slots.push(slot);
        lines.push(line);
        bytes += size;
      }
      this.compactPending();
      if (slots.length === 0) break;
      const range = { first, last: first + slots.length - 1 };
      this.outstanding.push({ id: `${this.idPrefix}.${++this.messageNo}`, slots, range, expectLast, prevId: prev?.id, data: Buffer.from(lines.join("")), headers: rangeHeaders(range), tries: 0 });
    }
  }

  private publish(m: OutMessage): Promise<PubAck> {
    return this.deps.js.publish(this.options.subject, m.data, {
      msgID: m.id,
      headers: m.headers,
      timeout: this.options.publishTimeoutMs,
      expect: m.prevId === undefined ? { lastSequence: m.expectLast } : { lastSequence: m.expectLast, lastMsgID: m.prevId },
    });
  }

  /** A message of ours is stored at `streamSeq`: its calls get their results, the window and the tail move on. */
  private committed(m: OutMessage, streamSeq: number, seconds?: number): void {
    const ids: string[] = new Array(m.slots.length);
    const timestamps: string[] = new Array(m.slots.length);
    for (let i = 0; i < m.slots.length; i++) {
      const slot = m.slots[i];
      const e = slot.call.entries[slot.index];
      const seq = m.range.first + i;
      const timestamp = slot.call.timestamp;
      ids[i] = e.eventId;
      timestamps[i] = timestamp;
      if (e.clientChosenId && this.inFlightIds.get(e.eventId) === slot) this.inFlightIds.delete(e.eventId);
      settle(slot.call, slot.index, { seq, timestamp, duplicate: false });
      for (const twin of slot.twins ?? []) settle(twin.call, twin.index, { seq, timestamp, duplicate: true });
      slot.twins = undefined;
    }
    this.deps.window.addRun(m.range.first, ids, timestamps);
    this.tail = { streamSeq, recordSeq: m.range.last };
    this.stats.messages++;
    if (seconds !== undefined) this.deps.observer?.commit?.(m.slots.length, m.data.length, seconds);
    this.deps.onCommitted(m.range.last);
  }

  /**
   * After a lost race: reads what was stored past the tail. Messages of ours
   * can only follow the tail, in order (each expected the one before); those
   * found there are stored. Others' records go into the window; then the
   * messages of ours that cannot be stored any more (another message took
   * their place) go back to the front of the queue, and their client
   * event_ids found in the window are answered as duplicates.
   */
  private async catchUp(): Promise<void> {
    this.stats.racesLost++;
    const { stream, readRetryMs, onReadRetry } = this.options;
    const { state } = await retrying(() => this.deps.jsm.streams.info(stream), { ms: readRetryMs, onRetry: (err, n) => onReadRetry?.("stream info", err, n) });
    const end = state.last_seq;
    if (end < this.tail.streamSeq) {
      throw new Error(`JetStream stream ${stream} ends at sequence ${end}, before ${this.tail.streamSeq} which this server read there (was it deleted and made again, or purged?)`);
    }
    let s = this.tail.streamSeq + 1;
    let others: StoredMsg | null | undefined;
    while (s <= end && this.outstanding.length > 0) {
      const m = await this.get(s);
      if (m === null || m.header?.get(MSG_ID_HEADER) !== this.outstanding[0].id) {
        others = m;
        break;
      }
      this.committed(this.outstanding.shift()!, s);
      s++;
    }
    if (s > end) {
      // Nothing but ours past the tail: what is still outstanding may yet be stored, so it is published again as it is.
      this.expire(undefined);
      if (this.outstanding.length > 0) await pause(50);
      return;
    }
    const dead = this.outstanding.splice(0);
    await this.readOthers(s, end, others);
    this.requeue(dead);
    this.answerKnown();
    this.expire(undefined);
  }

  /** Reads other writers' records at stream sequences [from, to] into the window and the tail. */
  private async readOthers(from: number, to: number, first: StoredMsg | null | undefined): Promise<void> {
    if (to - from + 1 <= CATCH_UP_GETS_MAX) {
      const seqs = Array.from({ length: to - from + 1 }, (_, i) => from + i);
      const messages = await Promise.all(seqs.map((s) => (s === from && first !== undefined ? Promise.resolve(first) : this.get(s))));
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i];
        if (m !== null) this.caughtUp(decodeMessage(seqs[i], m.data, m.header).records);
        this.tail = { streamSeq: seqs[i], recordSeq: this.tail.recordSeq };
      }
    } else {
      const cursor = this.deps.scan(from, to);
      try {
        for await (const batch of cursor.batches()) this.caughtUp(batch);
      } finally {
        await cursor.close();
      }
      this.tail = { streamSeq: to, recordSeq: this.tail.recordSeq };
    }
    this.deps.onCommitted(this.tail.recordSeq);
  }

  /** Records another writer stored: into the window; the tail's last seq moves on (a seq that does not follow on is told). */
  private caughtUp(records: readonly LogRecordView[]): void {
    if (records.length === 0) return;
    const first = records[0].seq;
    if (first !== this.tail.recordSeq + 1) this.options.onGap?.(this.tail.recordSeq + 1, first, this.tail.streamSeq + 1);
    this.deps.window.addRecords(records);
    this.stats.recordsCaughtUp += records.length;
    this.tail = { streamSeq: this.tail.streamSeq, recordSeq: Math.max(this.tail.recordSeq, records[records.length - 1].seq) };
  }

  private get(seq: number): Promise<StoredMsg | null> {
    const { stream, readRetryMs, onReadRetry } = this.options;
    return retrying(() => this.deps.jsm.streams.getMessage(stream, { seq }), { ms: readRetryMs, onRetry: (err, n) => onReadRetry?.("message get", err, n) });
  }

  /** Puts the slots of messages that will never be stored back at the front of the queue, in order. */
  private requeue(messages: readonly OutMessage[]): void {
    if (messages.length === 0) return;
    const slots = messages.flatMap((m) => m.slots);
    this.pending = [...slots, ...this.pending.slice(this.pendingHead)];
    this.pendingHead = 0;
  }

  /** Pending client event_ids another writer stored meanwhile: answered with that record, not written. */
  private answerKnown(): void {
    const kept: Slot[] = [];
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      const slot = this.pending[i];
      const e = slot.call.entries[slot.index];
      const known = e.clientChosenId ? this.deps.window.get(e.eventId) : undefined;
      if (known === undefined) {
        kept.push(slot);
        continue;
      }
      if (this.inFlightIds.get(e.eventId) === slot) this.inFlightIds.delete(e.eventId);
      const result = { seq: known.seq, timestamp: known.timestamp, duplicate: true };
      settle(slot.call, slot.index, result);
      for (const twin of slot.twins ?? []) settle(twin.call, twin.index, result);
    }
    this.pending = kept;
    this.pendingHead = 0;
  }

  /**
   * Fails the calls whose time is up (UNAVAILABLE); their pending slots are
   * dropped. Slots in messages still outstanding stay: such a message may
   * yet be stored (a retry of those events is then answered as a duplicate).
   */
  private expire(cause: unknown): void {
    const now = Date.now();
    const fail = (call: Call) => {
      if (call.done || now < call.deadline) return;
      failCall(call, new ServiceError(status.UNAVAILABLE, `JetStream did not store the records within ${this.options.publishRetryMs} ms${cause instanceof Error ? ` (${cause.message})` : ""}; nothing of them was acked`, { cause }));
    };
    for (const m of this.outstanding) for (const slot of m.slots) fail(slot.call);
    for (let i = this.pendingHead; i < this.pending.length; i++) fail(this.pending[i].call);
    // Outstanding messages none of whose calls waits any more are let go (one stored late is read as another writer's).
    if (this.outstanding.every((m) => m.slots.every((slot) => slot.call.done))) for (const m of this.outstanding.splice(0)) for (const slot of m.slots) this.abandon(slot, undefined);
  }

  /** Everything pending and outstanding fails with `err` (the stream could not be reached): the tail stays, later appends start over from it. */
  private failWaiting(err: unknown): void {
    const error = err instanceof ServiceError ? err : new ServiceError(status.UNAVAILABLE, `JetStream did not answer (${(err as Error)?.message ?? String(err)}); nothing of the records was acked`, { cause: err });
    const slots = [...this.outstanding.splice(0).flatMap((m) => m.slots), ...this.pending.slice(this.pendingHead)];
    this.pending = [];
    this.pendingHead = 0;
    this.deps.observer?.failed?.({ stage: "commit", err, appends: new Set(slots.map((s) => s.call)).size, records: slots.length });
    for (const slot of slots) this.abandon(slot, error);
  }

  /** A slot that will not be written: its call fails (when `err` is given), and so do the calls that wait for it as a repeat of its event_id. */
  private abandon(slot: Slot, err: ServiceError | undefined): void {
    const e = slot.call.entries[slot.index];
    if (e.clientChosenId && this.inFlightIds.get(e.eventId) === slot) this.inFlightIds.delete(e.eventId);
    const error = err ?? new ServiceError(status.UNAVAILABLE, `event_id ${e.eventId} was not stored; nothing of it was acked`);
    failCall(slot.call, error);
    for (const twin of slot.twins ?? []) failCall(twin.call, error);
    slot.twins = undefined;
  }

  private compactPending(): void {
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }
}

function settle(call: Call, index: number, result: AppendResult): void {
  if (call.done || call.results[index] !== undefined) return;
  call.results[index] = result;
  if (--call.open === 0) finish(call);
}

function finish(call: Call): void {
  if (call.done) return;
  call.done = true;
  call.resolve(call.results);
}

function failCall(call: Call, err: unknown): void {
  if (call.done) return;
  call.done = true;
  call.reject(err);
}
