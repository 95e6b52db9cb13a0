import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { parseTimestamp } from "../../clock.js";
import { HASH_HEX_CHARS, HASH_TRAILER_BYTES, writeHashClose } from "../../record/hash-trailer.mjs";
import { writeFiniteNumber } from "../../record/json-text.js";
import { ID_OPEN, recordUpToSeq, SEQ_OPEN } from "../../record/layout.js";
import { eventTypeName, LineRecord, ParsedRecord, parseRecordObject } from "../../record/record-view.js";
import { ScannedRecord, scanRecord } from "../../record/scan.js";
import { sealRecordInPlace } from "../hash-chain.js";
import type { LogRecordView } from "../store.js";
import { storedRecordOf } from "./stored-record.js";

/**
 * One JetStream message carries one group commit: its records as JSONL
 * lines, exactly as the file store writes them with its hash chain
 * (`{"event_id":..,"timestamp":..,"event_type":..,"data":..,"seq":N,"hash":"<hex>"}\n`
 * per record, seqs consecutive, each hash chained on the record before,
 * across messages), and headers naming the seq range, so that a reader finds
 * a seq with a binary search over message headers and a headers-only
 * watcher learns the last seq without reading bodies, and the chain's hash
 * before and after the message, so that a reader checks that each message
 * follows on from the one it read before without hashing a record (see
 * {@link PREV_HASH_HEADER}).
 */
export const FIRST_SEQ_HEADER = "Pulse-First-Seq";
/** The seq of the last record a message carries (see {@link FIRST_SEQ_HEADER}). */
export const LAST_SEQ_HEADER = "Pulse-Last-Seq";
/**
 * Which records of a message carry an event_id the client chose (the only
 * ones a retry can repeat), as ranges of their positions in the message:
 * `0-999,2000-2599`, or `none`. Other front ends remember only those in
 * their dedup window; a message without it (too many ranges to list, or
 * written by another program) has every record remembered.
 */
export const CLIENT_IDS_HEADER = "Pulse-Client-Ids";
/**
 * The hash of the record before a message's first one (`none` when the
 * chain starts with this message: the stream's first record, or records of
 * an earlier version of this service before it). A message of another
 * history (a replica that diverged, or a writer that did not follow the
 * stream's end) names a hash that is not the last hash of the message read
 * before it: readers and writers compare the two.
 */
export const PREV_HASH_HEADER = "Pulse-Prev-Hash";
/** The hash of a message's last record (see {@link PREV_HASH_HEADER}). */
export const LAST_HASH_HEADER = "Pulse-Last-Hash";
/** The {@link PREV_HASH_HEADER} of a message that starts the chain. */
const CHAIN_START = "none";

/** The message id header JetStream de-duplicates on (set through the client's msgID option). */
export const MSG_ID_HEADER = "Nats-Msg-Id";

/** Longest {@link CLIENT_IDS_HEADER} written: past it the header is left out (a message has some room for headers only). */
const CLIENT_IDS_CHARS_MAX = 400;

/** The seq range a stored message holds. */
export interface SeqRange {
  readonly first: number;
  readonly last: number;
}

/**
 * Where a record's bytes up to its seq (`{"event_id":..,<body>,"seq":`)
 * were encoded, so that a message built again with other seqs (after
 * another front end took the turn) copies them instead of encoding the
 * record again. Set by {@link MessageBuilder.add}.
 */
export interface EncodedRecord {
  encoded?: Buffer;
  encodedStart?: number;
  encodedLength?: number;
}

/** Room for `<seq>,"hash":"<64 hex>"}\n` after a record's encoded bytes: 16 digits, the hash trailer and the newline. */
const SEQ_TAIL_BYTES_MAX = 16 + HASH_TRAILER_BYTES + 1;

/** A message's place in the hash chain: the hash before its first record and after its last ("" before the first hashed record). */
export interface ChainLink {
  readonly prev: string;
  readonly last: string;
}

