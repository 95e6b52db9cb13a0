import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  EventAckSchema,
  EventErrorSchema,
  type IngestEventsRequest,
  type IngestEventsResponseSchema,
  type LogBatchRequest,
  type LogBatchResponseSchema,
  type StreamEventsRequest,
  type StreamEventsResponseSchema,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../errors.js";
import type { BatchOutcome, EventErrorData, EventWriter } from "../events/event-writer.js";
import { toAck } from "../events/event-writer.js";
import { shutdownFanout } from "./shutdown-fanout.js";
import { requestWireBytes, type CallContext } from "../rpc/grpc-adapter.js";
import { ReadBudget } from "../rpc/read-budget.js";
import { callRun } from "../runs/call-run.js";
import { batchRequestBytes } from "../ingest/batch-request-bytes.js";
import type { IngestPool } from "../ingest/ingest-pool.js";
import { PooledWrites } from "../ingest/pooled-writes.js";

/** Options of the batch and stream handlers. */
export interface IngestOptions {
  /** Batches of one IngestEvents stream being written at once (read-ahead). Default 8. */
  streamBatchesInFlightMax?: number;
  /**
   * Request bytes, as they came on the wire, that all IngestEvents and
   * StreamEvents streams together hold: read and not yet written (waiting
   * for room in the write queue, or being written). Every read takes from
   * it, a stream's first batch too, so memory does not grow with the number
   * of streams: past it, streams stop reading and HTTP/2 flow control stops
   * their clients, each stream getting its turn in order. A decoded batch is
   * about ten times its wire bytes on the heap. Default 4 MiB, or the
   * write queue's bound when smaller (`streamReadBudget` wins).
   */
  streamReadBytesMax?: number;
  /**
   * The write queue's bound (--queue-bytes-max): the default read budget is
   * no larger, since batches read beyond what the queue admits only wait.
   */
  queueBytesMax?: number;
  /** The budget itself, e.g. shared with other handlers or watched by a test. Default: one of streamReadBytesMax. */
  streamReadBudget?: ReadBudget;
  /**
   * Aborted when the server shuts down: streams stop reading, answer what
   * they already took, then end with UNAVAILABLE so clients resend the rest
   * elsewhere or later (with the same event_ids, so nothing is duplicated).
   */
  shutdown?: AbortSignal;
  /**
   * Ingest workers that decode, check and encode batch requests: the
   * server then hands the handlers batch requests as their wire bytes
   * (src/ingest/batch-request-bytes.ts). Absent: all in this thread.
   */
  pool?: IngestPool;
}

/** Default of {@link IngestOptions.streamReadBytesMax}. */
export const STREAM_READ_BYTES_MAX_DEFAULT = 4 * 2 ** 20;

/**
 * What a stream reserves for its first read, before it knows its clients'
 * message size (later reads reserve the size of the last one): the HTTP/2
 * window a stream may have in flight anyway.
 */
const FIRST_READ_RESERVE_BYTES = 65_535;

const shuttingDown = () => new ServiceError(status.UNAVAILABLE, "server is shutting down; resend unanswered batches");

function seqRange(outcome: BatchOutcome): { first: bigint; last: bigint; duplicates: number; timestamp: string } {
  let first = 0;
  let last = 0;
  let duplicates = 0;
  let timestamp = "";
  for (const r of outcome.results) {
    if (r.duplicate) duplicates++;
    if (first === 0 || r.seq < first) first = r.seq;
    if (r.seq > last) {
      last = r.seq;
      timestamp = r.timestamp;
    }
  }
  return { first: BigInt(first), last: BigInt(last), duplicates, timestamp };
}

/** A redacted path relative to its record (`data.email`), as a lone event's ack names it, without the batch's `events[3].`. */
const EVENT_PREFIX = /^events\[\d+\]\./;
const recordPaths = (paths: string[]) => paths.map((p) => p.replace(EVENT_PREFIX, ""));
const redactedOf = (outcome: BatchOutcome, position: number) => {
  const paths = outcome.redacted.get(position);
  return paths && recordPaths(paths);
};

/**
 * The outcome's redactions by request index: `outcome.redacted` counts
 * positions among the accepted events, which skip the rejected ones.
 */
