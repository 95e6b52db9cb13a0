import { open, stat, type FileHandle } from "node:fs/promises";
import { runSeqMarker } from "../../record/layout.js";
import { eventTypeName, LineRecord, ParsedRecord, parseLine } from "../../record/record-view.js";
import { opensAsRecord, ScannedRecord, scanRecord } from "../../record/scan.js";
import { countLines } from "./lines.js";
import { locate, readAt, type Position } from "./log-search.js";
import { ReadFilter } from "../read-filter.js";
import { listSegments, type LogSegment } from "./segments.js";
import type { LogRecordView, ReadQuery, RecordCursor } from "../store.js";
import { TimeBound } from "../time-bound.js";
import { errnoOf } from "../../errors.js";

const NEWLINE = 0x0a;


/** The run of the line `scan` holds, for the filter to ask for (only reads by run do). */
function runScanned(buf: Buffer, scan: ScannedRecord): () => string | undefined {
  const { runStart, runEnd } = scan;
  return () => (runStart < 0 ? undefined : buf.toString("latin1", runStart, runEnd));
}

/**
 * A position in the log files that reads forward. `batches(maxSeq)` returns
 * what is there now; called again later (e.g. after a commit) it continues
 * where it stopped, following the active file and moving on to the next
 * segment when the active file was rotated. Which records it returns is the
 * query's {@link ReadFilter}'s business.
 */
export class LogCursor implements RecordCursor {
  private segmentIndex = 0;
  private fh: FileHandle | undefined;
  private offset = 0;
  /** Seq of the last line read (for lines without seq); undefined when unknown. */
  private prevSeq: number | undefined;
  private readonly filter: ReadFilter;
  /** Complete lines that were not records (skipped). */
  skippedLines = 0;
  /** Records read that hold the original module's NaN/Infinity tokens (returned as written). */
  nonFiniteRecords = 0;
  /** For a read by run: the bytes every record of each run holds (`,"run":"<id>","seq":`), to pass over the lines of other runs. */
  private readonly runNeedles: Buffer[] | undefined;
  /** Where the line being read was found (one per cursor: no allocation per line). */
  private readonly scan = new ScannedRecord();

  private constructor(
    /** The log path (the active file); closed segments are found beside it. */
    private readonly logPath: string,
    private segments: LogSegment[],
    query: ReadQuery,
    private readonly chunkBytes: number,
  ) {
    this.filter = new ReadFilter(query);
    if (this.filter.runs !== undefined && this.filter.runs.size <= 8) this.runNeedles = [...this.filter.runs].map(runSeqMarker);
  }

  /**
   * For a read by run, the seq of the chunk's last line when the lines before
   * it may be passed over by a byte search: it is in this service's layout
   * and durable (at most maxSeq), so every line before it is too (seqs only
   * grow). Undefined: read every line.
   */
  private skippableThrough(buf: Buffer, end: number, maxSeq: number | undefined): number | undefined {
    if (this.runNeedles === undefined) return undefined;
    const lastStart = buf.lastIndexOf(NEWLINE, end - 2) + 1;
    if (!scanRecord(buf, lastStart, end - 1, this.scan)) return undefined;
    const seq = this.scan.seq;
    return maxSeq === undefined || seq <= maxSeq ? seq : undefined;
  }

  /** Where the next line holding one of the runs' members may start (its needle's position), from `from`; Infinity for none. */
  private nextRunHit(buf: Buffer, from: number): number {
    let hit = Number.POSITIVE_INFINITY;
    for (const needle of this.runNeedles!) {
      const at = buf.indexOf(needle, from);
      if (at >= 0 && at < hit) hit = at;
    }
    return hit;
  }

  /**
   * Opens a cursor at the first record matching the query's fromSeq and
   * since, found by binary search (over segments, then over byte offsets),
   * reading `chunkBytes` at a time.
   */
  static async open(logPath: string, query: ReadQuery, chunkBytes: number): Promise<LogCursor> {
    const cursor = new LogCursor(logPath, await listSegments(logPath), query, chunkBytes);
    await cursor.moveTo(await locate(cursor.segments, query.fromSeq ?? 1, query.sinceMicros === undefined ? undefined : new TimeBound(query.sinceMicros)));
    return cursor;
  }

  /** The seq after the last record read (matching or not): where a follower continues. */
  get nextSeq(): number {
    return this.filter.nextSeq;
  }

  /** True once the limit is reached or a record at or after until was seen: nothing more will come. */
  get done(): boolean {
    return this.filter.done;
  }

