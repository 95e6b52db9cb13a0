import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { status, type ClientDuplexStream, type Metadata, type ServiceError } from "@grpc/grpc-js";
import { LearningEventSchema, LearningLogService, type IngestEventsResponse } from "../gen/pulse/learninglog/v1/learning_log_pb.js";
import { Connection, MESSAGE_BYTES_MAX, type ConnectionOptions } from "./connection.js";
import { BufferFull, Cancelled, DeadlineExceeded, errorFor, errorFromCall, Internal, isRetryable, LearningLogError, statusName } from "./errors.js";
import type { CatalogEvent } from "./events.js";
import { WriterEventMethods } from "./generated/event-methods.js";
import type { LearningLogClient } from "./learning-log-client.js";
import type { BatchAck, Rejection } from "./results.js";
import { resolveRun } from "./run-id.js";
import { Signal } from "./signal.js";

/** The server's default limit of events per batch (`--batch-events-max`). */
export const SERVER_BATCH_EVENTS_MAX = 10_000;

// Room a request keeps for its batch_id beside the events.
const BATCH_ID_BYTES_MAX = 16;

// Largest batch: the server's default message limit less room for the batch_id
// (the server's own limit, once it told it, may lower it).
const BATCH_BYTES_LIMIT = MESSAGE_BYTES_MAX - BATCH_ID_BYTES_MAX;

/** Where a writer reports what it gives up or what fails in a callback. Default: `console.error`. */
export interface WriterLogger {
  /** One line about a rejected or dropped event, a fatal error or a failed callback. */
  error(message: string): void;
}

/**
 * Options of a {@link BatchWriter}: how to reach the server (those of
 * {@link ConnectionOptions}, or `client` to share a client's channel), how to
 * batch, how much to buffer, how to retry, and where to report. Every
 * field is optional; times are in milliseconds.
 */
export interface BatchWriterOptions extends ConnectionOptions {
  /** A client whose channel, token and run to share (then address/tls/token must not be given; `run` may, and wins). */
  client?: LearningLogClient;
  /** Events per batch, at most 10,000 (the server's default limit). Default 1,000. */
  batchEventsMax?: number;
  /** Encoded bytes per batch, at most 4 MiB less 16. Default 2 MiB. A single larger event is refused (RangeError). */
  batchBytesMax?: number;
  /** How long an event may wait for its batch to fill before the batch is sent anyway. Default 50. */
  flushIntervalMs?: number;
  /** Batches sent and not yet answered. Default 8. */
  batchesInFlightMax?: number;
  /** Events buffered (logged and not yet answered) at most. Default 100,000. */
  bufferEventsMax?: number;
  /** Encoded bytes buffered at most. Default 64 MiB. */
  bufferBytesMax?: number;
  /**
   * With the buffer full, `"block"` (default): a log call's promise waits
   * for room (at most `blockTimeoutMs` when set, then rejects with
   * {@link BufferFull}); `"raise"`: it rejects with BufferFull at once.
   */
  onFull?: "block" | "raise";
  /** Longest wait for room with `onFull: "block"`. Default: no limit. */
  blockTimeoutMs?: number;
  /** How long the writer may keep failing (retryable statuses) without any batch answered before it gives up (fatal). Default 120,000. */
  retryTimeoutMs?: number;
  /** How long a sent batch may wait for its answer before the stream is abandoned and its batches resent. Default 30,000. */
  ackTimeoutMs?: number;
  /** Idle time (nothing to send or await) after which the stream is ended, so an idle writer never holds up a server's graceful shutdown. Default 1,000. */
  streamIdleTimeoutMs?: number;
  /** Called for each event the server refused (nothing was written for it); all are also in {@link BatchWriter.rejected}. */
  onRejected?: (rejection: Rejection) => void;
  /** Called with the server's answer to each batch, once durable. */
  onBatchAcked?: (ack: BatchAck) => void;
  /**
   * Called for each event given up without an answer: when the writer fails
   * (a fatal status, or `retryTimeoutMs` passed) or is aborted. Such an
   * event may or may not be in the log.
   */
  onDropped?: (rejection: Rejection) => void;
  /** Where rejections, drops and failures are reported too. Default `console.error`. */
  logger?: WriterLogger;
}

