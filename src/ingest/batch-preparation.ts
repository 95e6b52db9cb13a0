/**
 * The work an ingest worker does on one batch request: decode it, check,
 * guard and encode its events with the very EventWriter the in-thread path
 * uses (its store only catches what would be appended), and pack the result
 * for the main thread (ingest-protocol.ts). Plain functions of the bytes, so
 * that tests run them in one thread too.
 */
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { IngestEventsRequestSchema, LogBatchRequestSchema, StreamEventsRequestSchema, type LearningEvent } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { systemClock } from "../clock.js";
import { readEventBatch } from "../codec/event-batch.js";
import { undecodableError } from "../codec/request-decode.js";
import { ServiceError } from "../errors.js";
import { EventWriter, type BatchOutcome } from "../events/event-writer.js";
import type { EventCase } from "../events/catalog.js";
import { createPiiGuard } from "../guard/pii.js";
import type { AppendEntry, AppendResult, LogStore } from "../store/store.js";
import { COLUMNS, C_BODY_END, C_CLIENT_ID, C_ID_END, C_RUN, C_TYPE, type BatchKind, type ErrorData, type IngestWorkerConfig, type PrepareAnswer, type PrepareRequest, type WriterNotes } from "./ingest-protocol.js";

/** The request schemas by {@link BatchKind}. */
export const BATCH_SCHEMAS: ReadonlyMap<BatchKind, DescMessage> = new Map<BatchKind, DescMessage>([
  [IngestEventsRequestSchema.typeName as BatchKind, IngestEventsRequestSchema],
  [StreamEventsRequestSchema.typeName as BatchKind, StreamEventsRequestSchema],
  [LogBatchRequestSchema.typeName as BatchKind, LogBatchRequestSchema],
]);

/** Events whose record reads the server's state (the trust tracker, the server's clock): a batch with one is written by the main thread. */
const IN_THREAD_CASES: ReadonlySet<EventCase> = new Set<EventCase>(["bayesianTrustMetrics", "ruleEffectiveness"]);

// Where each caught entry "landed": never read (the main thread appends for real).
const NOT_WRITTEN: AppendResult = Object.freeze({ seq: 0, timestamp: "", duplicate: false });

/** A store that only keeps the entries it is asked to append. */
class CatchingStore {
  entries: readonly AppendEntry[] = [];
  append(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.entries = entries;
    return Promise.resolve(entries.map(() => NOT_WRITTEN));
  }
}

/** An error as it crosses threads (its stack kept for the server log). */
export function errorData(err: unknown): ErrorData {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: "Error", message: String(err) };
}

/** Prepares batch requests, one at a time (the writer's observer notes belong to the batch being prepared). */
export function createBatchPreparer(config: IngestWorkerConfig): (request: PrepareRequest) => Promise<PrepareAnswer> {
  const store = new CatchingStore();
  let notes: { rejected: number[]; redacted: string[] } = { rejected: [], redacted: [] };
  const writer = new EventWriter(
    store as unknown as LogStore,
    {
      limits: config.limits,
      clock: systemClock,
      // Never reached: batches with such events are written by the main thread (IN_THREAD_CASES).
      trustMetrics: () => Promise.reject(new Error("the trust tracker is not reachable from an ingest worker")),
    },
    config.limits,
    createPiiGuard(config.pii),
    {
      rejected: (code, events) => notes.rejected.push(code, events),
      redacted: (eventType) => notes.redacted.push(eventType),
    },
  );

  return async (request) => {
    notes = { rejected: [], redacted: [] };
    const { id } = request;
    const schema = BATCH_SCHEMAS.get(request.kind);
    if (schema === undefined) return failed(id, new Error(`not a batch request: ${request.kind}`), notes);
    const bytes = Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.byteLength);
    let decoded: DecodedBatch;
    try {
      decoded = decodeBatch(schema, bytes);
    } catch (err) {
      return failed(id, err, notes);
    }
    for (const e of decoded.events) {
      if (e.event.case !== undefined && IN_THREAD_CASES.has(e.event.case)) return { id, kind: "in-thread", bytes: request.bytes };
    }
    let outcome: BatchOutcome;
    try {
      outcome = await writeDecoded(writer, request.kind, decoded, request);
    } catch (err) {
      return failed(id, err, notes);
    }
    return pack(id, decoded.batchId ?? 0n, store.entries, outcome, notes);
  };
}

