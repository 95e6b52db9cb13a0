import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { JetStreamApiError, type JetStreamClient, type JetStreamManager, type PubAck, type StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { ServiceError } from "../../errors.js";
import type { AppendEntry, AppendResult, RecordCursor, StoreObserver } from "../store.js";
import { recordHead } from "../../record/layout.js";
import { chainOfHeaders, clientRecordsOf, MessageBuilder, MSG_ID_HEADER, rangeOfMessage, type BodyBytes, type EncodedRecord, type RecordIdentity, type SeqRange } from "./record-message.js";
import { DivergedError, type Divergence } from "./divergence.js";
import type { AckWitness } from "./ack-witness.js";
import { isPassing, retrying } from "./retry.js";
import type { MessageGetter } from "./stream-positions.js";
import type { StreamWindow } from "./stream-window.js";
import { KnownIds } from "../known-ids.js";
import type { TurnNotice } from "./turn-signals.js";

/** How the front ends writing one stream tell each other about turns (see turn-signals.ts). */
export interface TurnPort {
  want(): void;
  stored(streamSeq: number): void;
  close(): void;
}

/** Where the stream ends, as far as this front end has read it. */
export interface StreamTail {
  /** The stream sequence of the last message read (or stored by this front end). */
  readonly streamSeq: number;
  /** The seq of the last record up to that message (0 when none). */
  readonly recordSeq: number;
  /** The hash chain's tip at that message: its last record's hash ("" when no record before carries one). */
  readonly hash: string;
}

/** A cursor over stretches of the stream that says where the hash chain stands after what it read. */
export interface ChainCursor extends RecordCursor {
  /** The last hash read (undefined before the first message with records). */
  readonly tip: string | undefined;
}

/** What a {@link StreamWriter} works with. */
export interface StreamWriterDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Gets one message by stream sequence (a catch-up's messages), through an election. */
  get: MessageGetter;
  /** Gets one message from the stream's leader (non-direct): a copy `get` returned that is off the chain is asked again of it. Default: `get`. */
  leaderGet?: MessageGetter;
  /** Told about a message `get` returned off the chain, and whether the leader's copy mended it. */
  onReadDivergence?: (streamSeq: number, cause: string, mended: boolean) => void;
  /** Reads every record of the messages at stream sequences [from, to] (a long catch-up), checking that they chain on `prevHash`. */
  scan: (fromStreamSeq: number, toStreamSeq: number, prevHash: string) => ChainCursor;
  /** The front end's window of recent event_ids, filled from the stream's tail at open. */
  window: StreamWindow;
  /** The stream's end when the window was filled. */
  tail: StreamTail;
  /** Told the last seq after every commit, this front end's or one read in a catch-up. */
  onCommitted: (lastSeq: number) => void;
  /** Told about each message it stored or read one by one, in stream order: its seq range, or "none" (not records). */
  onMessage?: (streamSeq: number, seqs: SeqRange | "none") => void;
  /** Told how many records and bytes each stored message held, and how long its publish took. */
  observer?: StoreObserver;
  /** Opens the turn notices of the stream for this writer (its id), delivering others' notices; none: front ends only race. */
  turns?: (writer: string, onNotice: (notice: TurnNotice) => void) => TurnPort;
  /** The durable record of the newest record acked (by this front end, or told by others): written before every ack. */
  witness: AckWitness;
  /** Told once when the stream is found not to hold what was acked: the writer refuses every append from then on. */
  onDiverged?: (d: Divergence) => void;
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
  /** Catch-ups on another front end's message announced by its turn notice, before publishing (no race lost). */
  turnsTaken: number;
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

/** A record to write: entry `index` of `call`, and later calls that repeat its client event_id; its bytes once encoded. */
interface Slot extends EncodedRecord {
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
  /** The hash of its last record: the next message chains on it. */
  readonly tip: string;
}

/** JetStream's answer to a publish whose expectations failed: another writer's message is there. */
const WRONG_LAST_SEQUENCE = 10071;
const WRONG_LAST_MSG_ID = 10070;

function lostRace(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === WRONG_LAST_SEQUENCE || err.code === WRONG_LAST_MSG_ID);
}

/** The stream's last sequence named by a "wrong last sequence: N" refusal. */
function lastSequenceOf(err: unknown): number | undefined {
  if (!(err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE)) return undefined;
  const m = /wrong last sequence: (\d+)/.exec(err.message);
  return m === null ? undefined : Number(m[1]);
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** After another front end's last sign (a notice, a lost race), its writes are expected for this long, in ms: turns are taken meanwhile. */
const SHARED_MS = 1000;

/** A hold after a store lasts at least and at most this long, in ms. */
const HOLD_MS_MIN = 5;
const HOLD_MS_MAX = 1000;

/** Bytes of a record's line besides its event_id, head and body: its keys, seq digits, hash trailer and newline (about). */
const RECORD_FRAME_BYTES = 112;

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
 *
 * Each message's records are hash-chained on the tail's last hash, and a
 * message of another writer read in a catch-up must chain on it too (a
 * direct get off the chain is asked again of the stream leader). An ack goes
 * out only after the witness of the newest record acked is durable; a
 * stream that no longer holds what was acked (its end before the witness,
 * another hash there, or a message off the chain from the leader) makes the
 * writer refuse every append from then on (DivergedError).
 */
export class StreamWriter {
  private pending: Slot[] = [];
  private pendingHead = 0;
  private outstanding: OutMessage[] = [];
  /** Client-chosen event_ids in the window, or pending or in flight here: a repeat of one in flight waits for the original's result. */
  private readonly known: KnownIds<Slot>;
  private tail: StreamTail;
  private running = false;
  private scheduled = false;
  private idle: Array<() => void> = [];
  private readonly idPrefix = randomUUID();
  private messageNo = 0;
  /** What this writer did (tests, the server log). */
  readonly stats: StreamWriterStats = { messages: 0, racesLost: 0, recordsCaughtUp: 0, republished: 0, turnsTaken: 0 };
  /** While Date.now() is before this, other front ends write too: take turns (announce stores, hold after them). */
  private sharedUntil = 0;
  /** The highest stream sequence another front end announced storing a message at. */
  private othersStoredSeq = 0;
  /** Another front end lost a race and has not stored since: hold for it (up to HOLD_MS_MAX) after each store. */
  private othersWant = false;
  /** Ends the current hold early (another front end announced a store). */
  private holdWake: (() => void) | undefined;
  /** The stream sequence of this front end's last stored message, and when it was stored (performance.now() ms). */
  private ownStoredSeq = 0;
  private ownStoredAt = 0;
  /**
   * How long the other front ends take to store after this one announced
   * its store (catch up on it, publish their own), smoothed, in ms: a hold
   * lasts a few of them at most (another front end may have nothing to write).
   */
  private othersTurnMs = 20;
  private readonly turns: TurnPort | undefined;
  /** Set when the stream no longer holds what was acked: every append is refused with it. */
  private divergedError: DivergedError | undefined;

  constructor(
    private readonly deps: StreamWriterDeps,
    private readonly options: StreamWriterOptions,
  ) {
    this.tail = deps.tail;
    this.known = new KnownIds(deps.window);
    this.turns = deps.turns?.(this.idPrefix, (notice) => this.noticed(notice));
  }

  /** Another front end's turn notice: the stream is shared for a while; a store it announces ends a hold. */
  private noticed(notice: TurnNotice): void {
    this.sharedUntil = Date.now() + SHARED_MS;
    if (notice.kind === "stored" && notice.acked !== undefined) this.deps.witness.learn(notice.acked);
    if (notice.kind === "want") this.othersWant = true;
    if (notice.kind === "stored") this.othersWant = false;
    if (notice.kind === "stored" && notice.streamSeq > this.othersStoredSeq) {
      this.othersStoredSeq = notice.streamSeq;
      if (this.ownStoredSeq === this.tail.streamSeq) this.othersTurnMs += (performance.now() - this.ownStoredAt - this.othersTurnMs) / 4;
      this.holdWake?.();
    }
  }

  /** The stream's end as this front end knows it. */
  get streamTail(): StreamTail {
    return this.tail;
  }

  /** Why this writer refuses to write (the stream lost acknowledged records), or undefined while it writes. */
  get diverged(): Divergence | undefined {
    return this.divergedError?.divergence;
  }

  /**
   * Stops writing for good: the stream does not hold the history this
   * front end (or another, by its witness) acked. Everything waiting fails
   * with the error, and so does every later append; told once.
   */
  refuse(d: Divergence): void {
    if (this.divergedError !== undefined) return;
    this.divergedError = new DivergedError(d);
    this.deps.onDiverged?.(d);
    this.failWaiting(this.divergedError);
  }

  /**
   * Queues a call's entries (all stamped with `timestamp`) and resolves with
   * where each landed once they are stored, in order of entries. A client
   * event_id already in the window, or pending in this front end, is
   * answered with the original record (duplicate).
   */
  append(entries: readonly AppendEntry[], timestamp: string): Promise<AppendResult[]> {
    if (this.divergedError !== undefined) return Promise.reject(this.divergedError);
    return new Promise<AppendResult[]>((resolve, reject) => {
      const call: Call = { entries, timestamp, head: recordHead(timestamp), results: new Array(entries.length), open: entries.length, deadline: Date.now() + this.options.publishRetryMs, done: false, resolve, reject };
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i];
        const known = this.known.lookup(e);
        if (known?.stored !== undefined) {
          settle(call, i, { seq: known.stored.seq, timestamp: known.stored.timestamp, duplicate: true });
          continue;
        }
        if (known?.inFlight !== undefined) {
          (known.inFlight.twins ??= []).push({ call, index: i });
          continue;
        }
        const slot: Slot = { call, index: i };
        this.known.hold(e, slot);
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

  /** Stops listening to turn notices (after {@link drained}). */
  close(): void {
    this.turns?.close();
    this.holdWake?.();
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

  /**
   * The commit loop: one round of messages at a time, until nothing is
   * left. While other front ends write too, each round first reads what
   * they announced storing (so it does not lose the race to it), and after
   * a round that stored something this front end announces it and holds
   * its next round briefly, until another front end announces its own
   * store: the front ends then take turns instead of racing (a front end
   * whose rounds follow each other at once would win every race and starve
   * the others).
   */
  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pendingCount > 0 || this.outstanding.length > 0) {
        try {
          if (this.outstanding.length === 0) await this.takeTurn();
          const stored = this.stats.messages;
          await this.round();
          if (this.stats.messages > stored && Date.now() < this.sharedUntil) this.turns?.stored(this.tail.streamSeq);
        } catch (err) {
          if (err instanceof DivergedError) this.refuse(err.divergence);
          // The stream could not be read or written for the whole retry budget: everything waiting fails; later appends start over from the tail.
          else this.failWaiting(err);
        }
      }
    } finally {
      this.running = false;
      for (const wake of this.idle.splice(0)) wake();
      if (this.pendingCount > 0) this.schedule();
    }
  }

  /**
   * Before a round, while other front ends write too: when the last message
   * this front end knows of is its own, waits until another front end
   * announces a store, or a few of their usual turns since its own store
   * (another may have nothing to write, or be gone), or, for one that asked
   * for a turn, up to HOLD_MS_MAX (it may be reading a long stretch of the
   * stream first); then reads what the others announced, so the round
   * expects the stream's real end.
   */
  private async takeTurn(): Promise<void> {
    if (Date.now() < this.sharedUntil && this.ownStoredSeq === this.tail.streamSeq && this.othersStoredSeq <= this.tail.streamSeq) {
      const limit = this.othersWant ? HOLD_MS_MAX : Math.min(HOLD_MS_MAX, Math.max(HOLD_MS_MIN, 4 * this.othersTurnMs));
      const ms = limit - (performance.now() - this.ownStoredAt);
      if (ms > 0) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.holdWake = undefined;
            resolve();
          };
          const timer = setTimeout(done, ms);
          this.holdWake = done;
        });
      }
    }
    if (this.othersStoredSeq > this.tail.streamSeq) {
      this.stats.turnsTaken++;
      await this.catchUp(this.othersStoredSeq, "announced");
    }
    // A record acked past what this front end read (another front end said so): the stream must hold it before anything is written after.
    const acked = this.deps.witness.acked;
    if (acked !== undefined && acked.seq > this.tail.recordSeq) {
      // Twice, a pause apart: a leader just elected may not answer for what it has not applied yet; a loss is for good.
      for (let look = 0; look < 2 && acked.seq > this.tail.recordSeq; look++) {
        if (look > 0) await pause(1000);
        if (acked.streamSeq > this.tail.streamSeq) await this.catchUp(acked.streamSeq, "announced");
      }
      if (acked.seq > this.tail.recordSeq) {
        throw new DivergedError({
          stream: this.options.stream,
          kind: "behind",
          seq: acked.seq,
          streamSeq: acked.streamSeq,
          found: `the stream leader's copy holds records up to seq ${this.tail.recordSeq} only (stream sequence ${this.tail.streamSeq})`,
          cause: "a replica that lacks acked messages leads the stream",
        });
      }
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
    while (stored < settled.length && settled[stored].status === "fulfilled") stored++;
    if (stored > 0) {
      const ack = (settled[stored - 1] as PromiseFulfilledResult<PubAck>).value;
      const m = out[stored - 1];
      // Durable before any of them is acked: the newest record acked, which no later stream may lack.
      await this.deps.witness.record({ seq: m.range.last, streamSeq: ack.seq, hash: m.tip });
      for (let i = 0; i < stored; i++) this.committed(out[i], (settled[i] as PromiseFulfilledResult<PubAck>).value.seq, seconds);
    }
    this.outstanding = out.slice(stored);
    if (this.outstanding.length === 0) return;
    const err = (settled[stored] as PromiseRejectedResult).reason;
    if (lostRace(err)) {
      // Another front end writes: from now on take turns, and ask for one.
      this.stats.racesLost++;
      this.sharedUntil = Date.now() + SHARED_MS;
      this.turns?.want();
      return this.catchUp(lastSequenceOf(err), "stored");
    }
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
      const builder = new MessageBuilder(messageBytesMax, prev === undefined ? this.tail.recordSeq + 1 : prev.range.last + 1, prev === undefined ? this.tail.hash : prev.tip, this.pendingBytes(messageBytesMax));
      const slots: Slot[] = [];
      while (this.pendingHead < this.pending.length) {
        const slot = this.pending[this.pendingHead];
        if (slot.call.done) {
          this.pendingHead++;
          this.abandon(slot, undefined, true);
          continue;
        }
        const e = slot.call.entries[slot.index];
        // A body the writer made as bytes is copied as they are.
        const added = builder.add(slot, e.eventId, slot.call.head, e.bodyUtf8 !== undefined ? (e as BodyBytes) : e.body, e.clientChosenId === true);
        if (added === "full") break;
        this.pendingHead++;
        if (added === "too-large") {
          failCall(slot.call, ServiceError.invalid("event", `is too large for one JetStream message: the NATS servers take messages of at most ${messageBytesMax} bytes of records (their max_payload)`));
          this.abandon(slot, undefined, true);
          continue;
        }
        slots.push(slot);
      }
      this.compactPending();
      if (slots.length === 0) break;
      const range = { first: builder.first, last: builder.first + slots.length - 1 };
      this.outstanding.push({ id: `${this.idPrefix}.${++this.messageNo}`, slots, range, expectLast, prevId: prev?.id, data: builder.bytes, headers: builder.headers(), tries: 0, tip: builder.tip });
    }
  }

  /**
   * About how many bytes the pending records take in a message, up to `max`:
   * the next message's buffer is made that large at once, not doubled (and
   * copied) as the records are added.
   */
  private pendingBytes(max: number): number {
    let bytes = 0;
    for (let i = this.pendingHead; i < this.pending.length && bytes < max; i++) {
      const slot = this.pending[i];
      const e = slot.call.entries[slot.index];
      bytes += (slot.encodedLength ?? e.eventId.length + slot.call.head.length + (e.bodyUtf8 !== undefined ? e.bodyEnd! - e.bodyStart! : e.body.length)) + RECORD_FRAME_BYTES;
    }
    return bytes;
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
    let ids: string[] = [];
    let seqs: number[] = [];
    let runCall: Call | undefined;
    for (let i = 0; i < m.slots.length; i++) {
      const slot = m.slots[i];
      const { call } = slot;
      const e = call.entries[slot.index];
      const seq = m.range.first + i;
      if (e.clientChosenId) {
        // Into the window by runs of one call (one timestamp): only client-chosen ids can come back as retries.
        if (call !== runCall && ids.length > 0) {
          this.deps.window.addRun(runCall!.timestamp, ids, seqs);
          ids = [];
          seqs = [];
        }
        runCall = call;
        ids.push(e.eventId);
        seqs.push(seq);
        this.known.release(e.eventId, slot);
      }
      const result = { seq, timestamp: call.timestamp, duplicate: false };
      settle(call, slot.index, result);
      if (slot.twins !== undefined) {
        const twin = { seq, timestamp: call.timestamp, duplicate: true };
        for (const t of slot.twins) settle(t.call, t.index, twin);
        slot.twins = undefined;
      }
      slot.encoded = undefined;
    }
    if (ids.length > 0) this.deps.window.addRun(runCall!.timestamp, ids, seqs);
    this.deps.window.advance(m.range.last);
    this.tail = { streamSeq, recordSeq: m.range.last, hash: m.tip };
    this.ownStoredSeq = streamSeq;
    this.ownStoredAt = performance.now();
    this.deps.onMessage?.(streamSeq, m.range);
    this.stats.messages++;
    if (seconds !== undefined) this.deps.observer?.commit?.(m.slots.length, m.data.length, seconds);
    this.deps.onCommitted(m.range.last);
  }

  /**
   * Reads what was stored past the tail: after a lost race (up to the
   * stream's last sequence JetStream named, or asked), or before a round,
   * what another front end announced (the notice is trusted only as far as
   * the messages are there). Messages of ours can only follow the tail, in
   * order (each expected the one before); those found there are stored.
   * Others' records go into the window; then the messages of ours that
   * cannot be stored any more (another message took their place) go back to
   * the front of the queue, and their client event_ids found in the window
   * are answered as duplicates.
   */
  private async catchUp(last: number | undefined, end: "stored" | "announced"): Promise<void> {
    const { stream, readRetryMs, onReadRetry } = this.options;
    const info = () => retrying(() => this.deps.jsm.streams.info(stream), { ms: readRetryMs, onRetry: (err, n) => onReadRetry?.("stream info", err, n) });
    let to = last ?? (await info()).state.last_seq;
    // A long announced stretch is read with a consumer, which must not wait for messages that are not there: the stream's end bounds it.
    if (end === "announced" && to - this.tail.streamSeq > CATCH_UP_GETS_MAX) to = Math.min(to, (await info()).state.last_seq);
    if (to < this.tail.streamSeq && end === "stored") {
      // Asked again after a pause: a leader just elected may not count yet what it has not applied; a loss is for good.
      await pause(1000);
      to = (await info()).state.last_seq;
      if (to >= this.tail.streamSeq) return this.expire(undefined);
    }
    if (to < this.tail.streamSeq && end === "stored") {
      throw new DivergedError({
        stream,
        kind: "behind",
        seq: this.tail.recordSeq,
        streamSeq: this.tail.streamSeq,
        found: `the stream ends at stream sequence ${to}`,
        cause: "the stream leader's copy of the stream ends before records this server read or acked there (a stale replica leads it, or it was purged, or deleted and made again)",
      });
    }
    let s = this.tail.streamSeq + 1;
    let others: StoredMsg | null | undefined;
    while (s <= to && this.outstanding.length > 0) {
      // Whether a message of ours is stored there is the stream leader's word (a replica's copy may have diverged): it is about to be acked.
      const m = await (this.deps.leaderGet ?? this.deps.get)(s);
      if (m === null || m.header?.get(MSG_ID_HEADER) !== this.outstanding[0].id) {
        others = m;
        break;
      }
      const mine = this.outstanding.shift()!;
      await this.deps.witness.record({ seq: mine.range.last, streamSeq: s, hash: mine.tip });
      this.committed(mine, s);
      s++;
    }
    if (s > to) {
      // Nothing but ours past the tail: what is still outstanding may yet be stored, so it is published again as it is.
      this.expire(undefined);
      if (this.outstanding.length > 0) await pause(50);
      return;
    }
    const dead = this.outstanding.splice(0);
    await this.readOthers(s, to, others, end === "stored");
    this.requeue(dead);
    this.answerKnown();
    this.expire(undefined);
  }

  /**
   * Reads other writers' records at stream sequences [from, to] into the
   * window and the tail. A message that is not there is passed over when
   * the stream is known to reach `to` (`through`: it was deleted); else the
   * read stops before it (an announcement ahead of what this server can read).
   */
  private async readOthers(from: number, to: number, first: StoredMsg | null | undefined, through: boolean): Promise<void> {
    if (to - from + 1 <= CATCH_UP_GETS_MAX) {
      const seqs = Array.from({ length: to - from + 1 }, (_, i) => from + i);
      const messages = await Promise.all(seqs.map((s) => (s === from && first !== undefined ? Promise.resolve(first) : this.get(s))));
      for (let i = 0; i < messages.length; i++) {
        let m = messages[i];
        if (m === null && !through) break;
        let range = m === null ? undefined : rangeOfMessage(seqs[i], m.data, m.header);
        let hash = this.tail.hash;
        if (range !== undefined && !this.follows(seqs[i], range, m!)) {
          // A direct get may be answered by a replica whose copy diverged: the stream leader's copy decides.
          const leaderCopy = await (this.deps.leaderGet ?? this.deps.get)(seqs[i]);
          const mended = leaderCopy !== null && this.follows(seqs[i], rangeOfMessage(seqs[i], leaderCopy.data, leaderCopy.header), leaderCopy);
          this.deps.onReadDivergence?.(seqs[i], `the message another front end stored at stream sequence ${seqs[i]}, as a replica answered it, does not chain on this server's tail`, mended);
          if (leaderCopy !== null) {
            m = leaderCopy;
            range = rangeOfMessage(seqs[i], m.data, m.header);
          }
        }
        if (range !== undefined) {
          hash = this.chained(seqs[i], range, m!);
          this.checkWitness(seqs[i], range, hash);
          this.caughtUp(range, clientRecordsOf(seqs[i], m!.data, m!.header));
        }
        this.tail = { streamSeq: seqs[i], recordSeq: this.tail.recordSeq, hash };
        this.deps.onMessage?.(seqs[i], range ?? "none");
      }
    } else {
      const cursor = this.deps.scan(from, to, this.tail.hash);
      try {
        for await (const batch of cursor.batches()) if (batch.length > 0) this.caughtUp({ first: batch[0].seq, last: batch[batch.length - 1].seq }, batch);
      } finally {
        await cursor.close();
      }
      this.tail = { streamSeq: to, recordSeq: this.tail.recordSeq, hash: cursor.tip ?? this.tail.hash };
    }
    this.deps.onCommitted(this.tail.recordSeq);
  }

  /** True when another writer's message chains on this front end's tail and, at the witness's place, is the record acked there. */
  private follows(streamSeq: number, range: SeqRange | undefined, m: StoredMsg): boolean {
    if (range === undefined) return false;
    const link = chainOfHeaders(m.header);
    if (link === undefined) return true;
    if (link.prev !== this.tail.hash && this.tail.hash !== "") return false;
    const acked = this.deps.witness.acked;
    return acked === undefined || acked.streamSeq !== streamSeq || (range.last === acked.seq && link.last === acked.hash);
  }

  /** The message at the witness's stream sequence must be the one acked there. */
  private checkWitness(streamSeq: number, range: SeqRange, hash: string): void {
    const acked = this.deps.witness.acked;
    if (acked === undefined || acked.streamSeq !== streamSeq || (range.last === acked.seq && hash === acked.hash)) return;
    throw new DivergedError({
      stream: this.options.stream,
      kind: "differs",
      seq: acked.seq,
      streamSeq,
      found: `the message there holds seqs ${range.first}-${range.last} ending with hash ${hash.slice(0, 16)}..., not the record acked (hash ${acked.hash.slice(0, 16)}...)`,
      cause: "the stream holds another history than the one that was acked (a replica whose copy diverged leads the stream)",
    });
  }

  /**
   * The chain's tip after another writer's message: its last hash, when it
   * chains on this front end's tip. A message that does not is of another
   * history than the one this front end read and acked (a replica that
   * diverged leads the stream): the writer stops (DivergedError).
   */
  private chained(streamSeq: number, range: SeqRange, m: StoredMsg): string {
    const link = chainOfHeaders(m.header);
    // Records of an earlier version carry no chain; a chained message after them starts it again from "".
    if (link === undefined) return "";
    if (link.prev !== this.tail.hash && this.tail.hash !== "") {
      throw new DivergedError({
        stream: this.options.stream,
        kind: "differs",
        seq: range.first,
        streamSeq,
        found: `the message at stream sequence ${streamSeq} (seqs ${range.first}-${range.last}) chains on hash ${link.prev.slice(0, 16)}..., not on ${this.tail.hash.slice(0, 16)}... of seq ${this.tail.recordSeq} that this server read or acked`,
        cause: "the stream holds another history than the one this server acked (a replica whose copy diverged leads the stream)",
      });
    }
    return link.last;
  }

  /** Records `range` another writer stored (and those of them the window keeps): the window and the tail's last seq move on (a seq that does not follow on is told). */
  private caughtUp(range: SeqRange, remembered: readonly RecordIdentity[]): void {
    if (range.first !== this.tail.recordSeq + 1) this.options.onGap?.(this.tail.recordSeq + 1, range.first, this.tail.streamSeq + 1);
    this.deps.window.addRecords(remembered);
    this.deps.window.advance(range.last);
    this.stats.recordsCaughtUp += range.last - range.first + 1;
    this.tail = { streamSeq: this.tail.streamSeq, recordSeq: Math.max(this.tail.recordSeq, range.last), hash: this.tail.hash };
  }

  private get(seq: number): Promise<StoredMsg | null> {
    return this.deps.get(seq);
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
      this.known.release(e.eventId, slot);
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
    if (this.outstanding.length === 0 && this.pendingCount === 0) return;
    const error = err instanceof ServiceError ? err : new ServiceError(status.UNAVAILABLE, `JetStream did not answer (${(err as Error)?.message ?? String(err)}); nothing of the records was acked`, { cause: err });
    const slots = [...this.outstanding.splice(0).flatMap((m) => m.slots), ...this.pending.slice(this.pendingHead)];
    this.pending = [];
    this.pendingHead = 0;
    this.deps.observer?.failed?.({ stage: "commit", err, appends: new Set(slots.map((s) => s.call)).size, records: slots.length });
    for (const slot of slots) this.abandon(slot, error);
  }

  /**
   * A slot that will not be written: its call fails (when `err` is given).
   * The calls that wait for it as a repeat of its event_id fail too, unless
   * `promote` says the slot was never stored and cannot be (it was never
   * published, or another message took its place): then the first of them
   * that still waits is written in its stead, next.
   */
  private abandon(slot: Slot, err: ServiceError | undefined, promote = false): void {
    const e = slot.call.entries[slot.index];
    if (e.clientChosenId) this.known.release(e.eventId, slot);
    const error = err ?? new ServiceError(status.UNAVAILABLE, `event_id ${e.eventId} was not stored; nothing of it was acked`);
    failCall(slot.call, error);
    const waiting = (slot.twins ?? []).filter((t) => !t.call.done);
    slot.twins = undefined;
    if (promote && waiting.length > 0) {
      const [first, ...rest] = waiting;
      const next: Slot = { call: first.call, index: first.index, twins: rest.length > 0 ? rest : undefined };
      this.known.hold(e, next);
      this.pending.splice(this.pendingHead, 0, next);
      return;
    }
    for (const twin of waiting) failCall(twin.call, error);
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
