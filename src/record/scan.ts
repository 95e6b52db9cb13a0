import { HASH_OPEN, ID_PREFIX, RUN_OPEN, SEQ_OPEN, TS_OPEN, TYPE_OPEN } from "./layout.js";

/**
 * Reading a line in this service's own layout (layout.ts) by position,
 * without JSON.parse: the keys come in the record contract's order, so the
 * identity fields are at known places and seq is the last key (or followed
 * only by the chain's hash). Lines of any other layout (the original
 * module's spacing, escapes in event_type, unknown trailing keys, damage)
 * are left to the parser.
 */

const TS_KEY = Buffer.from(TS_OPEN);
const TYPE_KEY = Buffer.from(TYPE_OPEN);
const SEQ_KEY = Buffer.from(SEQ_OPEN);
const HASH_KEY = Buffer.from(HASH_OPEN);
const RUN_KEY = Buffer.from(RUN_OPEN);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACE = 0x7d;

/**
 * Where a scan found the fields of a line: byte offsets into the buffer
 * scanned (absolute, as given). Each reader keeps one and passes it to every
 * scan (no allocation per line); it holds the last line scanned into it.
 */
export class ScannedRecord {
  /** The record's seq (0 after {@link scanHead}, which does not read it). */
  seq = 0;
  idStart = 0;
  idEnd = 0;
  tsStart = 0;
  tsEnd = 0;
  typeStart = 0;
  typeEnd = 0;
  /** The run's id, when the body ends with one; -1 when the record names no run. */
  runStart = -1;
  runEnd = -1;

  /** The event_id of the line scanned, from its bytes `line`. */
  eventId(line: Buffer): string {
    return line.toString("latin1", this.idStart, this.idEnd);
  }

  /** The timestamp of the line scanned. */
  timestamp(line: Buffer): string {
    return line.toString("latin1", this.tsStart, this.tsEnd);
  }

  /** The run of the line scanned, or undefined when it names none. */
  run(line: Buffer): string | undefined {
    return this.runStart < 0 ? undefined : line.toString("latin1", this.runStart, this.runEnd);
  }
}

function matchAt(buf: Buffer, pos: number, end: number, pattern: Buffer): boolean {
  if (pos < 0 || pos + pattern.length > end) return false;
  for (let i = 0; i < pattern.length; i++) if (buf[pos + i] !== pattern[i]) return false;
  return true;
}

/** True when the line at `start` begins as this service writes lines (a byte loop: cheaper than a native call per line). */
export function opensAsRecord(buf: Buffer, start: number): boolean {
  if (start + ID_PREFIX.length > buf.length) return false;
  for (let i = 0; i < ID_PREFIX.length; i++) if (buf[start + i] !== ID_PREFIX[i]) return false;
  return true;
}

/**
 * Reads the identity fields (event_id, timestamp, event_type) of a record
 * object `line[start..end)` in this service's layout into `into`; false when
 * the line needs JSON.parse. Its seq is not read (a record stored without
 * one reads this far only).
 */
export function scanHead(line: Buffer, start: number, end: number, into: ScannedRecord): boolean {
  if (end - start < ID_PREFIX.length || !matchAt(line, start, end, ID_PREFIX) || line[end - 1] !== CLOSE_BRACE) return false;
  const idStart = start + ID_PREFIX.length;
  const idEnd = line.indexOf(QUOTE, idStart);
  if (idEnd < 0 || !matchAt(line, idEnd, end, TS_KEY)) return false;
  const tsStart = idEnd + TS_KEY.length;
  const tsEnd = line.indexOf(QUOTE, tsStart);
  if (tsEnd < 0 || !matchAt(line, tsEnd, end, TYPE_KEY)) return false;
  const typeStart = tsEnd + TYPE_KEY.length;
  const typeEnd = line.indexOf(QUOTE, typeStart);
  if (typeEnd < 0 || typeEnd >= end) return false;
  for (let i = typeStart; i < typeEnd; i++) if (line[i] === BACKSLASH) return false;
  into.seq = 0;
  into.runStart = -1;
  into.runEnd = -1;
  into.idStart = idStart;
  into.idEnd = idEnd;
  into.tsStart = tsStart;
  into.tsEnd = tsEnd;
  into.typeStart = typeStart;
  into.typeEnd = typeEnd;
  return true;
}

/**
 * Reads a line (`line[start..end)`, no newline) in this service's own layout
 * into `into`: its identity fields ({@link scanHead}), its seq (the last key,
 * or followed only by the chain's hash) and its run. Returns false when the
 * line needs JSON.parse (what `into` holds is then of no use).
 */
export function scanRecord(line: Buffer, start: number, end: number, into: ScannedRecord): boolean {
  if (!scanHead(line, start, end, into)) return false;
  const typeEnd = into.typeEnd;
  // seq: `,"seq":N}` or `,"seq":N,"hash":"..."}` at the end.
  let digitsEnd = end - 1;
  if (line[end - 2] === QUOTE) {
    const open = line.lastIndexOf(QUOTE, end - 3);
    const hashKey = open - (HASH_KEY.length - 1);
    if (open <= typeEnd || !matchAt(line, hashKey, end, HASH_KEY)) return false;
    digitsEnd = hashKey;
  }
  let i = digitsEnd - 1;
  let seq = 0;
  let scale = 1;
  while (i > typeEnd && line[i] >= 48 && line[i] <= 57 && digitsEnd - i <= 15) {
    seq += (line[i] - 48) * scale;
    scale *= 10;
    i--;
  }
  const seqKey = i + 1 - SEQ_KEY.length;
  if (i === digitsEnd - 1 || !matchAt(line, seqKey, end, SEQ_KEY)) return false;
  into.seq = seq;
  // The run, when the body ends with it: data and context end with "}", a run's id (no quote or backslash in it) with '"'.
  if (line[seqKey - 1] === QUOTE) {
    const open = line.lastIndexOf(QUOTE, seqKey - 2);
    if (open > typeEnd && matchAt(line, open - (RUN_KEY.length - 1), end, RUN_KEY)) {
      into.runStart = open + 1;
      into.runEnd = seqKey - 1;
    }
  }
  return true;
}
