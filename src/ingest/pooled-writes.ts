import { LogBatchRequestSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError, type ErrorCode } from "../errors.js";
import type { BatchOutcome, EventWriter } from "../events/event-writer.js";
import type { AppendEntry } from "../store/store.js";
import type { BatchRequestBytes } from "./batch-request-bytes.js";
import { BATCH_SCHEMAS, decodeBatch, writeDecoded } from "./batch-preparation.js";
import type { IngestPool } from "./ingest-pool.js";
import { rebuiltError } from "./ingest-pool.js";
import { COLUMNS, C_BODY_END, C_CLIENT_ID, C_ID_END, C_RUN, C_TYPE, type BatchKind, type PrepareAnswer, type Prepared } from "./ingest-protocol.js";

/** A batch written: where its events landed, and IngestEvents' batch_id. */
export interface PooledWrite {
  outcome: BatchOutcome;
  batchId: bigint;
}

/**
 * An entry of a batch prepared by a worker: its body as the worker's UTF-8
 * bytes, which the file store copies; the text is made only when asked for
 * (another store, the run index for a run's first and last records).
 */
class PreparedEntry implements AppendEntry {
  constructor(
    readonly eventId: string,
    readonly clientChosenId: boolean,
    readonly run: string | undefined,
    readonly eventType: string | undefined,
    readonly bodyUtf8: Buffer,
    readonly bodyStart: number,
    readonly bodyEnd: number,
  ) {}

  get body(): string {
    return this.bodyUtf8.toString("utf8", this.bodyStart, this.bodyEnd);
  }
}

/** The store's entries of a prepared batch: ids sliced out of one text (no copy), bodies pointing into one buffer. */
function entriesOf(p: Prepared): AppendEntry[] {
  const { ids, columns, names } = p;
  const bodies = Buffer.from(p.bodies.buffer, p.bodies.byteOffset, p.bodies.byteLength);
  const n = columns.length / COLUMNS;
  const entries = new Array<AppendEntry>(n);
  let idStart = 0;
  let bodyStart = 0;
  for (let i = 0; i < n; i++) {
    const c = i * COLUMNS;
    const idEnd = columns[c + C_ID_END];
    const bodyEnd = columns[c + C_BODY_END];
    const run = columns[c + C_RUN];
    const type = columns[c + C_TYPE];
    entries[i] = new PreparedEntry(ids.slice(idStart, idEnd), columns[c + C_CLIENT_ID] === 1, run < 0 ? undefined : names[run], type < 0 ? undefined : names[type], bodies, bodyStart, bodyEnd);
    idStart = idEnd;
    bodyStart = bodyEnd;
  }
  return entries;
}

/**
 * One call's batch requests, prepared on the ingest workers (several at
 * once) and handed to the store in the order they came, as the in-thread
 * path writes them: a batch is appended only once the one before it was
 * handed to the store, and not at all when the one before it failed whole
 * (a request that does not decode ends the call there, as in thread).
 */
export class PooledWrites {
  /** Settles once the last batch taken was handed to the store (or failed). */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly writer: EventWriter,
    private readonly pool: IngestPool,
  ) {}

  /**
   * Sends the batch to a worker now; appends it at its turn; resolves once
   * it is durable, or rejects with the status the in-thread path would give.
   * `indexBase` numbers events across a StreamEvents call.
   */
  write(request: BatchRequestBytes, options: { run?: string; indexBase?: number }): Promise<PooledWrite> {
    const kind = request.schema.typeName as BatchKind;
    const indexBase = options.indexBase ?? 0;
    const answer = this.pool.prepare(kind, request.take(), options.run, indexBase);
    // Not the durable write itself: the next batch waits for this one's append to start, not for its fsync.
    const handed = Promise.all([this.turn, answer]).then(([, a]) => ({ written: this.hand(kind, a, options.run, indexBase) }));
    this.turn = handed;
    handed.catch(() => undefined); // read by the next batch and by the caller
    return handed.then((h) => h.written);
  }

  /** Appends a worker's answer (or writes in thread what the worker left to it); throws a batch's refusal. */
  private hand(kind: BatchKind, a: PrepareAnswer, run: string | undefined, indexBase: number): Promise<PooledWrite> {
    if (a.kind === "prepared") {
      const entries = entriesOf(a);
      // LogBatch acks each event by id (the in-thread path keeps them for it alone).
      const eventIds = kind === LogBatchRequestSchema.typeName ? entries.map((e) => e.eventId) : [];
      const wait = kind !== LogBatchRequestSchema.typeName;
      const batchId = a.batchId;
      return this.writer.appendPrepared({ entries, eventIds, redacted: new Map(a.redacted), errors: a.errors }, a.notes, wait).then((outcome) => ({ outcome, batchId }));
    }
    if (a.kind === "in-thread") {
      const decoded = decodeBatch(BATCH_SCHEMAS.get(kind)!, Buffer.from(a.bytes.buffer, a.bytes.byteOffset, a.bytes.byteLength));
      const batchId = decoded.batchId ?? 0n;
      return writeDecoded(this.writer, kind, decoded, { run, indexBase }).then((outcome) => ({ outcome, batchId }));
    }
    this.writer.tellPrepared(a.notes);
    throw new ServiceError(a.code as ErrorCode, a.message, { violations: a.violations, cause: a.cause === undefined ? undefined : rebuiltError(a.cause) });
  }
}