  private async moveTo(pos: Position): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
    this.segmentIndex = pos.segment;
    this.offset = pos.offset;
    const seg = this.segments[pos.segment];
    // A line without seq is numbered after the one before it; at a file's start that is known.
    this.prevSeq = pos.offset === 0 ? (seg?.firstSeq ?? 1) - 1 : undefined;
  }

  /**
   * Yields the matching records available now, one array per chunk read
   * (arrays are never empty), stopping after seq `maxSeq` when given (a
   * server passes its durable last seq, so a reader never sees a record
   * before it is acknowledged), at the end of the files, at the limit, or at
   * a record past until. Memory stays within about one chunk.
   */
  async *batches(maxSeq?: number, signal?: AbortSignal): AsyncGenerator<LogRecordView[]> {
    while (!this.filter.done && !signal?.aborted && (maxSeq === undefined || this.filter.nextSeq <= maxSeq)) {
      const { records, progressed } = await this.readChunk(maxSeq);
      if (records.length > 0) yield records;
      else if (!progressed) return;
    }
  }

  /** Releases the open file. */
  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }

  private async openCurrent(): Promise<FileHandle | undefined> {
    if (this.fh !== undefined) return this.fh;
    const seg = this.segments[this.segmentIndex];
    if (seg === undefined) return undefined;
    try {
      this.fh = await open(seg.path, "r");
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") throw err;
      return undefined;
    }
    return this.fh;
  }

  /** At the end of the current file: moves to the next file if there is one. Returns false when there is nothing more now. */
  private async advanceFile(): Promise<boolean> {
    const seg = this.segments[this.segmentIndex];
    if (seg !== undefined && !seg.active) {
      // A closed segment is complete: go on with the next file of the list.
      await this.moveTo({ segment: this.segmentIndex + 1, offset: 0 });
      this.prevSeq = this.filter.nextSeq - 1;
      return true;
    }
    // The active file (or past the list): if the log path still names the
    // file we read, we are caught up. Otherwise it was rotated (our handle
    // reads the renamed file) or it appeared: list again, go to nextSeq.
    const [mine, current] = await Promise.all([this.fh?.stat().catch(() => undefined), stat(this.logPath).catch(() => undefined)]);
    if (mine !== undefined && current !== undefined && mine.ino === current.ino && mine.dev === current.dev) return false;
    const path = seg?.path;
    const offset = this.offset;
    this.segments = await listSegments(this.logPath);
    const pos = await locate(this.segments, this.filter.nextSeq, undefined);
    const next = this.segments[pos.segment];
    if (next === undefined) return false;
    // Same file and place while we could not open it: nothing new to read.
    if (mine === undefined && next.path === path && pos.offset === offset) return false;
    await this.moveTo(pos);
    if (pos.offset === 0) this.prevSeq = this.filter.nextSeq - 1;
    return true;
  }

  /** Reads one chunk: returns its matching records, and whether any line was consumed or the file changed. */
  private async readChunk(maxSeq: number | undefined): Promise<{ records: LogRecordView[]; progressed: boolean }> {
    const records: LogRecordView[] = [];
    const fh = await this.openCurrent();
    if (fh === undefined) return { records, progressed: await this.advanceFile() };
    let length = this.chunkBytes;
    let buf: Buffer;
    let last: number;
    for (;;) {
      buf = await readAt(fh, this.offset, length);
      last = buf.lastIndexOf(NEWLINE);
      if (last >= 0 || buf.length < length) break;
      length *= 2; // one line longer than a chunk
    }
    if (last < 0) return { records, progressed: await this.advanceFile() };
    let pos = 0;
    const end = last + 1;
    const filter = this.filter;
    const scan = this.scan;
    // A read by run passes over, by a byte search, the lines in this service's
    // layout that hold none of its runs' members: a sparse run's read costs a
    // search through the bytes, not a scan of every record. A line that holds
    // a member (even one inside data) or has another layout is read as usual.
    const skipThrough = this.skippableThrough(buf, end, maxSeq);
    let hit = skipThrough === undefined ? -1 : this.nextRunHit(buf, 0);
    while (pos < end) {
      const nl = buf.indexOf(NEWLINE, pos);
      const lineStart = pos;
      if (skipThrough !== undefined) {
        if (hit < lineStart) hit = this.nextRunHit(buf, lineStart);
        if (nl < hit && opensAsRecord(buf, lineStart)) {
          pos = nl + 1;
          continue;
        }
      }
      if (scanRecord(buf, lineStart, nl, scan)) {
        // The hot path: filter on the scanned byte ranges, make a record only for what is kept.
        const seq = scan.seq;
        if (maxSeq !== undefined && seq > maxSeq) break; // not durable yet: leave it for the next call
        pos = nl + 1;
        this.prevSeq = seq;
        if (!filter.passSeq(seq)) continue; // before fromSeq (the search lands a little early)
        if (!filter.inTimeBytes(buf, scan.tsStart, scan.tsEnd)) {
          if (filter.done) break;
          continue;
        }
        const eventType = eventTypeName(buf, scan.typeStart, scan.typeEnd);
        if (!filter.take(eventType, filter.runs === undefined ? undefined : runScanned(buf, scan))) continue;
        records.push(new LineRecord(eventType, buf, lineStart, nl, scan));
        if (filter.done) break;
        continue;
      }
      let view = parseLine(buf, lineStart, nl);
      if (view === undefined) {
        this.skippedLines++;
        pos = nl + 1;
        continue;
      }
      if (view instanceof ParsedRecord && Number.isNaN(view.seq)) {
        // A line of the original module: numbered after the line before it
        // (counted once when reading started by time in the middle of such a log).
        this.prevSeq ??= await countLines(fh, this.offset + pos);
        view = view.withSeq(this.prevSeq + 1);
      }
      if (maxSeq !== undefined && view.seq > maxSeq) break;
      pos = nl + 1;
      this.prevSeq = view.seq;
      if (view instanceof ParsedRecord && view.nonFinite) this.nonFiniteRecords++;
      if (!filter.passSeq(view.seq)) continue;
      if (filter.matches(view)) records.push(view);
      if (filter.done) break;
    }
    if (skipThrough !== undefined && pos === end) {
      // The chunk's lines were all read or passed over: position as after reading its last one.
      this.prevSeq = skipThrough;
      filter.passSeq(skipThrough);
    }
    this.offset += pos;
    return { records, progressed: pos > 0 || filter.done };
  }
}
