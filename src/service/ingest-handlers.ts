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
import type { CallContext } from "../rpc/grpc-adapter.js";
import { callRun } from "../runs/call-run.js";

/** Options of the batch and stream handlers. */
export interface IngestOptions {
  /** Batches of one IngestEvents stream being written at once (read-ahead). Default 8. */
  streamBatchesInFlightMax?: number;
  /**
   * Batches of all IngestEvents streams together being written at once: the
   * one budget of read-ahead. A stream reads a batch beyond its first in
   * flight only while all streams hold fewer than this, so memory grows
   * with the number of streams by one batch each, not by
   * streamBatchesInFlightMax each. Default 64.
   */
  streamBatchesInFlightTotalMax?: number;
  /**
   * Aborted when the server shuts down: streams stop reading, answer what
   * they already took, then end with UNAVAILABLE so clients resend the rest
   * elsewhere or later (with the same event_ids, so nothing is duplicated).
   */
  shutdown?: AbortSignal;
}

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

/**
 * The batch and streaming RPCs of the learning log service. They share the
 * event writer with the unary RPCs; streams wait for room in the write queue
 * instead of failing, which stops reading from the client (flow control).
 */
export function createIngestHandlers(writer: EventWriter, options: IngestOptions = {}) {
  const inFlightMax = options.streamBatchesInFlightMax ?? 8;
  const inFlightTotalMax = options.streamBatchesInFlightTotalMax ?? 64;
  // Batches in flight over all streams (the shared read-ahead budget).
  let inFlightTotal = 0;
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

  // Not async: only the batch id is kept while the batch waits for its fsync, not the request.
  const answerBatch = (request: IngestEventsRequest, run: string | undefined): Promise<MessageInitShape<typeof IngestEventsResponseSchema>> => {
    const batchId = request.batchId;
    // Settled now: a request that does not decode ends the stream here, before later ones are read.
    return writer.writeBatch(writer.settle(request.events), { wait: true, run }).then((outcome) => {
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
    });
  };

  return {
    /**
     * Reads ahead up to inFlightMax batches while earlier ones commit, and
     * answers strictly in order. A storage failure ends the stream with its
     * status; unanswered batches were not acked and are safe to resend.
     */
    async *ingestEvents(requests: AsyncIterable<IngestEventsRequest>, ctx: CallContext): AsyncIterable<MessageInitShape<typeof IngestEventsResponseSchema>> {
      const run = callRun(ctx.metadata);
      const iterator = requests[Symbol.asyncIterator]();
      const inFlight: Array<Promise<MessageInitShape<typeof IngestEventsResponseSchema>>> = [];
      // Every read is observed at once: when a failed batch ends this
      // generator, a read still pending is left behind, and it rejects with
      // the very status the call ends with (the stream's 'error').
      let reading: Promise<IteratorResult<IngestEventsRequest>> | undefined = observedLater(iterator.next());
      let draining = false;
      // A stream's first batch in flight needs no budget (every stream progresses); each further read does
      // (this stream's own limit, inFlightMax, is applied where reads are taken below).
      const mayReadAhead = () => inFlight.length === 0 || inFlightTotal < inFlightTotalMax;
      // A read is due but waits for the budget (a read taken holds a decoded batch).
      let deferred = false;
      try {
        while (reading !== undefined || deferred || inFlight.length > 0) {
          if (deferred && mayReadAhead()) {
            reading = observedLater(iterator.next());
            deferred = false;
          }
          if (reading !== undefined && inFlight.length < inFlightMax) {
            const head = inFlight.length > 0 ? inFlight[0].then(() => "answered" as const) : undefined;
            const stop = stopSignal();
            const next = await Promise.race(head ? [reading, head, stop.stopped] : [reading, stop.stopped]);
            stop.release();
            if (next === "stopped") {
              // Take nothing more; answer what was taken, then say why we stop.
              reading = undefined;
              draining = true;
              continue;
            }
            if (next === "answered") {
              inFlightTotal--;
              yield await inFlight.shift()!;
              continue;
            }
            if (next.done) {
              reading = undefined;
              continue;
            }
            inFlight.push(observedLater(answerBatch(next.value, run))); // read when its turn comes
            inFlightTotal++;
            reading = undefined;
            if (shutdown.aborted) draining = true;
            else if (mayReadAhead()) reading = observedLater(iterator.next());
            else deferred = true;
            continue;
          }
          // No read to race (none due yet, or this stream's read-ahead is full): answer the oldest batch.
          if (deferred && shutdown.aborted) {
            deferred = false;
            draining = true;
          }
          inFlightTotal--;
          yield await inFlight.shift()!;
        }
        if (draining) throw shuttingDown();
      } finally {
        // Batches a failure left unanswered give their budget back.
        inFlightTotal -= inFlight.length;
        inFlight.length = 0;
        // Not awaited: with a read still pending (stopped while waiting for the
        // client), an async generator's return() waits behind that read.
        iterator.return?.()?.catch(() => undefined);
      }
    },

    /** Client stream: one summary answer once everything received is durable. */
    async streamEvents(requests: AsyncIterable<StreamEventsRequest>, ctx: CallContext): Promise<MessageInitShape<typeof StreamEventsResponseSchema>> {
      const run = callRun(ctx.metadata);
      const writes: Array<Promise<BatchOutcome>> = [];
      let index = 0;
      for await (const request of requests) {
        if (shutdown.aborted) {
          // Nothing of this call is acked: the client resends it all; event_ids make that safe.
          await Promise.allSettled(writes);
          throw shuttingDown();
        }
        // Settled now: a request that does not decode ends the call here, before later ones are read.
        const events = writer.settle(request.events, { indexBase: index });
        writes.push(observedLater(writer.writeBatch(events, { wait: true, indexBase: index, run }))); // awaited below
        index += request.events.length;
        // Keep a bounded number of writes pending.
        if (writes.length >= inFlightMax * 4) await writes[writes.length - inFlightMax * 4];
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
      const outcome = await writer.writeBatch(request.events, { eventIds: true, run: callRun(ctx.metadata) });
      const acks = outcome.results.map((r, i) => {
        const fields = redactedOf(outcome, i);
        return create(EventAckSchema, toAck(outcome.eventIds[i], r, fields, fields && writer.explainRedactions(fields)));
      });
      const rejected = outcome.errors.length;
      return {
        acks,
        errors: errorMessages(outcome.errors),
        partialSuccess: rejected > 0 ? { rejectedEvents: rejected, errorMessage: `${rejected} of ${request.events.length} events rejected; first: ${outcome.errors[0].message}` } : undefined,
      };
    },
  };
}