export function redactionsByRequestIndex(outcome: BatchOutcome): Array<{ index: number; fields: string[] }> {
  if (outcome.redacted.size === 0) return [];
  const rejected = outcome.errors.map((e) => e.index).sort((a, b) => a - b);
  const out: Array<{ index: number; fields: string[] }> = [];
  for (const [position, fields] of [...outcome.redacted].sort((a, b) => a[0] - b[0])) {
    // The request index of accepted position p is p plus the rejected indices at or before it.
    let index = position;
    for (const r of rejected) {
      if (r <= index) index++;
      else break;
    }
    out.push({ index, fields: recordPaths(fields) });
  }
  return out;
}

/** The batch's per-event errors as sent: message and field violations, as a lone call's status has them. */
const errorMessages = (errors: EventErrorData[]) => errors.map((e) => create(EventErrorSchema, { index: e.index, code: e.code, message: e.message, fieldViolations: e.violations.map((v) => ({ field: v.field, description: v.description })) }));

/**
 * Marks a promise as observed (its rejection is read later, or never when
 * the call ends first) and returns it unchanged: an abandoned rejection must
 * not reach the process as an unhandled one.
 */
function observedLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** A promise rejected with the call's cancellation once `signal` aborts, for one race; `release` removes its listener. */
function cancelled(signal: AbortSignal): { promise: Promise<never>; release: () => void } {
  let release = () => {};
  const promise = new Promise<never>((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    release = () => signal.removeEventListener("abort", abort);
  });
  promise.catch(() => undefined);
  return { promise, release };
}

/**
 * The batch and streaming RPCs of the learning log service. They share the
 * event writer with the unary RPCs; streams wait for room in the write queue
 * instead of failing, which stops reading from the client (flow control).
 */
