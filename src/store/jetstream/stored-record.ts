import { ID_OPEN, TS_OPEN, TYPE_OPEN } from "../../record/layout.js";
import type { LogRecordView, RecordField } from "../store.js";

// The record layout's keys (src/record/layout.ts): a stored message is a line without seq.
const ID_PREFIX = ID_OPEN;
const TS_KEY = TS_OPEN;
const TYPE_KEY = TYPE_OPEN;

/**
 * The message body stored in JetStream for one record: the JSONL line
 * without `seq` (JetStream assigns the stream sequence only when it stores
 * the message), as a JSON object of its own:
 * `{"event_id":..,"timestamp":..,<body>}`.
 */
export function storedMessageOf(eventId: string, timestamp: string, body: string): string {
  return `${ID_PREFIX}${eventId}${TS_KEY}${timestamp}",${body}}`;
}

/**
 * One JetStream message read back as a record: the line a reader returns is
 * the stored object with `"seq":<stream sequence>` added as its last key,
 * so it honours the record contract (event_id, timestamp, event_type, data,
 * context?, seq) like a line of the JSONL file.
 */
export class StoredRecord implements LogRecordView {
  readonly bytes: Buffer;
  private constructor(
    readonly seq: number,
    readonly eventId: string,
    readonly timestamp: string,
    readonly eventType: string,
    line: string,
  ) {
    this.bytes = Buffer.from(line);
  }

  /**
   * Reads a stored message; returns undefined when it is not a record (a
   * message someone else published on the subject, say).
   */
  static of(seq: number, data: Uint8Array): StoredRecord | undefined {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
    if (!text.startsWith(ID_PREFIX) || !text.endsWith("}")) return StoredRecord.parsed(seq, text);
    // The layout this service writes: identity fields at known places, no JSON.parse.
    const idEnd = text.indexOf('"', ID_PREFIX.length);
    if (idEnd < 0 || !text.startsWith(TS_KEY, idEnd)) return StoredRecord.parsed(seq, text);
    const tsStart = idEnd + TS_KEY.length;
    const tsEnd = text.indexOf('"', tsStart);
    if (tsEnd < 0 || !text.startsWith(TYPE_KEY, tsEnd)) return StoredRecord.parsed(seq, text);
    const typeStart = tsEnd + TYPE_KEY.length;
    const typeEnd = text.indexOf('"', typeStart);
    const eventType = typeEnd < 0 ? "" : text.slice(typeStart, typeEnd);
    if (typeEnd < 0 || eventType.includes("\\")) return StoredRecord.parsed(seq, text);
    return new StoredRecord(seq, text.slice(ID_PREFIX.length, idEnd), text.slice(tsStart, tsEnd), eventType, withSeq(text, seq));
  }

  private static parsed(seq: number, text: string): StoredRecord | undefined {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    const r = value as Record<string, unknown>;
    if (typeof r.event_id !== "string" || typeof r.timestamp !== "string" || typeof r.event_type !== "string" || "seq" in r) return undefined;
    return new StoredRecord(seq, r.event_id, r.timestamp, r.event_type, withSeq(text.trimEnd(), seq));
  }

  get json(): string {
    return this.bytes.toString("utf8");
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
  fieldLength(field: RecordField): number {
    switch (field) {
      case "json":
        return this.bytes.length;
      case "eventId":
        return Buffer.byteLength(this.eventId);
      case "timestamp":
        return Buffer.byteLength(this.timestamp);
      case "eventType":
        return Buffer.byteLength(this.eventType);
    }
  }
  copyField(field: RecordField, out: Buffer, pos: number): number {
    switch (field) {
      case "json":
        return this.bytes.copy(out, pos);
      case "eventId":
        return out.write(this.eventId, pos);
      case "timestamp":
        return out.write(this.timestamp, pos);
      case "eventType":
        return out.write(this.eventType, pos);
    }
  }
}

/** `{...}` -> `{...,"seq":N}` (an empty object gets no leading comma). */
function withSeq(text: string, seq: number): string {
  const open = text.slice(0, -1).trimEnd();
  return `${open}${open.endsWith("{") ? "" : ","}"seq":${seq}}`;
}
