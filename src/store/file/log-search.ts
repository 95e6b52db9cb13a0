import { open, type FileHandle } from "node:fs/promises";
import { parseLine } from "../../record/record-view.js";
import type { LogSegment } from "./segments.js";
import type { TimeBound } from "../time-bound.js";
import { errnoOf } from "../../errors.js";

/**
 * Where a read of the log files starts: found by binary search, over the
 * segment list and then over byte offsets of one file, since seq and time
 * both only grow along the log. A start costs O(log(size)) short reads,
 * never a scan of the files before it.
 */

const NEWLINE = 0x0a;
/** Bytes a search narrows a file to before reading forward; also its longest probe read. */
const WINDOW_BYTES = 64 * 1024;

/** Where reading starts or stands: a file of the segment list and a line start in it. */
export interface Position {
  segment: number;
  offset: number;
}

/** Reads `length` bytes at `position`, fewer when the file ends first. */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/**
 * Finds where the first record with seq >= fromSeq and timestamp >= since
 * may start in the log whose files are `segments`: a line start at or a
 * little before it (a reader skips what comes before).
 */
export async function locate(segments: readonly LogSegment[], fromSeq: number, since: TimeBound | undefined): Promise<Position> {
  let bySeq: Position = { segment: 0, offset: 0 };
  if (fromSeq > 1) {
    let s = segments.findIndex((seg) => seg.active || seg.lastSeq! >= fromSeq);
    if (s < 0) s = segments.length;
    bySeq = { segment: s, offset: s < segments.length ? await searchIn(segments[s].path, (l) => seqBefore(l, fromSeq)) : 0 };
  }
  if (since === undefined) return bySeq;
  // The first segment whose last record is not before since (segments are few; each costs one short read).
  let s = bySeq.segment;
  while (s < segments.length - 1 && !segments[s].active) {
    const last = await lastLineOf(segments[s].path);
    if (last === undefined || since.compare(viewTimestamp(last)) >= 0) break;
    s++;
  }
  if (s >= segments.length) return bySeq;
  const byTime: Position = { segment: s, offset: await searchIn(segments[s].path, (l) => timeBefore(l, since)) };
  return byTime.segment > bySeq.segment || (byTime.segment === bySeq.segment && byTime.offset > bySeq.offset) ? byTime : bySeq;
}

async function searchIn(path: string, before: (line: Buffer) => boolean | undefined): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return 0;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    return await searchOffset(fh, size, before, WINDOW_BYTES);
  } finally {
    await fh.close();
  }
}

/** A complete line found in a file. */
interface FoundLine {
  start: number;
  end: number; // just after its newline
  bytes: Buffer;
}

/** The first complete line starting at or after `from` (a line starts at 0 or after a newline), or undefined. */
async function lineAtOrAfter(fh: FileHandle, from: number, size: number, probeBytes: number): Promise<FoundLine | undefined> {
  let start = from;
  if (from > 0) {
    // Find the newline ending the line that contains from-1.
    let pos = from - 1;
    for (;;) {
      if (pos >= size) return undefined;
      const buf = await readAt(fh, pos, Math.min(probeBytes, size - pos));
      const i = buf.indexOf(NEWLINE);
      if (i >= 0) {
        start = pos + i + 1;
        break;
      }
      pos += buf.length;
    }
  }
  let length = probeBytes;
  for (;;) {
    if (start >= size) return undefined;
    const buf = await readAt(fh, start, Math.min(length, size - start));
    const i = buf.indexOf(NEWLINE);
    if (i >= 0) return { start, end: start + i + 1, bytes: buf.subarray(0, i) };
    if (start + buf.length >= size) return undefined; // an incomplete last line
    length *= 2;
  }
}

/**
 * Binary search over byte offsets for the first line that is not "before"
 * the target: `before(line)` says true (strictly before), false (at or after)
 * or undefined (cannot tell, e.g. a line without seq). Returns a line start
 * at or before the first matching line, at most about `windowBytes` before it.
 */
async function searchOffset(fh: FileHandle, size: number, before: (line: Buffer) => boolean | undefined, windowBytes: number): Promise<number> {
  let lo = 0; // a line start; every line starting before lo is before the target
  let hi = size;
  while (hi - lo > windowBytes) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const line = await lineAtOrAfter(fh, mid, size, Math.min(windowBytes, WINDOW_BYTES));
    if (line === undefined || line.start >= hi) {
      hi = mid;
      continue;
    }
    if (before(line.bytes) === true) lo = line.end;
    else hi = mid;
  }
  return lo;
}

function seqBefore(line: Buffer, fromSeq: number): boolean | undefined {
  const view = parseLine(line);
  return view === undefined || Number.isNaN(view.seq) ? undefined : view.seq < fromSeq;
}

function viewTimestamp(line: Buffer): string {
  return parseLine(line)?.timestamp ?? "";
}

function timeBefore(line: Buffer, since: TimeBound): boolean | undefined {
  const c = since.compare(viewTimestamp(line));
  return Number.isNaN(c) ? undefined : c < 0;
}

/** The last complete line of a file (an incomplete one after it is ignored), or undefined. */
async function lastLineOf(path: string): Promise<Buffer | undefined> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    let length = WINDOW_BYTES;
    for (;;) {
      const from = Math.max(0, size - length);
      const buf = await readAt(fh, from, size - from);
      const end = buf.length > 0 && buf[buf.length - 1] === NEWLINE ? buf.length - 1 : buf.lastIndexOf(NEWLINE);
      if (end < 0) return undefined;
      const start = buf.lastIndexOf(NEWLINE, end - 1);
      if (start >= 0 || from === 0) return buf.subarray(start + 1, end);
      length *= 2;
    }
  } finally {
    await fh.close();
  }
}
