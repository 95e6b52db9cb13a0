import { parseTimestamp } from "../clock.js";
import type { StoreFileHandle } from "./file-system.js";

const NEWLINE = 0x0a;
const CHUNK_BYTES = 256 * 1024;

/** One complete line of the log, found by reading backwards. */
export interface TailLine {
  /** Byte offset of the line's first byte. */
  start: number;
  /** The line without its newline. */
  bytes: Buffer;
}

/**
 * Yields the log's complete lines from the end towards the start, reading
 * fixed-size chunks backwards, so the cost depends on how far back the
 * caller goes, never on the file's length. `end` must be just after a newline
 * (or 0).
 */
export async function* linesBackward(fh: StoreFileHandle, end: number): AsyncGenerator<TailLine> {
  let pos = end;
  let carry: Buffer = Buffer.alloc(0); // bytes after the newline seen last, not yet yielded
  let carryStart = end;
  // The byte at end-1 is the newline of the last line; skip it.
  let skipNewline = end > 0;
  while (pos > 0) {
    const len = Math.min(CHUNK_BYTES, pos);
    pos -= len;
    const chunk = Buffer.allocUnsafe(len);
    await readFully(fh, chunk, pos);
    const buf = carry.length ? Buffer.concat([chunk, carry]) : chunk;
    const bufStart = pos;
    let scanEnd = buf.length;
    if (skipNewline) {
      scanEnd -= 1;
      skipNewline = false;
    }
    for (let i = scanEnd - 1; i >= 0; i--) {
      if (buf[i] === NEWLINE) {
        yield { start: bufStart + i + 1, bytes: buf.subarray(i + 1, scanEnd) };
        scanEnd = i;
      }
    }
    carry = buf.subarray(0, scanEnd);
    carryStart = bufStart;
  }
  if (carry.length > 0 || (end > 0 && carryStart === 0)) yield { start: 0, bytes: carry };
}

async function readFully(fh: StoreFileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`log file shrank while reading at ${position + done}`);
    done += bytesRead;
  }
}

/** A recently written record, as the dedup window keeps it. */
export interface RecentRecord {
  eventId: string;
  seq: number;
  timestamp: string;
}

/** What start-up learns from the end of the log. */
export interface TailState {
  /** File size after cutting off a torn tail. */
  validSize: number;
  /** Bytes cut off the end (a torn last line, or lines that are not valid records). */
  torn: Buffer;
  /** Highest seq in the log, 0 for an empty log. */
  lastSeq: number;
  /** Timestamp of the last record in microseconds, 0 for an empty log. */
  lastTimestampMicros: number;
  /** The last records, oldest first, up to the requested window. */
  recent: RecentRecord[];
  /** True when the last record has no seq (a log of the original module). */
  legacy: boolean;
  /** The last record's chain hash, when it has one. */
  lastHash?: string;
}

interface ParsedRecord {
  event_id?: unknown;
  timestamp?: unknown;
  seq?: unknown;
  hash?: unknown;
}

function parseRecord(bytes: Buffer): ParsedRecord | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as ParsedRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads the end of the log: finds the torn tail a crash may leave (a last line
 * without its newline, or trailing lines that are not valid JSON records), the
 * last seq and timestamp, and the last `windowRecords` records for the dedup
 * window. Reads only the end of the file, except once for a log written by
 * the original module, whose records have no seq: there seq starts after the
 * number of lines.
 */
export async function readTail(fh: StoreFileHandle, windowRecords: number): Promise<TailState> {
  const { size } = await fh.stat();
  // Find the last newline; anything after it is a torn line.
  let completeEnd = 0;
  for (let pos = size; pos > 0 && completeEnd === 0; ) {
    const len = Math.min(CHUNK_BYTES, pos);
    pos -= len;
    const chunk = Buffer.allocUnsafe(len);
    await readFully(fh, chunk, pos);
    const i = chunk.lastIndexOf(NEWLINE);
    if (i >= 0) completeEnd = pos + i + 1;
  }
  const recent: RecentRecord[] = [];
  let validSize = completeEnd;
  let lastSeq = 0;
  let lastTimestampMicros = 0;
  let legacy = false;
  let lastHash: string | undefined;
  let seenValid = false;
  for await (const line of linesBackward(fh, completeEnd)) {
    const record = parseRecord(line.bytes);
    if (!seenValid) {
      if (record === undefined) {
        // Not a record: part of the torn tail, cut from here.
        validSize = line.start;
        continue;
      }
      seenValid = true;
      if (typeof record.seq === "number") lastSeq = record.seq;
      else legacy = true;
      if (typeof record.timestamp === "string") lastTimestampMicros = parseTimestamp(record.timestamp) || 0;
      if (typeof record.hash === "string") lastHash = record.hash;
    }
    if (legacy || recent.length >= windowRecords) break;
    if (record && typeof record.event_id === "string" && typeof record.seq === "number" && typeof record.timestamp === "string") {
      recent.push({ eventId: record.event_id, seq: record.seq, timestamp: record.timestamp });
    }
  }
  if (legacy) lastSeq = await countLines(fh, validSize);
  recent.reverse();
  const torn = Buffer.alloc(size - validSize);
  if (torn.length > 0) await readFully(fh, torn, validSize);
  return { validSize, torn, lastSeq, lastTimestampMicros, recent, legacy, lastHash };
}

async function countLines(fh: StoreFileHandle, end: number): Promise<number> {
  let count = 0;
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let pos = 0; pos < end; ) {
    const len = Math.min(CHUNK_BYTES, end - pos);
    const { bytesRead } = await fh.read(chunk, 0, len, pos);
    if (bytesRead === 0) break;
    for (let i = 0; i < bytesRead; i++) if (chunk[i] === NEWLINE) count++;
    pos += bytesRead;
  }
  return count;
}
