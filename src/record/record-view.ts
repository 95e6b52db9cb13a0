import type { LogRecordView, RecordField } from "../store/store.js";
import { lineText, parseRecordText } from "./line.js";
import { ScannedRecord, scanRecord } from "./scan.js";

/**
 * The record views of lines, for both stores: what a reader hands out for
 * each line that is a record. A line this service wrote is read by position
 * ({@link LineRecord}, no JSON.parse, no copy); any other record is parsed
 * ({@link ParsedRecord}: the original module's lines, escapes, a JetStream
 * message stored without seq).
 */

/**
 * A record of a line in this service's own layout: its fields are byte
 * ranges of the chunk read (absolute offsets, as {@link scanRecord} found
 * them); strings and sub-buffers are made only on demand, so replay copies
 * bytes without decoding them.
 */
export class LineRecord implements LogRecordView {
  readonly seq: number;
  private readonly idStart: number;
  private readonly idEnd: number;
  private readonly tsStart: number;
  private readonly tsEnd: number;
  private readonly typeStart: number;
  private readonly typeEnd: number;

  /** The line chunk[start..end) as `scan` found it ({@link scanRecord} of these bytes), of type `eventType` (see {@link eventTypeName}). */
  constructor(
    readonly eventType: string,
    private readonly chunk: Buffer,
    private readonly start: number,
    private readonly end: number,
    scan: ScannedRecord,
  ) {
    this.seq = scan.seq;
    this.idStart = scan.idStart;
    this.idEnd = scan.idEnd;
    this.tsStart = scan.tsStart;
    this.tsEnd = scan.tsEnd;
    this.typeStart = scan.typeStart;
    this.typeEnd = scan.typeEnd;
  }
  get eventId(): string {
    return this.chunk.toString("latin1", this.idStart, this.idEnd);
  }
  get timestamp(): string {
    return this.chunk.toString("latin1", this.tsStart, this.tsEnd);
  }
  get json(): string {
    return this.chunk.toString("utf8", this.start, this.end);
  }
  get bytes(): Buffer {
    return this.chunk.subarray(this.start, this.end);
  }
  get eventIdBytes(): Buffer {
    return this.chunk.subarray(this.idStart, this.idEnd);
  }
  get timestampBytes(): Buffer {
    return this.chunk.subarray(this.tsStart, this.tsEnd);
  }
  get eventTypeBytes(): Buffer {
    return this.chunk.subarray(this.typeStart, this.typeEnd);
  }
  private rangeStart(field: RecordField): number {
    return field === "json" ? this.start : field === "eventId" ? this.idStart : field === "timestamp" ? this.tsStart : this.typeStart;
  }
  fieldLength(field: RecordField): number {
    switch (field) {
      case "eventId":
        return this.idEnd - this.idStart;
      case "timestamp":
        return this.tsEnd - this.tsStart;
      case "eventType":
        return this.typeEnd - this.typeStart;
      case "json":
        return this.end - this.start;
    }
  }
  copyField(field: RecordField, out: Buffer, pos: number): number {
    const s = this.rangeStart(field);
    const len = this.fieldLength(field);
    if (len > 64) return this.chunk.copy(out, pos, s, s + len);
    // Short fields: a loop beats the native call's overhead.
    const c = this.chunk;
    for (let i = 0; i < len; i++) out[pos + i] = c[s + i];
    return len;
  }
}

