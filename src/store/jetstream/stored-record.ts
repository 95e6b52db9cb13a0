import { unsequencedRecord, withSeqMember } from "../../record/layout.js";
import { ParsedRecord, parseRecordObject } from "../../record/record-view.js";
import { ScannedRecord, scanHead } from "../../record/scan.js";

/**
 * How earlier versions of this service stored a record in JetStream: one
 * record per message, the JSONL line without `seq` (JetStream assigns the
 * stream sequence only when it stores the message), as a JSON object of its
 * own: `{"event_id":..,"timestamp":..,<body>}`.
 */
export const storedMessageOf: (eventId: string, timestamp: string, body: string) => string = unsequencedRecord;

const scan = new ScannedRecord();

/**
 * One such message read back as a record: the line a reader returns is the
 * stored object with `"seq":<stream sequence>` added as its last key, so it
 * honours the record contract (event_id, timestamp, event_type, data,
 * context?, seq) like a line of the JSONL file. Undefined when the message
 * is not a record (a message someone else published on the subject, say).
 */
export function storedRecordOf(seq: number, data: Uint8Array): ParsedRecord | undefined {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const text = bytes.toString("utf8");
  if (scanHead(bytes, 0, bytes.length, scan)) {
    // The layout this service writes: identity fields at known places, no JSON.parse.
    const line = withSeqMember(text, seq);
    return new ParsedRecord(seq, bytes.toString("utf8", scan.idStart, scan.idEnd), bytes.toString("utf8", scan.tsStart, scan.tsEnd), bytes.toString("utf8", scan.typeStart, scan.typeEnd), Buffer.from(line), line);
  }
  const parsed = parseRecordObject(text, false);
  if (parsed === undefined || "seq" in parsed.members) return undefined;
  const line = withSeqMember(text.trimEnd(), seq);
  return new ParsedRecord(seq, parsed.eventId, parsed.timestamp, parsed.eventType, Buffer.from(line), line);
}