/**
 * Bytes kept before a message's records for the hash the chain continues
 * from: the first record is hashed where it lies, right after those digits,
 * like every later record right after its predecessor's (sealRecordInPlace).
 */
const CHAIN_ROOM_BYTES = HASH_HEX_CHARS;

/**
 * Encodes one message's records, in the contract's key order, as the file
 * store writes them with its hash chain, seqs consecutive from `first` and
 * hashes chained from `prevHash`, into one buffer of at most `bytesMax`
 * bytes. Each record's SHA-256 is taken as it is added, over the bytes just
 * written, where they lie: a record is written right after the previous
 * record's hash digits (before the first, the previous message's last hash),
 * hashed together with them, then moved past the previous line's end. The
 * message costs one hash per record, no second pass and no scratch copy.
 */
/** A record body as UTF-8 bytes: `[bodyStart, bodyEnd)` of `bodyUtf8` (an AppendEntry that has them). */
export interface BodyBytes {
  readonly bodyUtf8: Uint8Array;
  readonly bodyStart: number;
  readonly bodyEnd: number;
}

export class MessageBuilder {
  private buf: Buffer;
  /** The end of what is written: the last record's hash digits (its `"}\n` is written by the next record, or by {@link bytes}). */
  private used = CHAIN_ROOM_BYTES;
  private next: number;
  /** Positions of records with client-chosen ids, as ranges "a-b" (the last one still open while it grows). */
  private clientRanges: string[] = [];
  private clientRangeStart = -1;
  private clientRangeEnd = -1;
  /** The hash of the last record added (the previous message's last one before any). */
  private tipHash: string;

  constructor(
    private readonly bytesMax: number,
    /** The seq of the first record. */
    readonly first: number,
    /** The hash of the record before the first ("" when the chain starts here). */
    readonly prevHash = "",
    /** Bytes the records are expected to take (the buffer's first size): a good guess spares copies as it grows. */
    bytesHint = 16 * 1024,
  ) {
    // Small at first (one record of a unary call), doubled as records come, up to bytesMax.
    // The first record is hashed over the 64 bytes before it: they must be the previous hash's digits.
    if (prevHash !== "" && !HEX64.test(prevHash)) throw new Error(`a message chains on a SHA-256 in hex, not ${JSON.stringify(prevHash.slice(0, 80))}`);
    this.buf = Buffer.allocUnsafe(CHAIN_ROOM_BYTES + Math.min(bytesMax, Math.max(bytesHint, 1024)));
    if (prevHash !== "") this.buf.write(prevHash, 0, "latin1");
    this.next = first;
    this.tipHash = prevHash;
  }

  /** The hash of the last record added: the next message chains on it. */
  get tip(): string {
    return this.tipHash;
  }

  /** Records added so far. */
  get count(): number {
    return this.next - this.first;
  }

  /** Bytes of the lines added so far, as the message holds them. */
  private get length(): number {
    return this.used - CHAIN_ROOM_BYTES + (this.next > this.first ? 3 : 0);
  }

