/**
 * What the main thread and an ingest worker send each other: a batch
 * request's bytes one way; the batch checked and encoded (or why not) the
 * other, packed so that the main thread makes few objects of it.
 */
import type { EventLimits } from "../guard/limits.js";
import type { PiiOptions } from "../guard/pii.js";
import type { EventErrorData, PreparedElsewhereNotes } from "../events/event-writer.js";

/** The batch requests a worker takes, by their message's type name. */
export type BatchKind = "pulse.learninglog.v1.IngestEventsRequest" | "pulse.learninglog.v1.StreamEventsRequest" | "pulse.learninglog.v1.LogBatchRequest";

/** The key of the worker's config in its workerData (a worker started by anything else does nothing). */
export const INGEST_WORKER_DATA = "pulseIngestWorker";

/** What a worker is started with (its workerData). */
export interface IngestWorkerConfig {
  readonly limits: Readonly<EventLimits>;
  readonly pii: Readonly<PiiOptions>;
}

/** One batch request to prepare. */
export interface PrepareRequest {
  readonly id: number;
  readonly kind: BatchKind;
  /** The request's wire bytes, in a buffer of their own (transferred). */
  readonly bytes: Uint8Array;
  /** The call's run (checked by the main thread), if any. */
  readonly run?: string;
  /** Index of the batch's first event in its stream (StreamEvents numbers events across the stream). */
  readonly indexBase: number;
}

/**
 * What the event writer's observer was told while preparing (the main
 * thread tells the real observer): refusals as (code, events) pairs, and
 * the event type of each redacted event.
 */
export type WriterNotes = PreparedElsewhereNotes;

/** Columns of {@link Prepared.columns}, per accepted event. */
export const COLUMNS = 5;
/** End of the event's id in `ids`, end of its body's bytes in `bodies`, index of its run and event type in `names` (-1: none), 1 when the client chose its id. */
export const C_ID_END = 0;
export const C_BODY_END = 1;
export const C_RUN = 2;
export const C_TYPE = 3;
export const C_CLIENT_ID = 4;

/**
 * A batch checked and encoded: the accepted events (in request order) as
 * two texts and columns of offsets, the rejected ones, the redactions.
 */
export interface Prepared {
  readonly id: number;
  readonly kind: "prepared";
  /** IngestEvents' batch_id (0 for the other requests). */
  readonly batchId: bigint;
  /** Every accepted event's id, one after the other (ids are kept apart from bodies: the dedup window keeps ids long after the bodies are written). */
  readonly ids: string;
  /**
   * Every accepted event's body (the store's AppendEntry.body) as UTF-8, one
   * after the other, in a buffer of its own (transferred: bytes cross
   * threads for nearly nothing, a long string costs the receiving thread
   * about 1 us per event to rebuild).
   */
  readonly bodies: Uint8Array;
  /** {@link COLUMNS} numbers per accepted event (transferred). */
  readonly columns: Int32Array;
  /** Runs and event types the columns point at. */
  readonly names: string[];
  /** Paths redacted, by position among the accepted events. */
  readonly redacted: Array<[number, string[]]>;
  readonly errors: EventErrorData[];
  readonly notes: WriterNotes;
}

/** The batch holds an event that needs the server's state (the trust tracker, the clock): the main thread writes it, from these bytes. */
export interface InThread {
  readonly id: number;
  readonly kind: "in-thread";
  readonly bytes: Uint8Array;
}

/** An error as it crosses threads. */
export interface ErrorData {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** The whole batch was refused (a request that does not decode, too many events...), as the in-thread path would throw. */
export interface Failed {
  readonly id: number;
  readonly kind: "failed";
  readonly code: number;
  readonly message: string;
  readonly violations: Array<{ field: string; description: string }>;
  /** The cause of an INTERNAL status, for the server log. */
  readonly cause?: ErrorData;
  readonly notes: WriterNotes;
}

export type PrepareAnswer = Prepared | InThread | Failed;
