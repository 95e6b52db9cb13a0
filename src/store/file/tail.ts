import { parseTimestamp } from "../../clock.js";
import { hasNul, lineText, parseRecordLine } from "../../record/line.js";
import { ScannedRecord, scanRecord } from "../../record/scan.js";
import type { StoreFileHandle } from "./file-system.js";
import { countLines, lineBatchesBackward, linesBackward, readFully } from "./lines.js";
import type { RecentRecord } from "../dedup-window.js";

const NEWLINE = 0x0a;
const CHUNK_BYTES = 256 * 1024;

/** A complete line that is not a record (damage, or a hand edit): kept where it is, and reported. */
export interface DamagedLine {
  /** Byte offset of the line in its file. */
  offset: number;
  /** Why it is not a record (the JSON parser's words). */
  reason: string;
  /** The file holding it; set by the caller that knows the path. */
  path?: string;
}

/** At most this many damaged lines are kept for the start-up warning (all are counted). */
const DAMAGED_KEPT = 10;

/** What start-up learns from the end of the log, across as many files as the dedup window needs. */
export interface TailState {
  /** File size after cutting off a torn tail (of the file read first: the active one). */
  validSize: number;
  /** Bytes cut off the end: a last line without its newline, or trailing lines holding NUL bytes (padding a crash left). */
  torn: Buffer;
  /** Highest seq in the log (the newest record's, or the line count of a log of the original module), 0 for an empty log. */
  lastSeq: number;
  /** Timestamp of the last record in microseconds, 0 for an empty log. */
  lastTimestampMicros: number;
  /** The last records, oldest first, up to the requested window. */
  recent: RecentRecord[];
  /** True when the last record has no seq (a log of the original module). */
  legacy: boolean;
  /** The last record's chain hash, when it has one. */
  lastHash?: string;
  /** True once a record was found (lastSeq, lastHash and the timestamp come from it). */
  found: boolean;
  /** True when the scan met a record of the original module: nothing older can be ours. */
  reachedLegacy: boolean;
  /** Complete lines the scan met that are not records, newest first (the first few). */
  damaged: DamagedLine[];
  /** How many such lines the scan met in all. */
  damagedCount: number;
  /** Records among those read holding the original module's NaN/Infinity tokens. */
  nonFiniteRecords: number;
}

/**
 * Where the complete lines of a file end: before a last line without its
 * newline, and before NUL padding after the last record (a crash can leave
 * the file longer than the data that reached the disk, padded with zeros):
 * from the first line after the last record that holds a NUL byte.
 * Only such an incomplete tail is torn; a complete line that does not parse
 * is data, kept where it is.
 */
async function completeEnd(fh: StoreFileHandle, size: number): Promise<number> {
  let end = 0;
  for (let pos = size; pos > 0 && end === 0; ) {
    const len = Math.min(CHUNK_BYTES, pos);
    pos -= len;
    const chunk = Buffer.allocUnsafe(len);
    await readFully(fh, chunk, pos);
    const i = chunk.lastIndexOf(NEWLINE);
    if (i >= 0) end = pos + i + 1;
  }
  // Among the lines after the last record, the earliest one holding a NUL
  // marks where the crash's padding starts: it and all after it are torn.
  let cut = end;
  for await (const line of linesBackward(fh, end)) {
    if (hasNul(line.bytes)) cut = line.start;
    else if (parseRecordLine(line.bytes).ok) break;
  }
  return cut;
}

/** An empty scan, to be filled by {@link scanBackward}. */
function emptyTail(): TailState {
  return { validSize: 0, torn: Buffer.alloc(0), lastSeq: 0, lastTimestampMicros: 0, recent: [], legacy: false, found: false, reachedLegacy: false, damaged: [], damagedCount: 0, nonFiniteRecords: 0 };
}

/**
 * Reads a file's lines backwards from `end` into `state`: the newest record
 * (if none was found in a newer file), then records for the dedup window
 * until it holds `windowRecords`, noting damaged lines on the way. Stops at a
 * record without seq (the original module's: nothing of ours is older).
 */