  /**
   * Adds a record with the next seq (`head` is `recordHead(timestamp)` of
   * src/record/layout.ts, made once per append call); its body as text, or
   * as UTF-8 bytes the writer made (copied, no string made). Returns
   * "added", "full" when it does not fit beside the records already added,
   * or "too-large" when it would not fit in a message of its own.
   */
  add(record: EncodedRecord, eventId: string, head: string, body: string | BodyBytes, clientChosen: boolean): "added" | "full" | "too-large" {
    const room = this.bytesMax - this.length - SEQ_TAIL_BYTES_MAX;
    // Written right after the last hash digits, where it is hashed with them; moved 3 bytes on after, for the previous line's end.
    const at = this.used;
    let length: number;
    if (record.encoded !== undefined) {
      length = record.encodedLength!;
      if (length > room) return "full";
      this.reserve(length + SEQ_TAIL_BYTES_MAX);
      record.encoded.copy(this.buf, at, record.encodedStart!, record.encodedStart! + length);
    } else if (typeof body !== "string") {
      const opening = `${ID_OPEN}${eventId}${head}`;
      const bodyBytes = body.bodyEnd - body.bodyStart;
      // The opening is ASCII but for a head of another writer: measured only near the limit.
      let bytes = opening.length * 3 + bodyBytes + SEQ_OPEN.length;
      if (bytes > room) {
        bytes = Buffer.byteLength(opening) + bodyBytes + SEQ_OPEN.length;
        if (bytes > this.bytesMax - SEQ_TAIL_BYTES_MAX) return "too-large";
        if (bytes > room) return "full";
      }
      this.reserve(bytes + SEQ_TAIL_BYTES_MAX);
      length = this.buf.write(opening, at);
      this.buf.set(new Uint8Array(body.bodyUtf8.buffer, body.bodyUtf8.byteOffset + body.bodyStart, bodyBytes), at + length);
      length += bodyBytes;
      length += this.buf.write(SEQ_OPEN, at + length, "latin1");
    } else {
      const text = recordUpToSeq(eventId, head, body);
      // A UTF-16 unit is at most 3 UTF-8 bytes: only a record near the limit is measured first.
      let bytes = text.length * 3;
      if (bytes > room) {
        bytes = Buffer.byteLength(text);
        if (bytes > this.bytesMax - SEQ_TAIL_BYTES_MAX) return "too-large";
        if (bytes > room) return "full";
      }
      this.reserve(bytes + SEQ_TAIL_BYTES_MAX);
      length = this.buf.write(text, at);
    }
    const closePrevious = this.next > this.first;
    if (clientChosen) this.markClientChosen(this.next - this.first);
    const end = writeFiniteNumber(this.buf, at + length, this.next++);
    // The chain's hash over the previous hash and the record up to its seq, as the file store's sealer takes it.
    this.tipHash = sealRecordInPlace(this.buf, at, end, this.tipHash !== "", closePrevious);
    const moved = closePrevious ? 3 : 0;
    record.encoded = this.buf;
    record.encodedStart = at + moved;
    record.encodedLength = length;
    this.used = end + moved + HASH_TRAILER_BYTES - 2;
    return "added";
  }

  /** The message's headers: its seq range, its place in the hash chain, and which of its records carry client-chosen ids. */
  headers(): MsgHdrs {
    const h = rangeHeaders({ first: this.first, last: this.next - 1 }, { prev: this.prevHash, last: this.tipHash });
    if (this.clientRangeStart >= 0) this.clientRanges.push(`${this.clientRangeStart}-${this.clientRangeEnd}`);
    this.clientRangeStart = -1;
    const ranges = this.clientRanges.length === 0 ? "none" : this.clientRanges.join(",");
    if (ranges.length <= CLIENT_IDS_CHARS_MAX) h.set(CLIENT_IDS_HEADER, ranges);
    return h;
  }

  private markClientChosen(position: number): void {
    if (this.clientRangeStart >= 0 && this.clientRangeEnd === position - 1) {
      this.clientRangeEnd = position;
      return;
    }
    if (this.clientRangeStart >= 0) this.clientRanges.push(`${this.clientRangeStart}-${this.clientRangeEnd}`);
    this.clientRangeStart = this.clientRangeEnd = position;
  }

  /** The message body: the records' lines. */
  get bytes(): Buffer {
    // The last line's end, in the room kept for it (a record added after writes over it and moves it on).
    if (this.next > this.first) writeHashClose(this.buf, this.used);
    return this.buf.subarray(CHAIN_ROOM_BYTES, CHAIN_ROOM_BYTES + this.length);
  }

