import { status } from "@grpc/grpc-js";
import { WireType } from "@bufbuild/protobuf/wire";
import type { ReadEventsRequest, ReadEventsResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../errors.js";
import { EncodedMessage, type CallContext } from "../rpc/grpc-adapter.js";
import { parseTimeBound } from "../store/time-bound.js";
import type { LogRecordView, LogStore, ReadQuery, RecordCursor, RecordField } from "../store/store.js";
import { shutdownFanout } from "./shutdown-fanout.js";
import { checkRun } from "../runs/call-run.js";
import type { RunIndex } from "../runs/run-index.js";

/** What the read side needs of the store: its records, how far they are durable, and word of each commit. */
export type ReadableLog = Pick<LogStore, "lastSeq" | "onCommit" | "records">;

/** Options of the read handlers. */
export interface ReadHandlerOptions {
  /** Bytes of record JSON packed into one response message. Default 1 MiB (keep well under the send limit). */
  messageBytesTarget?: number;
  /** Longest event type accepted in event_types, in characters. Default 128. */
  eventTypeCharsMax?: number;
  /** Most entries in event_types. Default 1,000. */
  eventTypesMax?: number;
  /** Aborted when the server shuts down: follow streams then end with UNAVAILABLE. */
  shutdown?: AbortSignal;
  /** Told how many records each response message carries, as it is handed to the transport (metrics). */
  onSent?: (records: number) => void;
  /** Reads by run go through it (only the parts of the log that hold the runs are read); without it they scan. */
  runIndex?: Pick<RunIndex, "open">;
  /** Most entries in runs. Default 1,000. */
  runsMax?: number;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Checks a ReadEventsRequest and turns it into a reader query; INVALID_ARGUMENT names the field. */
export function readQueryOf(request: ReadEventsRequest, options: { eventTypeCharsMax: number; eventTypesMax: number; runsMax?: number }): ReadQuery {
  const query: ReadQuery = {};
  if (request.fromSeq !== undefined) {
    if (request.fromSeq > BigInt(Number.MAX_SAFE_INTEGER)) throw ServiceError.invalid("from_seq", `must be at most ${Number.MAX_SAFE_INTEGER}`);
    if (request.fromSeq > 0n) query.fromSeq = Number(request.fromSeq);
  }
  const time = (field: "since" | "until", text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const micros = parseTimeBound(text);
    if (micros === undefined) throw ServiceError.invalid(field, `"${text.slice(0, 64)}" is not an ISO 8601 time with offset (e.g. 2026-11-24T19:05:53.700123+00:00)`);
    return micros;
  };
  query.sinceMicros = time("since", request.since);
  query.untilMicros = time("until", request.until);
  if (query.sinceMicros !== undefined && query.untilMicros !== undefined && query.untilMicros <= query.sinceMicros) {
    throw ServiceError.invalid("until", "must be later than since");
  }
  if (request.limit > BigInt(Number.MAX_SAFE_INTEGER)) throw ServiceError.invalid("limit", `must be at most ${Number.MAX_SAFE_INTEGER} (0 means no limit)`);
  query.limit = Number(request.limit);
  if (request.eventTypes.length > options.eventTypesMax) throw ServiceError.invalid("event_types", `at most ${options.eventTypesMax} types`);
  request.eventTypes.forEach((t, i) => {
    if (t.length === 0) throw ServiceError.invalid(`event_types[${i}]`, "must not be empty");
    if (t.length > options.eventTypeCharsMax) throw ServiceError.invalid(`event_types[${i}]`, `longer than ${options.eventTypeCharsMax} characters`);
    if (CONTROL.test(t)) throw ServiceError.invalid(`event_types[${i}]`, "must not contain control characters");
  });
  if (request.eventTypes.length > 0) query.eventTypes = new Set(request.eventTypes);
  const runsMax = options.runsMax ?? 1000;
  if (request.runs.length > runsMax) throw ServiceError.invalid("runs", `at most ${runsMax} runs`);
  request.runs.forEach((r, i) => checkRun(r, `runs[${i}]`));
  if (request.runs.length > 0) query.runs = new Set(request.runs);
  return query;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

// Tags of LogRecord's fields (field number << 3 | wire type) and of ReadEventsResponse.records.
const TAG_SEQ = (1 << 3) | WireType.Varint;
const TAG_EVENT_ID = (2 << 3) | WireType.LengthDelimited;
const TAG_TIMESTAMP = (3 << 3) | WireType.LengthDelimited;
const TAG_EVENT_TYPE = (4 << 3) | WireType.LengthDelimited;
const TAG_JSON = (5 << 3) | WireType.LengthDelimited;
const TAG_RECORDS = (1 << 3) | WireType.LengthDelimited;

const FIELDS: ReadonlyArray<[RecordField, number]> = [
  ["eventId", TAG_EVENT_ID],
  ["timestamp", TAG_TIMESTAMP],
  ["eventType", TAG_EVENT_TYPE],
  ["json", TAG_JSON],
];

/**
 * Encodes records as the wire bytes of `repeated LogRecord records = 1`,
 * copying each field's bytes straight from the file chunk: no UTF-8 decoding
 * or re-encoding on the hot path (replay speed is bound by this). Empty
 * strings are left out, as proto3 does.
 */
function encodeRecords(views: readonly LogRecordView[]): Buffer {
  const lengths = new Array<number>(views.length * 5);
  let total = 0;
  for (let i = 0; i < views.length; i++) {
    const v = views[i];
    let size = 1 + varintLength(v.seq);
    for (let f = 0; f < 4; f++) {
      const len = v.fieldLength(FIELDS[f][0]);
      lengths[i * 5 + f] = len;
      if (len > 0) size += 1 + varintLength(len) + len;
    }
    lengths[i * 5 + 4] = size;
    total += 1 + varintLength(size) + size;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < views.length; i++) {
    const v = views[i];
    out[pos++] = TAG_RECORDS;
    pos = writeVarint(out, pos, lengths[i * 5 + 4]);
    out[pos++] = TAG_SEQ;
    pos = writeVarint(out, pos, v.seq);
    for (let f = 0; f < 4; f++) {
      const len = lengths[i * 5 + f];
      if (len === 0) continue;
      out[pos++] = FIELDS[f][1];
      pos = writeVarint(out, pos, len);
      pos += v.copyField(FIELDS[f][0], out, pos);
    }
  }
  return out;
}

/** A ReadEventsResponse of these records, in its wire bytes (the records, one `records` field each). */
function responseOf(views: readonly LogRecordView[], onSent: ((records: number) => void) | undefined): EncodedMessage<typeof ReadEventsResponseSchema> {
  onSent?.(views.length);
  return new EncodedMessage(encodeRecords(views));
}

/**
 * The read side of the learning log service: ReadEvents replays the log
 * through the store's record source, bounded by the durable seq so that nothing is
 * shown before it is acknowledged. With follow, it waits for the store's
 * commit notifications (no polling) and reads on from where it stopped.
 * Memory per call is one file chunk and one response message: the adapter
 * pulls the next message only when the client's flow control allows.
 */
export function createReadHandlers(log: ReadableLog, options: ReadHandlerOptions = {}) {
  const stopping = shutdownFanout(options.shutdown);
  const messageBytesTarget = options.messageBytesTarget ?? 1024 * 1024;
  const limits = { eventTypeCharsMax: options.eventTypeCharsMax ?? 128, eventTypesMax: options.eventTypesMax ?? 1000, runsMax: options.runsMax };

  return {
    async *readEvents(request: ReadEventsRequest, ctx: CallContext): AsyncIterable<EncodedMessage<typeof ReadEventsResponseSchema>> {
      const query = readQueryOf(request, limits);
      let committed = log.lastSeq;
      let wake: (() => void) | undefined;
      let untilPassed = false;
      const poke = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      // Subscribed before the first read, so no commit falls between the two.
      const unsubscribe = log.onCommit((seq) => {
        committed = seq;
        poke();
      });
      ctx.signal.addEventListener("abort", poke);
      const stopWaiting = stopping.onShutdown(poke);
      let timer: NodeJS.Timeout | undefined;
      if (request.follow && query.untilMicros !== undefined) {
        // A follower with an end time stops once that time has passed, even if no later record comes.
        const delayMs = Math.max(0, Math.ceil(query.untilMicros / 1000 - Date.now()));
        timer = setTimeout(() => {
          untilPassed = true;
          poke();
        }, Math.min(delayMs, 2 ** 31 - 1));
      }
      // Opened inside the try: a store that cannot open a cursor (JetStream unreachable) must not leave the listeners above behind.
      let cursor: RecordCursor | undefined;
      try {
        const { runIndex } = options;
        const within = { deadline: ctx.deadline };
        cursor = query.runs !== undefined && runIndex !== undefined ? await runIndex.open(log.records, { ...query, runs: query.runs }, ctx.signal, within) : await log.records.open(query, within);
        for (;;) {
          for await (const batch of cursor.batches(committed, ctx.signal)) {
            let first = 0;
            let bytes = 0;
            for (let i = 0; i < batch.length; i++) {
              bytes += batch[i].fieldLength("json") + 100;
              if (bytes >= messageBytesTarget) {
                yield responseOf(batch.slice(first, i + 1), options.onSent);
                first = i + 1;
                bytes = 0;
              }
            }
            if (first < batch.length) yield responseOf(first === 0 ? batch : batch.slice(first), options.onSent);
          }
          if (!request.follow || cursor.done || ctx.signal.aborted || untilPassed) return;
          if (options.shutdown?.aborted) {
            throw new ServiceError(status.UNAVAILABLE, `server is shutting down; resume with from_seq ${cursor.nextSeq}`);
          }
          if (committed < cursor.nextSeq) await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        clearTimeout(timer);
        unsubscribe();
        ctx.signal.removeEventListener("abort", poke);
        stopWaiting();
        await cursor?.close();
      }
    },
  };
}