async function scanBackward(fh: StoreFileHandle, end: number, windowRecords: number, state: TailState, path?: string): Promise<void> {
  const older: RecentRecord[] = [];
  const found = new ScannedRecord();
  scan: for await (const lines of lineBatchesBackward(fh, end)) {
    for (const line of lines) {
      // Window records in this service's layout are read by position (no
      // JSON.parse); the newest record is parsed whole for its hash.
      if (state.found && !state.reachedLegacy) {
        const text = lineText(line.bytes, 0, line.bytes.length);
        if (scanRecord(line.bytes, text.start, text.end, found)) {
          if (state.recent.length + older.length >= windowRecords) break scan;
          older.push({ eventId: found.eventId(line.bytes), seq: found.seq, timestamp: found.timestamp(line.bytes) });
          continue;
        }
      }
      const parsed = parseRecordLine(line.bytes);
      if (!parsed.ok) {
        if (state.damaged.length < DAMAGED_KEPT) state.damaged.push({ offset: line.start, reason: line.bytes.length === 0 ? "empty line" : parsed.reason, path });
        state.damagedCount++;
        continue;
      }
      const record = parsed.value;
      if (parsed.nonFinite) state.nonFiniteRecords++;
      if (!state.found) {
        state.found = true;
        if (typeof record.seq === "number") state.lastSeq = record.seq;
        else state.legacy = true;
        if (typeof record.timestamp === "string") state.lastTimestampMicros = parseTimestamp(record.timestamp) || 0;
        if (typeof record.hash === "string") state.lastHash = record.hash;
      }
      if (typeof record.seq !== "number") {
        state.reachedLegacy = true;
        break scan;
      }
      if (state.recent.length + older.length >= windowRecords) break scan;
      if (typeof record.event_id === "string" && typeof record.timestamp === "string") {
        older.push({ eventId: record.event_id, seq: record.seq, timestamp: record.timestamp });
      }
    }
  }
  state.recent = older.reverse().concat(state.recent);
}

/**
 * Reads the end of the active log file: finds the torn tail a crash may
 * leave, the last seq, timestamp and hash, and the last `windowRecords`
 * records for the dedup window. Reads only the end of the file, except once
 * for a log written by the original module, whose records have no seq:
 * there seq starts after the number of lines. When the file holds fewer
 * records than the window, {@link readOlderFile} goes on into closed segments.
 */
export async function readTail(fh: StoreFileHandle, windowRecords: number, path?: string): Promise<TailState> {
  const { size } = await fh.stat();
  const state = emptyTail();
  state.validSize = await completeEnd(fh, size);
  await scanBackward(fh, state.validSize, windowRecords, state, path);
  if (state.legacy) state.lastSeq = await countLines(fh, state.validSize);
  state.torn = Buffer.alloc(size - state.validSize);
  if (state.torn.length > 0) await readFully(fh, state.torn, state.validSize);
  return state;
}

/** True when the scan needs the next older file: no record found yet, or the window is not full and nothing of the original module was met. */
export function needsOlderFile(state: TailState, windowRecords: number): boolean {
  return !state.found || (!state.reachedLegacy && state.recent.length < windowRecords);
}

/** Goes on with a closed segment (older than every file read so far): its complete lines are all read as data. */
export async function readOlderFile(fh: StoreFileHandle, state: TailState, windowRecords: number, path?: string): Promise<void> {
  const { size } = await fh.stat();
  const wasFound = state.found;
  await scanBackward(fh, await completeEnd(fh, size), windowRecords, state, path);
  if (!wasFound && state.legacy) state.lastSeq = await countLines(fh, size);
}

/** The number of a line (from 1) that starts at `offset`: counts the newlines before it. */
export async function lineNumberAt(fh: StoreFileHandle, offset: number): Promise<number> {
  return (await countLines(fh, offset)) + 1;
}
