/**
 * Reads ReadEventsResponse messages from their wire bytes by hand: a replay
 * delivers a million records in a few hundred messages, and protobuf-es's
 * general decoder (a descriptor walk and a TextDecoder call per string) costs
 * the reading client three times what this reader does.
 *
 * Only the shape the server writes is read here (each LogRecord field at
 * most once, with its own wire type, seqs below 2^49); anything else (an
 * unknown field, a repeated scalar, a bad tag or length) makes the reader
 * give up, and the caller decodes the message with protobuf-es: the same
 * message, or the same error, as before.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { LogRecordSchema, ReadEventsResponseSchema, type LogRecord, type ReadEventsResponse } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";

const RECORDS_TAG = (ReadEventsResponseSchema.field.records.number << 3) | 2;
const SEQ_TAG = LogRecordSchema.field.seq.number << 3; // varint
const STRING_FIELDS = [LogRecordSchema.field.eventId, LogRecordSchema.field.timestamp, LogRecordSchema.field.eventType, LogRecordSchema.field.json];
type StringProperty = "eventId" | "timestamp" | "eventType" | "json";
/** Tag (length-delimited) -> the LogRecord property it fills, and its bit in the fields seen (bit 0 is seq). */
const STRING_TAGS = new Map(STRING_FIELDS.map((f, i) => [(f.number << 3) | 2, { name: f.localName as StringProperty, bit: 2 << i }]));

/** Reads a varint of at most 7 bytes (< 2^49, exact as a number); -1 for anything longer or cut short. */
function readVarint(bytes: Uint8Array, at: { pos: number }, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7 && at.pos < end; i++) {
    const b = bytes[at.pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 128;
  }
  return -1;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The UTF-8 string in bytes [start, end). Invalid UTF-8 throws, as in
 * protobuf-es: Buffer's decoder puts U+FFFD in its place, so only a string
 * holding one is checked again strictly.
 */
function readString(buffer: Buffer, start: number, end: number): string {
  const text = buffer.toString("utf8", start, end);
  return text.includes("\uFFFD") ? strictUtf8.decode(buffer.subarray(start, end)) : text;
}

/** One LogRecord in bytes [start, end), or undefined when it is not in the plain shape. */
function readRecord(buffer: Buffer, start: number, end: number, at: { pos: number }): LogRecord | undefined {
  const record: LogRecord = { $typeName: LogRecordSchema.typeName, seq: 0n, eventId: "", timestamp: "", eventType: "", json: "" };
  let seen = 0;
  at.pos = start;
  while (at.pos < end) {
    const tag = readVarint(buffer, at, end);
    if (tag === SEQ_TAG) {
      const seq = readVarint(buffer, at, end);
      if (seq < 0 || seen & 1) return undefined;
      seen |= 1;
      record.seq = BigInt(seq);
      continue;
    }
    const field = STRING_TAGS.get(tag);
    if (field === undefined) return undefined;
    const length = readVarint(buffer, at, end);
    const from = at.pos;
    if (length < 0 || from + length > end || seen & field.bit) return undefined;
    seen |= field.bit;
    record[field.name] = readString(buffer, from, from + length);
    at.pos = from + length;
  }
  return record;
}

/**
 * The ReadEventsResponse in `bytes`, or undefined when it is not in the
 * plain shape the server writes (decode it with protobuf-es then).
 */
export function readLogRecords(bytes: Uint8Array): ReadEventsResponse | undefined {
  try {
    return readPlain(bytes);
  } catch {
    return undefined; // invalid UTF-8: protobuf-es says so in its own words
  }
}

function readPlain(bytes: Uint8Array): ReadEventsResponse | undefined {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: LogRecord[] = [];
  const at = { pos: 0 };
  const inner = { pos: 0 };
  while (at.pos < buffer.length) {
    if (readVarint(buffer, at, buffer.length) !== RECORDS_TAG) return undefined;
    const length = readVarint(buffer, at, buffer.length);
    if (length < 0 || at.pos + length > buffer.length) return undefined;
    const record = readRecord(buffer, at.pos, at.pos + length, inner);
    if (record === undefined) return undefined;
    records.push(record);
    at.pos += length;
  }
  return { $typeName: ReadEventsResponseSchema.typeName, records };
}

/** Decodes a ReadEventsResponse: by hand when it has the plain shape, else by protobuf-es. */
export function decodeReadEventsResponse(bytes: Uint8Array): ReadEventsResponse {
  return readLogRecords(bytes) ?? fromBinary(ReadEventsResponseSchema, bytes);
}