/** A record of any other layout (the original module's, escapes, unknown keys, a message stored without seq), read with JSON.parse. */
export class ParsedRecord implements LogRecordView {
  constructor(
    readonly seq: number,
    readonly eventId: string,
    readonly timestamp: string,
    readonly eventType: string,
    readonly bytes: Buffer,
    readonly json: string,
    /** True when the line holds the original module's NaN/Infinity tokens. */
    readonly nonFinite = false,
  ) {}
  /** The same record numbered `seq` (a line of the original module, numbered by its place). */
  withSeq(seq: number): ParsedRecord {
    return new ParsedRecord(seq, this.eventId, this.timestamp, this.eventType, this.bytes, this.json, this.nonFinite);
  }
  get eventIdBytes(): Buffer {
    return Buffer.from(this.eventId);
  }
  get timestampBytes(): Buffer {
    return Buffer.from(this.timestamp);
  }
  get eventTypeBytes(): Buffer {
    return Buffer.from(this.eventType);
  }
  private field(field: RecordField): Buffer {
    return field === "json" ? this.bytes : field === "eventId" ? this.eventIdBytes : field === "timestamp" ? this.timestampBytes : this.eventTypeBytes;
  }
  fieldLength(field: RecordField): number {
    return field === "json" ? this.bytes.length : Buffer.byteLength(field === "eventId" ? this.eventId : field === "timestamp" ? this.timestamp : this.eventType);
  }
  copyField(field: RecordField, out: Buffer, pos: number): number {
    return this.field(field).copy(out, pos);
  }
}

/**
 * Parses the line chunk[start..end) (no newline) into a record view, or
 * undefined when it is not a record. A line without seq (the original
 * module's) gets seq NaN. Framing other writers leave (a byte order mark, a
 * CRLF's "\r") is not part of the record; NaN/Infinity tokens of the
 * original module are read as those numbers and the record says so.
 */
export function parseLine(chunk: Buffer, start = 0, end = chunk.length): LineRecord | ParsedRecord | undefined {
  ({ start, end } = lineText(chunk, start, end));
  const scan = parseLineScan;
  if (scanRecord(chunk, start, end, scan)) return new LineRecord(eventTypeName(chunk, scan.typeStart, scan.typeEnd), chunk, start, end, scan);
  const line = chunk.subarray(start, end);
  const json = line.toString("utf8");
  const parsed = parseRecordObject(json, true);
  if (parsed === undefined) return undefined;
  const seq = typeof parsed.members.seq === "number" && Number.isSafeInteger(parsed.members.seq) ? parsed.members.seq : Number.NaN;
  return new ParsedRecord(seq, parsed.eventId, parsed.timestamp, parsed.eventType, line, json, parsed.nonFinite);
}
const parseLineScan = new ScannedRecord();

/** A record object read with the parser: its identity fields and all its members. */
export interface ParsedRecordObject {
  readonly eventId: string;
  readonly timestamp: string;
  readonly eventType: string;
  readonly members: Readonly<Record<string, unknown>>;
  /** True when the text held the original module's NaN/Infinity tokens. */
  readonly nonFinite: boolean;
}

/**
 * Reads a record object's JSON text with the parser; undefined when it is
 * not a JSON object with string event_id, timestamp and event_type. The
 * original module's bare NaN/Infinity tokens are read only when
 * `nonFiniteTokens` (lines of a log file; never in a JetStream message).
 */
export function parseRecordObject(text: string, nonFiniteTokens: boolean): ParsedRecordObject | undefined {
  const parsed = parseRecordText(text);
  if (!parsed.ok || (parsed.nonFinite && !nonFiniteTokens)) return undefined;
  const r = parsed.value;
  if (typeof r.event_id !== "string" || typeof r.timestamp !== "string" || typeof r.event_type !== "string") return undefined;
  return { eventId: r.event_id, timestamp: r.timestamp, eventType: r.event_type, members: r, nonFinite: parsed.nonFinite };
}

/** A few distinct event types recur millions of times: reuse their strings. */
const typeNames = new Map<number, { bytes: Buffer; name: string }>();

/** The event type in line[start..end) as a string, the same string each time it recurs (no escapes: {@link scanRecord} checked). */
export function eventTypeName(line: Buffer, start: number, end: number): string {
  const len = end - start;
  const key = len * 65536 + (len > 0 ? line[start] * 256 + line[end - 1] : 0);
  const known = typeNames.get(key);
  if (known !== undefined && known.bytes.length === len && line.compare(known.bytes, 0, len, start, end) === 0) return known.name;
  const name = line.toString("utf8", start, end);
  if (typeNames.size < 4096) typeNames.set(key, { bytes: Buffer.from(line.subarray(start, end)), name });
  return name;
}