export function createIngestHandlers(writer: EventWriter, options: IngestOptions = {}) {
  const inFlightMax = options.streamBatchesInFlightMax ?? 8;
  // Request bytes all streams hold (the one bound of read-ahead, see streamReadBytesMax).
  const budget = options.streamReadBudget ?? new ReadBudget(options.streamReadBytesMax ?? Math.min(STREAM_READ_BYTES_MAX_DEFAULT, options.queueBytesMax ?? Infinity));
  const shutdown = options.shutdown ?? new AbortController().signal;
  const stopping = shutdownFanout(shutdown);
  /**
   * A promise that settles when shutdown starts, for one race only: its
   * waiter is removed after the race. (Racing a long-lived promise instead
   * would leave one reaction per batch on it, each holding its batch alive.)
   */
  const stopSignal = (): { stopped: Promise<"stopped">; release: () => void } => {
    let release = () => {};
    const stopped = new Promise<"stopped">((resolve) => {
      release = stopping.onShutdown(() => resolve("stopped"));
    });
    return { stopped, release };
  };

  /**
   * One stream's reads under the budget: `reserve` before each read, `took`
   * once its message came (the reservation becomes the message's bytes,
   * given back by `done` when it is written), `close` when the stream ends.
   */
  const streamReads = () => {
    let estimate = FIRST_READ_RESERVE_BYTES;
    let reserved = 0;
    let pending: { cancel: () => boolean } | undefined;
    let closed = false;
    return {
      /** Reserves room to read one message of about the last one's size: undefined when reserved at once, else settles when reserved. */
      reserve: (): Promise<void> | undefined => {
        const r = budget.reserve(estimate);
        if (r.granted === undefined) {
          reserved = estimate;
          return undefined;
        }
        pending = r;
        return r.granted.then(() => {
          // Closed meanwhile: close() gave the room back already.
          if (closed) return;
          pending = undefined;
          reserved = estimate;
        });
      },
      /** The message read: its bytes replace the reservation; returns them, for `done`. */
      took: (request: object): number => {
        const bytes = requestWireBytes(request) ?? batchRequestBytes(request)?.byteLength ?? reserved;
        budget.adjust(bytes - reserved);
        reserved = 0;
        estimate = Math.max(1, bytes);
        return bytes;
      },
      done: (bytes: number) => budget.release(bytes),
      /** Gives back a reservation not used (the stream ended, or stops reading). */
      close: () => {
        closed = true;
        if (pending?.cancel()) budget.release(estimate);
        pending = undefined;
        budget.release(reserved);
        reserved = 0;
      },
    };
  };

  // Not async: only the batch id is kept while the batch waits for its fsync, not the request.
  const answerBatch = (request: IngestEventsRequest, run: string | undefined, pooled: PooledWrites | undefined): Promise<MessageInitShape<typeof IngestEventsResponseSchema>> => {
    const bytes = batchRequestBytes(request);
    if (bytes !== undefined && pooled !== undefined) return pooled.write(bytes, { run }).then(({ outcome, batchId }) => answerOf(outcome, batchId));
    const batchId = request.batchId;
    // Settled now: a request that does not decode ends the stream here, before later ones are read.
    return writer.writeBatch(writer.settle(request.events), { wait: true, run }).then((outcome) => answerOf(outcome, batchId));
  };

  /** The answer to one IngestEvents batch. */
  const answerOf = (outcome: BatchOutcome, batchId: bigint): MessageInitShape<typeof IngestEventsResponseSchema> => {
    {
      const range = seqRange(outcome);
      return {
        batchId,
        firstSeq: range.first,
        lastSeq: range.last,
        count: outcome.results.length,
        duplicates: range.duplicates,
        errors: errorMessages(outcome.errors),
        timestamp: range.timestamp,
        redactions: redactionsByRequestIndex(outcome).map((r) => ({ ...r, details: writer.explainRedactions(r.fields) })),
      };
    }
  };

  /** Writes a batch taken from a stream, giving its bytes back to the budget once written (or failed). */
  const written = <T>(bytes: number, reads: ReturnType<typeof streamReads>, write: () => Promise<T>): Promise<T> => {
    let p: Promise<T>;
    try {
      p = write();
    } catch (err) {
      reads.done(bytes);
      throw err;
    }
    void p.then(
      () => reads.done(bytes),
      () => reads.done(bytes),
    );
    return p;
  };

  return {
    /**
     * Reads ahead up to inFlightMax batches while earlier ones commit, each
     * read within the shared byte budget, and answers strictly in order. A
     * storage failure ends the stream with its status; unanswered batches
     * were not acked and are safe to resend.
     */
    async *ingestEvents(requests: AsyncIterable<IngestEventsRequest>, ctx: CallContext): AsyncIterable<MessageInitShape<typeof IngestEventsResponseSchema>> {
      const run = callRun(ctx.metadata);
      // Batches prepared on the ingest workers are appended in the order they came.
      const pooled = options.pool === undefined ? undefined : new PooledWrites(writer, options.pool);
      const iterator = requests[Symbol.asyncIterator]();
      const inFlight: Array<Promise<MessageInitShape<typeof IngestEventsResponseSchema>>> = [];
      const reads = streamReads();
      // Waiting for room in the budget to read (nothing is read meanwhile).
      let reserving: Promise<"reserved"> | undefined;
      // A read under way, its room reserved. Every read is observed at once:
      // when a failed batch ends this generator, a read still pending is left
      // behind, and it rejects with the very status the call ends with.
      let reading: Promise<IteratorResult<IngestEventsRequest>> | undefined;
      let ended = false;
      let draining = false;
      let next: "reserved" | "answered" | "stopped" | IteratorResult<IngestEventsRequest> | undefined;
      try {
        for (;;) {
          // One read may be under way while this stream's read-ahead is full; its batch is taken once one is answered.
          if (!ended && !draining && reserving === undefined && reading === undefined) {
            const waiting = reads.reserve();
            if (waiting === undefined) reading = observedLater(iterator.next());
            else reserving = observedLater(waiting.then(() => "reserved" as const));
          }
          if (reserving === undefined && reading === undefined && inFlight.length === 0) break;
          const head = inFlight.length > 0 ? inFlight[0].then(() => "answered" as const) : undefined;
          const waits: Array<Promise<"reserved" | "answered" | "stopped" | IteratorResult<IngestEventsRequest>>> = [];
          if (reserving) waits.push(reserving);
          if (reading && inFlight.length < inFlightMax) waits.push(reading);
          if (head) waits.push(head);
          const stop = draining ? undefined : stopSignal();
          if (stop) waits.push(stop.stopped);
          // A client gone while its stream waits for room ends it now, not at its turn.
          const gone = reserving ? cancelled(ctx.signal) : undefined;
          if (gone) waits.push(gone.promise);
          next = await Promise.race(waits);
          stop?.release();
          gone?.release();
          if (next === "stopped") {
            // Take nothing more; answer what was taken, then say why we stop.
            draining = true;
            reserving = undefined;
            reading = undefined;
            reads.close();
            continue;
          }
          if (next === "answered") {
            yield await inFlight.shift()!;
            continue;
          }
          if (next === "reserved") {
            reserving = undefined;
            reading = observedLater(iterator.next());
            continue;
          }
          reading = undefined;
          if (next.done) {
            ended = true;
            reads.close();
            continue;
          }
          const request = next.value;
          // Not kept in this frame while it waits for its next read: the batch is held (and counted) by its write only.
          next = undefined;
          const bytes = reads.took(request);
          inFlight.push(observedLater(written(bytes, reads, () => answerBatch(request, run, pooled)))); // read when its turn comes
          if (shutdown.aborted) {
            draining = true;
            reads.close();
          }
        }
        if (draining) throw shuttingDown();
      } finally {
        // A reservation or a read left pending gives its room back; batches in flight give theirs once written.
        reads.close();
        inFlight.length = 0;
        // Not awaited: with a read still pending (stopped while waiting for the
        // client), an async generator's return() waits behind that read.
        iterator.return?.()?.catch(() => undefined);
      }
    },

    /** Client stream: one summary answer once everything received is durable; reads within the shared byte budget. */
    async streamEvents(requests: AsyncIterable<StreamEventsRequest>, ctx: CallContext): Promise<MessageInitShape<typeof StreamEventsResponseSchema>> {
      const run = callRun(ctx.metadata);
      const pooled = options.pool === undefined ? undefined : new PooledWrites(writer, options.pool);
      const writes: Array<Promise<BatchOutcome>> = [];
      const reads = streamReads();
      const iterator = requests[Symbol.asyncIterator]();
      let index = 0;
      try {
        for (;;) {
          // Keep a bounded number of writes pending.
          if (writes.length >= inFlightMax * 4) await writes[writes.length - inFlightMax * 4];
          const waiting = reads.reserve();
          if (waiting !== undefined) {
            const gone = cancelled(ctx.signal);
            await Promise.race([waiting, gone.promise]).finally(gone.release);
          }
          const next = await iterator.next();
          if (next.done) break;
          const request = next.value;
          // Leaves the request to its write (see ingestEvents): the result object is not held across the next read.
          (next as { value?: unknown }).value = undefined;
          const bytes = reads.took(request);
          if (shutdown.aborted) {
            reads.done(bytes);
            // Nothing of this call is acked: the client resends it all; event_ids make that safe.
            await Promise.allSettled(writes);
            throw shuttingDown();
          }
          const base = index;
          const raw = batchRequestBytes(request);
          if (raw !== undefined && pooled !== undefined) {
            // Counted before the bytes go to a worker: the next batch's numbering starts after these.
            index += raw.eventCount;
            writes.push(observedLater(written(bytes, reads, () => pooled.write(raw, { run, indexBase: base }).then((w) => w.outcome))));
            continue;
          }
          writes.push(
            observedLater(
              written(bytes, reads, () => {
                // Settled now: a request that does not decode ends the call here, before later ones are read.
                const events = writer.settle(request.events, { indexBase: base });
                return writer.writeBatch(events, { wait: true, indexBase: base, run });
              }),
            ),
          ); // awaited below
          index += request.events.length;
        }
      } finally {
        reads.close();
        iterator.return?.()?.catch(() => undefined);
      }
      let count = 0;
      let duplicates = 0;
      let first = 0n;
      let last = 0n;
      const errors: EventErrorData[] = [];
      for (const outcome of await Promise.all(writes)) {
        const range = seqRange(outcome);
        count += outcome.results.length;
        duplicates += range.duplicates;
        if (range.first !== 0n && (first === 0n || range.first < first)) first = range.first;
        if (range.last > last) last = range.last;
        errors.push(...outcome.errors);
      }
      return { count: BigInt(count), duplicates: BigInt(duplicates), firstSeq: first, lastSeq: last, errors: errorMessages(errors) };
    },

    /** Unary batch with partial success (OTLP-style). */
    async logBatch(request: LogBatchRequest, ctx: CallContext): Promise<MessageInitShape<typeof LogBatchResponseSchema>> {
      const run = callRun(ctx.metadata);
      const raw = batchRequestBytes(request);
      const outcome = raw !== undefined && options.pool !== undefined ? (await new PooledWrites(writer, options.pool).write(raw, { run })).outcome : await writer.writeBatch(request.events, { eventIds: true, run });
      // Every event is either written or rejected (a batch refused whole threw above).
      const events = raw !== undefined ? outcome.results.length + outcome.errors.length : request.events.length;
      const acks = outcome.results.map((r, i) => {
        const fields = redactedOf(outcome, i);
        return create(EventAckSchema, toAck(outcome.eventIds[i], r, fields, fields && writer.explainRedactions(fields)));
      });
      const rejected = outcome.errors.length;
      return {
        acks,
        errors: errorMessages(outcome.errors),
        partialSuccess: rejected > 0 ? { rejectedEvents: rejected, errorMessage: `${rejected} of ${events} events rejected; first: ${outcome.errors[0].message}` } : undefined,
      };
    },
  };
}