/** The writer's counters (see {@link BatchWriter.stats}). */
export interface WriterStats {
  /** Events accepted by log calls. */
  logged: number;
  /** New records the server wrote. */
  written: number;
  /** Resent events the server already had (answered with their original seq, not written again). */
  duplicates: number;
  /** Events the server refused. */
  rejected: number;
  /** Events given up without an answer (see `onDropped`). */
  dropped: number;
  /** Events logged and not yet answered. */
  buffered: number;
  /** Batches answered. */
  batches: number;
  /** Streams re-opened after a failure. */
  retries: number;
}

interface Entry {
  readonly eventId: string;
  /** The encoded LearningEvent. */
  readonly bytes: Uint8Array;
  /** Its size inside a request (with its field tag and length). */
  readonly size: number;
}

interface Batch {
  readonly batchId: number;
  readonly events: Entry[];
  readonly size: number;
  readonly sentAt: number;
}

interface RoomWaiter {
  readonly entry: Entry;
  readonly resolve: (eventId: string) => void;
  readonly reject: (err: unknown) => void;
  timer?: NodeJS.Timeout;
}

function positive(name: string, value: number | undefined, fallback: number, integer: boolean, upper = Infinity): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || value > upper || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be a positive ${integer ? "integer" : "number"}${upper < Infinity ? ` and at most ${upper}` : ""}, got ${String(value)}`);
  }
  return value;
}

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    bytes++;
  }
  return bytes;
}

const consoleLogger: WriterLogger = { error: (message) => console.error(`[pulse-learning-log] ${message}`) };

/**
 * Buffers events and streams them to the server in durable batches over the
 * bidirectional IngestEvents stream: the high-throughput path.
 *
 * Log calls check and encode the event and put it in a bounded buffer; the
 * writer sends the buffer in batches (when a batch is full, `flushIntervalMs`
 * after its first event, or at once on {@link flush} / {@link close}) and the
 * server answers each batch, in order, once it is fsynced.
 *
 * Nothing lost, nothing twice: every event gets its event_id (a UUID) when
 * it is logged and keeps it. A batch stays buffered until the server has
 * answered it; when the stream breaks (server restart, network) the
 * unanswered batches are sent again, with the same event_ids, on a new
 * stream, and the server answers an event it had already written as a
 * duplicate, with its original seq, without writing it again.
 *
 * Retried: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED (backoff with
 * jitter, for at most `retryTimeoutMs` without progress). Any other status
 * is fatal: {@link flush}, {@link close} and later log calls reject with it.
 */
export class BatchWriter extends WriterEventMethods {
  /** Every event the server refused. */
  readonly rejected: Rejection[] = [];

  private readonly connection: Connection;
  private readonly ownsConnection: boolean;
  private readonly ingest: (metadata: Metadata) => ClientDuplexStream<Buffer, IngestEventsResponse>;
  // The options' caps, lowered to the server's limits once it told them (learnServerLimits).
  private batchEventsMax: number;
  private batchBytesMax: number;
  private limitsLearnt = false;
  private readonly flushIntervalMs: number;
  private readonly inflightMax: number;
  private readonly bufferEventsMax: number;
  private readonly bufferBytesMax: number;
  private readonly raiseWhenFull: boolean;
  private readonly blockTimeoutMs: number | undefined;
  private readonly retryTimeoutMs: number;
  private readonly ackTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly onRejected: ((r: Rejection) => void) | undefined;
  private readonly onBatchAcked: ((a: BatchAck) => void) | undefined;
  private readonly onDropped: ((r: Rejection) => void) | undefined;
  private readonly logger: WriterLogger;
  private readonly runId: string | undefined;

  private pending: Entry[] = [];
  private pendingHead = 0;
  private pendingBytes = 0;
  private pendingSince = 0;
  private inflight: Batch[] = [];
  private readonly roomWaiters: RoomWaiter[] = [];
  private bufferedEvents = 0;
  private bufferedBytes = 0;
  private logged = 0;
  private done = 0;
  private written = 0;
  private duplicates = 0;
  private batches = 0;
  private retries = 0;
  private dropped = 0;
  private batchId = 0;
  private flushing = 0;
  private closing = false;
  private closed = false;
  private aborted = false;
  private fatal: LearningLogError | undefined;
  private generation = 0;
  private call: ClientDuplexStream<Buffer, IngestEventsResponse> | undefined;
  private timedOutGeneration = -1;
  private progressSinceFailure = false;
  private readonly changed = new Signal();
  private readonly backoff = new Signal();
  private readonly running: Promise<void>;

  /** Starts the writer; it opens a stream when there is something to send. */
  constructor(options: BatchWriterOptions = {}) {
    super();
    this.batchEventsMax = positive("batchEventsMax", options.batchEventsMax, 1_000, true, SERVER_BATCH_EVENTS_MAX);
    this.batchBytesMax = positive("batchBytesMax", options.batchBytesMax, 2 * 1024 * 1024, true, BATCH_BYTES_LIMIT);
    this.flushIntervalMs = positive("flushIntervalMs", options.flushIntervalMs, 50, false);
    this.inflightMax = positive("batchesInFlightMax", options.batchesInFlightMax, 8, true);
    this.bufferEventsMax = positive("bufferEventsMax", options.bufferEventsMax, 100_000, true);
    this.bufferBytesMax = positive("bufferBytesMax", options.bufferBytesMax, 64 * 1024 * 1024, true);
    if (options.onFull !== undefined && options.onFull !== "block" && options.onFull !== "raise") {
      throw new TypeError(`onFull must be "block" or "raise", got ${String(options.onFull)}`);
    }
    this.raiseWhenFull = options.onFull === "raise";
    this.blockTimeoutMs = options.blockTimeoutMs === undefined ? undefined : positive("blockTimeoutMs", options.blockTimeoutMs, 0, false);
    this.retryTimeoutMs = positive("retryTimeoutMs", options.retryTimeoutMs, 120_000, false);
    this.ackTimeoutMs = positive("ackTimeoutMs", options.ackTimeoutMs, 30_000, false);
    this.idleTimeoutMs = positive("streamIdleTimeoutMs", options.streamIdleTimeoutMs, 1_000, false);
    this.onRejected = options.onRejected;
    this.onBatchAcked = options.onBatchAcked;
    this.onDropped = options.onDropped;
    this.logger = options.logger ?? consoleLogger;

    if (options.client !== undefined) {
      if (options.address !== undefined || options.tls !== undefined || options.token !== undefined) {
        throw new TypeError("give either client or address/tls/token, not both");
      }
      this.connection = options.client.connection;
      this.ownsConnection = false;
    } else {
      this.connection = new Connection(options);
      this.ownsConnection = true;
    }
    // Each event carries the run itself (LearningEvent.run), so a writer's
    // events keep their run whatever stream or channel they are sent on.
    this.runId = options.run !== undefined ? resolveRun(options.run) : this.connection.options.run;
    // Requests are assembled as bytes from the events encoded at log time.
    const client = this.connection.client(LearningLogService, new Set(["ingestEvents"])) as unknown as Record<string, (m: unknown, o: unknown) => unknown>;
    this.ingest = (metadata) => client.ingestEvents.call(client, metadata, {}) as ClientDuplexStream<Buffer, IngestEventsResponse>;
    this.running = this.drive();
  }

  // -- logging ----------------------------------------------------------------

  /**
   * Checks, encodes and buffers one catalog event; resolves with its
   * event_id once it is buffered (at once unless the buffer is full).
   */
  private add(event: CatalogEvent, eventId: string): Promise<string> {
    let bytes: Uint8Array;
    try {
      bytes = toBinary(LearningEventSchema, create(LearningEventSchema, { event, run: this.runId }));
    } catch (err) {
      return Promise.reject(new TypeError(`the ${event.case} event cannot be encoded: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
    const size = bytes.length + 1 + varintBytes(bytes.length);
    if (size > this.batchBytesMax) return Promise.reject(new RangeError(`event of ${size} bytes is larger than batchBytesMax (${this.batchBytesMax})`));
    const stateError = this.stateError();
    if (stateError !== undefined) return Promise.reject(stateError);
    const entry: Entry = { eventId, bytes, size };
    if (this.roomWaiters.length === 0 && this.hasRoom(size)) {
      this.admit(entry);
      return Promise.resolve(eventId);
    }
    if (this.raiseWhenFull) return Promise.reject(new BufferFull(`buffer full (${this.bufferedEvents} events, ${this.bufferedBytes} bytes)`));
    return new Promise<string>((resolve, reject) => {
      const waiter: RoomWaiter = { entry, resolve, reject };
      if (this.blockTimeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          const i = this.roomWaiters.indexOf(waiter);
          if (i >= 0) this.roomWaiters.splice(i, 1);
          reject(new BufferFull(`buffer still full after ${this.blockTimeoutMs} ms (${this.bufferedEvents} events)`));
        }, this.blockTimeoutMs);
      }
      this.roomWaiters.push(waiter);
    });
  }

  private hasRoom(size: number): boolean {
    return this.bufferedEvents === 0 || (this.bufferedEvents < this.bufferEventsMax && this.bufferedBytes + size <= this.bufferBytesMax);
  }

  private admit(entry: Entry): void {
    const wasEmpty = this.pendingCount() === 0;
    if (wasEmpty) this.pendingSince = performance.now();
    this.pending.push(entry);
    this.pendingBytes += entry.size;
    this.bufferedEvents += 1;
    this.bufferedBytes += entry.size;
    this.logged += 1;
    // Wake the sender only when that changes what it waits for: the first
    // event starts the flush interval, a full batch is due now. Waking it
    // per event cost ~4 us of client CPU per event (a timer each time).
    if (wasEmpty || this.pendingCount() % this.batchEventsMax === 0 || this.pendingBytes >= this.batchBytesMax) this.changed.notify();
  }

  /** Buffers waiting log calls, in order, while there is room. */
  private admitWaiters(): void {
    while (this.roomWaiters.length > 0 && this.fatal === undefined && !this.closing && this.hasRoom(this.roomWaiters[0].entry.size)) {
      const waiter = this.roomWaiters.shift()!;
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      this.admit(waiter.entry);
      waiter.resolve(waiter.entry.eventId);
    }
  }

  private rejectWaiters(err: LearningLogError): void {
    for (const waiter of this.roomWaiters.splice(0)) {
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }

  private stateError(): LearningLogError | undefined {
    if (this.fatal !== undefined) return this.fatal;
    if (this.closing) return errorFor(status.FAILED_PRECONDITION, "the BatchWriter is closed");
    return undefined;
  }

  // The log* methods (one per event of the proto, each calling tryAdd with
  // its event's builder) are generated into WriterEventMethods.

  protected override tryAdd(build: () => CatalogEvent, eventId: string): Promise<string> {
    let event: CatalogEvent;
    try {
      event = build();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.add(event, eventId);
  }

  // -- flush and close --------------------------------------------------------

  /**
   * Sends everything buffered now and resolves once every event logged
   * before the call is answered: durable on the server, or rejected (see
   * {@link rejected}). Rejects with the fatal error if the writer failed,
   * and with DeadlineExceeded if `timeoutMs` passes first.
   */
  async flush(options: { timeoutMs?: number } = {}): Promise<void> {
    const end = options.timeoutMs === undefined ? Infinity : performance.now() + options.timeoutMs;
    const target = this.logged;
    this.flushing += 1;
    this.changed.notify();
    try {
      while (this.done < target && this.fatal === undefined) {
        const left = end - performance.now();
        if (left <= 0) throw new DeadlineExceeded(status.DEADLINE_EXCEEDED, `flush: ${target - this.done} events still not durable after ${options.timeoutMs} ms`);
        await this.changed.wait(left);
      }
    } finally {
      this.flushing -= 1;
    }
    if (this.fatal !== undefined) throw this.fatal;
  }

  /**
   * Flushes, ends the stream and closes the channel (when the writer owns
   * it); later log calls reject. Rejects with the fatal error if the writer
   * failed (events not yet durable then were dropped, see `onDropped`), and
   * with DeadlineExceeded if `timeoutMs` passes first (the writer keeps
   * closing in the background; {@link abort} stops it).
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing = true;
    this.rejectWaiters(errorFor(status.FAILED_PRECONDITION, "the BatchWriter was closed while this event waited for room"));
    this.changed.notify();
    if (options.timeoutMs === undefined) {
      await this.running;
    } else {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), options.timeoutMs);
      });
      const outcome = await Promise.race([this.running, late]);
      clearTimeout(timer);
      if (outcome === "late") throw new DeadlineExceeded(status.DEADLINE_EXCEEDED, `close: ${this.bufferedEvents} events still not durable after ${options.timeoutMs} ms`);
    }
    this.release();
    if (this.fatal !== undefined) throw this.fatal;
  }

  /**
   * Stops at once: buffered events not yet answered are dropped (they may
   * or may not be durable) and reported to `onDropped`. Later calls reject
   * with Cancelled.
   */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.aborted = true;
    if (this.fatal === undefined) this.fatal = new Cancelled(status.CANCELLED, "BatchWriter aborted");
    this.closing = true;
    this.rejectWaiters(this.fatal);
    this.call?.cancel();
    this.changed.notify();
    this.backoff.notify();
    await this.running;
    this.dropUnanswered();
    this.release();
  }

  /**
   * {@link close} within `timeoutMs` (default 10,000), then {@link abort}:
   * what is still not durable is dropped, logged and passed to `onDropped`.
   * Never rejects (a fatal error was reported when it happened). For a
   * shutdown path that must end.
   */
  async closeOrAbort(timeoutMs = 10_000): Promise<void> {
    try {
      await this.close({ timeoutMs });
    } catch (err) {
      if (this.fatal === undefined && err instanceof DeadlineExceeded) {
        this.logger.error(`BatchWriter: ${this.bufferedEvents} events still not durable after ${timeoutMs} ms; giving them up`);
        await this.abort();
      }
    }
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsConnection) this.connection.close();
  }

  /** Closes the writer: `await using writer = new BatchWriter(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // -- state ------------------------------------------------------------------

  /** The run every event of this writer carries, or undefined for none. */
  get run(): string | undefined {
    return this.runId;
  }

  /** Events logged and not yet answered by the server. */
  get buffered(): number {
    return this.bufferedEvents;
  }

  /** The fatal error, once the writer has failed (or was aborted). */
  get error(): LearningLogError | undefined {
    return this.fatal;
  }

  /** The writer's counters. */
  stats(): WriterStats {
    return {
      logged: this.logged,
      written: this.written,
      duplicates: this.duplicates,
      rejected: this.rejected.length,
      dropped: this.dropped,
      buffered: this.bufferedEvents,
      batches: this.batches,
      retries: this.retries,
    };
  }

  // -- the stream loop --------------------------------------------------------

  private pendingCount(): number {
    return this.pending.length - this.pendingHead;
  }

  private async drive(): Promise<void> {
    try {
      await this.streamLoop();
    } catch (err) {
      this.fail(err instanceof LearningLogError ? err : new Internal(status.INTERNAL, `BatchWriter failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  }

  /** Opens a stream whenever there is something to send and re-opens it after a retryable failure. */
  private async streamLoop(): Promise<void> {
    let failingSince: number | undefined;
    let attempt = 0;
    for (;;) {
      if (!this.limitsLearnt) await this.learnServerLimits();
      while (this.pendingCount() === 0 && !this.closing && this.fatal === undefined) await this.changed.wait();
      if (this.fatal !== undefined || (this.closing && this.pendingCount() === 0 && this.inflight.length === 0)) return;
      this.progressSinceFailure = false;
      const failure = await this.stream();
      if (this.progressSinceFailure) {
        failingSince = undefined;
        attempt = 0;
      }
      if (failure === undefined) continue;
      if (this.fatal !== undefined) return;
      let code = failure.code as status;
      if (code === status.CANCELLED && this.timedOutGeneration === this.generation - 1) code = status.DEADLINE_EXCEEDED;
      if (isRetryable(code, failure.details) && !this.aborted) {
        const now = performance.now();
        failingSince ??= now;
        if (now - failingSince < this.retryTimeoutMs) {
          attempt += 1;
          this.retries += 1;
          await this.backoff.wait(this.connection.backoffMs(attempt));
          continue;
        }
      }
      this.fail(errorFromCall(failure, code));
      return;
    }
  }

  /**
   * Sizes batches to the server's limits (GetServerInfo, asked once per
   * connection: first when the writer starts, so usually before any event,
   * then before each stream until the server answers). The caps become the
   * smaller of the options and the server's limits.
   */
  private async learnServerLimits(): Promise<void> {
    const limits = await this.connection.serverLimits();
    if (limits === undefined) return;
    this.limitsLearnt = true;
    this.batchEventsMax = Math.min(this.batchEventsMax, limits.batchEventsMax);
    this.batchBytesMax = Math.max(1, Math.min(this.batchBytesMax, limits.messageBytesMax - BATCH_ID_BYTES_MAX));
  }

  /**
   * One IngestEvents call: sends batches and reads their answers until the
   * call ends. Resolves with the failure, or undefined when it ended OK
   * (after our half-close: every batch was answered).
   */
  private async stream(): Promise<ServiceError | undefined> {
    const call = this.ingest(this.connection.metadata());
    const generation = this.generation;
    this.call = call;
    let markEnded = () => {};
    const ended = new Promise<void>((resolve) => {
      markEnded = resolve;
    });
    const sending = this.send(call, generation, ended);
    let failure: ServiceError | undefined;
    try {
      for await (const response of call as AsyncIterable<IngestEventsResponse>) {
        this.onResponse(response);
        this.progressSinceFailure = true;
      }
    } catch (err) {
      if (err instanceof ProtocolError) {
        call.cancel();
        throw new Internal(status.INTERNAL, `IngestEvents: ${err.message}`);
      }
      failure = err as ServiceError;
    } finally {
      markEnded();
      this.endStream(generation);
      await sending;
    }
    return failure;
  }

  /** The sending side of one call: batches out when due, half-close when done or idle. */
  private async send(call: ClientDuplexStream<Buffer, IngestEventsResponse>, generation: number, ended: Promise<void>): Promise<void> {
    let idleSince = performance.now();
    for (;;) {
      if (this.generation !== generation || this.fatal !== undefined) return;
      const now = performance.now();
      let timeout = Infinity;
      if (this.inflight.length > 0) {
        idleSince = now;
        const age = now - this.inflight[0].sentAt;
        if (age >= this.ackTimeoutMs) {
          this.timedOutGeneration = generation;
          call.cancel();
          return;
        }
        timeout = this.ackTimeoutMs - age;
      }
      if (this.pendingCount() > 0) {
        idleSince = now;
        if (this.inflight.length < this.inflightMax) {
          const due =
            this.closing ||
            this.flushing > 0 ||
            this.pendingCount() >= this.batchEventsMax ||
            this.pendingBytes >= this.batchBytesMax ||
            now - this.pendingSince >= this.flushIntervalMs;
          if (due) {
            const batch = this.takeBatch(now);
            if (!call.write(this.encodeBatch(batch))) await this.drained(call, ended);
            continue;
          }
          timeout = Math.min(timeout, this.pendingSince + this.flushIntervalMs - now);
        }
      } else if (this.closing) {
        call.end(); // half-close: the server answers what it has, then ends the call
        return;
      } else if (this.inflight.length === 0) {
        const idleLeft = idleSince + this.idleTimeoutMs - now;
        if (idleLeft <= 0) {
          call.end();
          return;
        }
        timeout = Math.min(timeout, idleLeft);
      }
      await this.changed.wait(timeout);
    }
  }

  /** Waits until the call can take more, or has ended. */
  private async drained(call: ClientDuplexStream<Buffer, IngestEventsResponse>, ended: Promise<void>): Promise<void> {
    const stop = new AbortController();
    try {
      await Promise.race([once(call, "drain", { signal: stop.signal }), ended]);
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    } finally {
      stop.abort();
    }
  }

  /** Moves the oldest pending events into a new in-flight batch. */
  private takeBatch(now: number): Batch {
    const events: Entry[] = [];
    let size = 0;
    while (this.pendingHead < this.pending.length && events.length < this.batchEventsMax) {
      const entry = this.pending[this.pendingHead];
      if (events.length > 0 && size + entry.size > this.batchBytesMax) break;
      events.push(entry);
      size += entry.size;
      this.pendingHead += 1;
    }
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    this.pendingBytes -= size;
    this.batchId += 1;
    const batch: Batch = { batchId: this.batchId, events, size, sentAt: now };
    this.inflight.push(batch);
    return batch;
  }

  /** An IngestEventsRequest from the events' own bytes: batch_id (field 1), then each event (field 2). */
  private encodeBatch(batch: Batch): Buffer {
    const writer = new BinaryWriter();
    writer.tag(1, WireType.Varint).uint64(batch.batchId);
    for (const entry of batch.events) writer.tag(2, WireType.LengthDelimited).bytes(entry.bytes);
    const bytes = writer.finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private onResponse(response: IngestEventsResponse): void {
    const batch = this.inflight[0];
    if (batch === undefined || BigInt(batch.batchId) !== response.batchId) {
      throw new ProtocolError(`answer for batch ${response.batchId}, expected ${batch?.batchId ?? "none"}`);
    }
    const n = batch.events.length;
    const rejections: Rejection[] = [];
    for (const e of response.errors) {
      const entry = batch.events[e.index];
      if (entry === undefined) throw new ProtocolError(`error index ${e.index} outside batch ${batch.batchId} of ${n} events`);
      rejections.push({ eventId: entry.eventId, code: e.code as status, message: e.message, event: fromBinary(LearningEventSchema, entry.bytes) });
    }
    this.inflight.shift();
    this.bufferedEvents -= n;
    this.bufferedBytes -= batch.size;
    this.done += n;
    this.written += response.count - response.duplicates;
    this.duplicates += response.duplicates;
    this.batches += 1;
    this.rejected.push(...rejections);
    for (const r of rejections) {
      this.logger.error(`the server refused event ${r.eventId} (${statusName(r.code)}: ${r.message}); it was not written`);
      this.callback(this.onRejected, r);
    }
    if (this.onBatchAcked !== undefined) {
      const ack: BatchAck = {
        batchId: batch.batchId,
        size: n,
        count: response.count,
        duplicates: response.duplicates,
        firstSeq: Number(response.firstSeq),
        lastSeq: Number(response.lastSeq),
        rejections,
      };
      this.callback(this.onBatchAcked, ack);
    }
    this.admitWaiters();
    this.changed.notify();
  }

  private callback<T>(callback: ((value: T) => void) | undefined, value: T): void {
    if (callback === undefined) return;
    try {
      callback(value);
    } catch (err) {
      // A user's callback must not stop the writer.
      this.logger.error(`BatchWriter callback failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }

  /** The call ended: unanswered batches go back to the front of the buffer, in order, to be resent. */
  private endStream(generation: number): void {
    if (this.generation === generation) this.generation += 1;
    this.call = undefined;
    if (this.inflight.length > 0) {
      const resend = this.inflight.flatMap((b) => b.events);
      this.pendingBytes += this.inflight.reduce((sum, b) => sum + b.size, 0);
      this.pending = [...resend, ...this.pending.slice(this.pendingHead)];
      this.pendingHead = 0;
      this.inflight = [];
      // They have waited already: send them as soon as a stream is up.
      this.pendingSince = performance.now() - this.flushIntervalMs;
    }
    this.changed.notify();
  }

  private fail(error: LearningLogError): void {
    if (this.fatal === undefined) this.fatal = error;
    this.generation += 1;
    this.logger.error(`BatchWriter failed: ${error.message}`);
    this.rejectWaiters(this.fatal);
    this.dropUnanswered();
    this.changed.notify();
  }

  /** After a fatal error or an abort: gives up every event not yet answered and reports each. */
  private dropUnanswered(): void {
    const events = [...this.inflight.flatMap((b) => b.events), ...this.pending.slice(this.pendingHead)];
    this.inflight = [];
    this.pending = [];
    this.pendingHead = 0;
    this.pendingBytes = 0;
    this.bufferedEvents = 0;
    this.bufferedBytes = 0;
    this.done += events.length;
    this.dropped += events.length;
    this.changed.notify();
    const error = this.fatal;
    if (events.length === 0 || error === undefined) return;
    this.logger.error(
      `BatchWriter gave up ${events.length} events without an answer (${statusName(error.code)}: ${error.details}); they may or may not be in the log. First event_ids: ${events
        .slice(0, 5)
        .map((e) => e.eventId)
        .join(", ")}`,
    );
    for (const e of events) this.callback(this.onDropped, { eventId: e.eventId, code: error.code, message: error.details, event: fromBinary(LearningEventSchema, e.bytes) });
  }
}

/** The server's answers do not match what was sent: a bug on one side, fatal. */
class ProtocolError extends Error {}