/** A batch request decoded: its events, and IngestEvents' batch_id. */
export interface DecodedBatch {
  events: LearningEvent[];
  batchId?: bigint;
}

/** Decodes a batch request as the gRPC adapter does (read by hand, else by protobuf-es); throws the status of one that does not decode. */
export function decodeBatch(schema: DescMessage, bytes: Buffer): DecodedBatch {
  try {
    return (readEventBatch(schema, bytes) ?? fromBinary(schema, bytes)) as unknown as DecodedBatch;
  } catch (err) {
    throw undecodableError(err);
  }
}

/**
 * Writes a decoded batch request with the calls the in-thread handlers make
 * (src/service/ingest-handlers.ts), so that errors and the observer's
 * notes are the same whichever thread prepares it.
 */
export function writeDecoded(writer: EventWriter, kind: BatchKind, decoded: DecodedBatch, options: { run?: string; indexBase: number }): Promise<BatchOutcome> {
  const { run, indexBase } = options;
  // Settling throws synchronously for a request that does not decode.
  if (kind === IngestEventsRequestSchema.typeName) return writer.writeBatch(writer.settle(decoded.events), { wait: true, run });
  if (kind === StreamEventsRequestSchema.typeName) return writer.writeBatch(writer.settle(decoded.events, { indexBase }), { wait: true, indexBase, run });
  return writer.writeBatch(decoded.events, { eventIds: true, run });
}

/** The answer for a refused batch: the status the in-thread path would throw. */
function failed(id: number, err: unknown, notes: WriterNotes): PrepareAnswer {
  const e = ServiceError.from(err);
  const cause = e.cause ?? (e.code === status.INTERNAL ? e : undefined);
  return {
    id,
    kind: "failed",
    code: e.code,
    message: e.message,
    violations: e.violations.map((v) => ({ field: v.field, description: v.description })),
    cause: cause === undefined ? undefined : errorData(cause),
    notes,
  };
}

/** Packs the accepted entries into two texts and a column array (see {@link Prepared}). */
function pack(id: number, batchId: bigint, entries: readonly AppendEntry[], outcome: BatchOutcome, notes: WriterNotes): PrepareAnswer {
  const columns = new Int32Array(entries.length * COLUMNS);
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const named = (name: string | undefined): number => {
    if (name === undefined) return -1;
    let i = nameIndex.get(name);
    if (i === undefined) {
      i = names.push(name) - 1;
      nameIndex.set(name, i);
    }
    return i;
  };
  const ids: string[] = new Array<string>(entries.length);
  // Bodies written as bytes already (events read by hand) are copied; the others are encoded.
  const most = (e: AppendEntry): number => (e.bodyUtf8 !== undefined ? e.bodyEnd! - e.bodyStart! : e.body.length * 3);
  let size = 0;
  for (const e of entries) size += e.bodyUtf8 !== undefined ? e.bodyEnd! - e.bodyStart! : e.body.length;
  // Room for ASCII bodies (nearly all); grown when others need more.
  let bodies = Buffer.allocUnsafeSlow(size + 1024);
  let idEnd = 0;
  let bodyEnd = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    ids[i] = e.eventId;
    idEnd += e.eventId.length;
    if (bodies.length - bodyEnd < most(e)) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(bodies.length * 2, bodyEnd + most(e)));
      bodies.copy(bigger, 0, 0, bodyEnd);
      bodies = bigger;
    }
    if (e.bodyUtf8 !== undefined) {
      bodies.set(e.bodyUtf8.subarray(e.bodyStart, e.bodyEnd), bodyEnd);
      bodyEnd += e.bodyEnd! - e.bodyStart!;
    } else {
      bodyEnd += bodies.write(e.body, bodyEnd);
    }
    const c = i * COLUMNS;
    columns[c + C_ID_END] = idEnd;
    columns[c + C_BODY_END] = bodyEnd;
    columns[c + C_RUN] = named(e.run);
    columns[c + C_TYPE] = named(e.eventType);
    columns[c + C_CLIENT_ID] = e.clientChosenId === true ? 1 : 0;
  }
  return {
    id,
    kind: "prepared",
    batchId,
    ids: ids.join(""),
    bodies,
    columns,
    names,
    redacted: [...outcome.redacted],
    errors: outcome.errors.map((e) => ({ index: e.index, code: e.code, message: e.message, violations: e.violations.map((v) => ({ field: v.field, description: v.description })) })),
    notes,
  };
}