  /**
   * Grows the buffer to hold a record of `bytes` more, with the last line's
   * end before it (records added before keep their bytes in the old buffer,
   * which stays as it is).
   */
  private reserve(bytes: number): void {
    const needed = this.used + 3 + bytes;
    if (needed <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.min(CHAIN_ROOM_BYTES + this.bytesMax, Math.max(this.buf.length * 2, needed)));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}

/** The headers of a message holding records first..last, chained as `link` says. */
export function rangeHeaders(range: SeqRange, link?: ChainLink): MsgHdrs {
  const h = headers();
  h.set(FIRST_SEQ_HEADER, String(range.first));
  h.set(LAST_SEQ_HEADER, String(range.last));
  if (link !== undefined) {
    h.set(PREV_HASH_HEADER, link.prev === "" ? CHAIN_START : link.prev);
    h.set(LAST_HASH_HEADER, link.last);
  }
  return h;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * A message's place in the hash chain as its headers name it; undefined for
 * a message without (an earlier version of this service, another program).
 */
export function chainOfHeaders(h: MsgHdrs | undefined): ChainLink | undefined {
  if (h === undefined) return undefined;
  const prev = h.get(PREV_HASH_HEADER);
  const last = h.get(LAST_HASH_HEADER);
  if (!HEX64.test(last) || (prev !== CHAIN_START && !HEX64.test(prev))) return undefined;
  return { prev: prev === CHAIN_START ? "" : prev, last };
}

const positiveInt = (text: string | undefined): number | undefined => {
  if (text === undefined || !/^[1-9]\d{0,15}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
};

/** The seq range named by a message's headers, when it is one of ours (both headers, first <= last). */
export function rangeOfHeaders(h: MsgHdrs | undefined): SeqRange | undefined {
  if (h === undefined) return undefined;
  const first = positiveInt(h.get(FIRST_SEQ_HEADER) || undefined);
  const last = positiveInt(h.get(LAST_SEQ_HEADER) || undefined);
  return first !== undefined && last !== undefined && first <= last ? { first, last } : undefined;
}

/**
 * What a stored message is, as the log reads it:
 * - "batch": a group commit (headers name its seq range);
 * - "single": a record stored one per message, without seq, as earlier
 *   versions of this service wrote them: its seq is its stream sequence;
 * - "other": anything else another program published on the subject (skipped).
 */
export type DecodedMessage =
  | { readonly kind: "batch"; readonly range: SeqRange; readonly records: LogRecordView[] }
  | { readonly kind: "single"; readonly range: SeqRange; readonly records: LogRecordView[] }
  | { readonly kind: "other"; readonly records: readonly [] };

const OTHER: DecodedMessage = { kind: "other", records: [] };
const NEWLINE = 0x0a;

/** Reads a stored message (its stream sequence, body and headers) into records. */
export function decodeMessage(streamSeq: number, data: Uint8Array, h: MsgHdrs | undefined): DecodedMessage {
  const range = rangeOfHeaders(h);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (range !== undefined) {
    const records = batchRecords(buf, range);
    return records === undefined ? OTHER : { kind: "batch", range, records };
  }
  const single = storedRecordOf(streamSeq, data);
  return single === undefined ? OTHER : { kind: "single", range: { first: streamSeq, last: streamSeq }, records: [single] };
}

/**
 * The seq range a stored message holds without decoding its records (for
 * searches): from its headers, or its stream sequence for a record stored
 * one per message; undefined for a message that holds no record.
 */
export function rangeOfMessage(streamSeq: number, data: Uint8Array, h: MsgHdrs | undefined): SeqRange | undefined {
  const range = rangeOfHeaders(h);
  if (range !== undefined) return range;
  return storedRecordOf(streamSeq, data) === undefined ? undefined : { first: streamSeq, last: streamSeq };
}

/** A record's identity, for a dedup window. */
export interface RecordIdentity {
  readonly seq: number;
  readonly eventId: string;
  readonly timestamp: string;
}

/**
 * The records of a stored message a dedup window must remember: those the
 * {@link CLIENT_IDS_HEADER} names (none when it says `none`), or every
 * record when the message does not say.
 */
export function clientRecordsOf(streamSeq: number, data: Uint8Array, h: MsgHdrs | undefined): readonly RecordIdentity[] {
  const range = rangeOfHeaders(h);
  const positions = range === undefined ? undefined : parsePositions(h?.get(CLIENT_IDS_HEADER) || undefined, range.last - range.first + 1);
  if (range === undefined || positions === undefined) return decodeMessage(streamSeq, data, h).records;
  if (positions.length === 0) return [];
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: RecordIdentity[] = [];
  let line = 0;
  let start = 0;
  for (const [from, to] of positions) {
    for (; line < from; line++) start = buf.indexOf(NEWLINE, start) + 1;
    for (; line <= to; line++) {
      let end = buf.indexOf(NEWLINE, start);
      if (end < 0) end = buf.length;
      const seq = range.first + line;
      if (scanRecord(buf, start, end, scan)) out.push({ seq, eventId: scan.eventId(buf), timestamp: scan.timestamp(buf) });
      else {
        const parsed = parsedRecord(buf, start, end, seq);
        if (parsed !== undefined) out.push(parsed);
      }
      start = end + 1;
    }
  }
  return out;
}

/** The positions a {@link CLIENT_IDS_HEADER} names, as ascending [from, to] pairs below `count`; undefined when it is absent or does not read. */
function parsePositions(text: string | undefined, count: number): Array<[number, number]> | undefined {
  if (text === undefined) return undefined;
  if (text === "none") return [];
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const part of text.split(",")) {
    const m = /^(\d+)-(\d+)$/.exec(part);
    if (m === null) return undefined;
    const from = Number(m[1]);
    const to = Number(m[2]);
    if (from < next || to < from || to >= count) return undefined;
    out.push([from, to]);
    next = to + 1;
  }
  return out;
}

/** The timestamp of a message's last record, in µs (NaN when it has none that parses): the time searches compare it. */
export function lastTimestampOf(streamSeq: number, data: Uint8Array, h: MsgHdrs | undefined): number {
  const decoded = decodeMessage(streamSeq, data, h);
  const last = decoded.records.at(-1);
  return last === undefined ? Number.NaN : parseTimestamp(last.timestamp);
}

/** The lines of a batch message as records first..last; undefined when they do not match the range (not ours, or damaged). */
function batchRecords(buf: Buffer, range: SeqRange): LogRecordView[] | undefined {
  const count = range.last - range.first + 1;
  const records: LogRecordView[] = new Array(count);
  let start = 0;
  for (let i = 0; i < count; i++) {
    let end = buf.indexOf(NEWLINE, start);
    if (end < 0) end = buf.length;
    if (end <= start) return undefined;
    const seq = range.first + i;
    const view = scanRecord(buf, start, end, scan) && scan.seq === seq ? new LineRecord(eventTypeName(buf, scan.typeStart, scan.typeEnd), buf, start, end, scan) : parsedRecord(buf, start, end, seq);
    if (view === undefined) return undefined;
    records[i] = view;
    start = end + 1;
  }
  return records;
}

/** Where the records of a message are scanned (one message at a time). */
const scan = new ScannedRecord();

/** A line this service did not lay out itself (escapes in event_type, say): read with JSON.parse; its seq must be the one the range gives it. */
function parsedRecord(buf: Buffer, start: number, end: number, seq: number): LogRecordView | undefined {
  const json = buf.toString("utf8", start, end);
  const parsed = parseRecordObject(json, false);
  if (parsed === undefined || parsed.members.seq !== seq) return undefined;
  return new ParsedRecord(seq, parsed.eventId, parsed.timestamp, parsed.eventType, buf.subarray(start, end), json);
}
