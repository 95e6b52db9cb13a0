import { open, stat, type FileHandle } from "node:fs/promises";
import { formatTimestamp, parseTimestamp } from "../clock.js";
import { ID_PREFIX, scanned, scanRecord } from "../record/layout.js";
import { lineText, parseRecordText } from "../record/line.js";
import { countLines } from "./lines.js";
import { listSegments, type LogSegment } from "./segments.js";
import type { LogRecordView, ReadQuery, RecordCursor, RecordField, RecordSource } from "./store.js";

// The record and query types belong to the store contract; re-exported for the readers' users.
export type { LogRecordView, ReadQuery, RecordField } from "./store.js";

const NEWLINE = 0x0a;

/**
 * A record of a line in this service's own layout: its fields are byte
 * ranges of the chunk read (absolute offsets); strings and sub-buffers are
 * made only on demand, so replay copies bytes without decoding them.
 */
class LineRecord implements LogRecordView {
  constructor(
    readonly seq: number,
    readonly eventType: string,
    private readonly chunk: Buffer,
    private readonly start: number,
    private readonly end: number,
    private readonly idEnd: number,
    private readonly tsStart: number,
    private readonly tsEnd: number,
    private readonly typeStart: number,
    private readonly typeEnd: number,
  ) {}
  get eventId(): string {
    return this.chunk.toString("latin1", this.start + ID_PREFIX.length, this.idEnd);
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
    return this.chunk.subarray(this.start + ID_PREFIX.length, this.idEnd);
  }
  get timestampBytes(): Buffer {
    return this.chunk.subarray(this.tsStart, this.tsEnd);
  }
  get eventTypeBytes(): Buffer {
    return this.chunk.subarray(this.typeStart, this.typeEnd);
  }
  private rangeStart(field: RecordField): number {
    return field === "json" ? this.start : field === "eventId" ? this.start + ID_PREFIX.length : field === "timestamp" ? this.tsStart : this.typeStart;
  }
  fieldLength(field: RecordField): number {
    switch (field) {
      case "eventId":
        return this.idEnd - this.start - ID_PREFIX.length;
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

/** A record of any other layout (the original module's, escapes, unknown keys), read with JSON.parse. */
class ParsedRecord implements LogRecordView {
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

/** Options of a {@link LogReader}. */
export interface ReaderOptions {
  /** Bytes read from the file at a time: the reader's memory bound (a longer line grows one read to fit it). Default 1 MiB. */
  chunkBytes?: number;
}

/** Where reading starts or stands: a file of the segment list and a line start in it. */
interface Position {
  segment: number;
  offset: number;
}

/**
 * Parses the line chunk[start..end) (no newline) into a record view, or
 * undefined when it is not a record. A line without seq (the original
 * module's) gets seq NaN. Framing other writers leave (a byte order mark, a
 * CRLF's "\r") is not part of the record; NaN/Infinity tokens of the
 * original module are read as those numbers and the record says so.
 */
function parseLine(chunk: Buffer, start = 0, end = chunk.length): LogRecordView | undefined {
  ({ start, end } = lineText(chunk, start, end));
  const fast = parseFast(chunk, start, end);
  if (fast !== undefined) return fast;
  const line = chunk.subarray(start, end);
  const json = line.toString("utf8");
  const parsed = parseRecordText(json);
  if (!parsed.ok) return undefined;
  const r = parsed.value;
  if (typeof r.event_id !== "string" || typeof r.timestamp !== "string" || typeof r.event_type !== "string") return undefined;
  const seq = typeof r.seq === "number" && Number.isSafeInteger(r.seq) ? r.seq : Number.NaN;
  return new ParsedRecord(seq, r.event_id, r.timestamp, r.event_type, line, json, parsed.nonFinite);
}

/** A few distinct event types recur millions of times: reuse their strings. */
const typeNames = new Map<number, { bytes: Buffer; name: string }>();

function eventTypeName(line: Buffer, start: number, end: number): string {
  const len = end - start;
  const key = len * 65536 + (len > 0 ? line[start] * 256 + line[end - 1] : 0);
  const known = typeNames.get(key);
  if (known !== undefined && known.bytes.length === len && line.compare(known.bytes, 0, len, start, end) === 0) return known.name;
  const name = line.toString("utf8", start, end);
  if (typeNames.size < 4096) typeNames.set(key, { bytes: Buffer.from(line.subarray(start, end)), name });
  return name;
}

/**
 * Reads a line this service wrote without JSON.parse: the keys come in the
 * record contract's order, so identity fields are at known places and seq is
 * the last key (or followed only by "hash"). Anything else (the original
 * module's spacing, escapes in event_type, unknown trailing keys) returns
 * undefined and takes the JSON.parse path.
 */
function parseFast(line: Buffer, start: number, end: number): LogRecordView | undefined {
  if (!scanRecord(line, start, end)) return undefined;
  return new LineRecord(scanned.seq, eventTypeName(line, scanned.typeStart, scanned.typeEnd), line, start, end, scanned.idEnd, scanned.tsStart, scanned.tsEnd, scanned.typeStart, scanned.typeEnd);
}

/** Compares record timestamps with a bound, on the text when both are in the canonical form (fast), else on parsed microseconds. */
class TimeBound {
  private readonly text: string;
  private readonly bytes: Buffer;
  constructor(readonly micros: number) {
    this.text = formatTimestamp(micros);
    this.bytes = Buffer.from(this.text);
  }
  /** Like {@link compare}, on timestamp bytes chunk[start..end) (no copy when canonical). */
  compareBytes(chunk: Buffer, start: number, end: number): number {
    const c = chunk;
    if (end - start === 32 && c[start + 26] === 0x2b && c[start + 27] === 0x30 && c[start + 28] === 0x30 && c[start + 30] === 0x30 && c[start + 31] === 0x30) {
      return c.compare(this.bytes, 0, 32, start, end);
    }
    return this.compare(c.toString("utf8", start, end));
  }
  /** Like {@link compare}, on a record's timestamp. */
  compareRecord(record: LogRecordView): number {
    return this.compare(record.timestamp);
  }
  /** -1, 0 or 1 as the timestamp is before, at or after the bound; NaN when it does not parse. */
  compare(timestamp: string): number {
    if (timestamp.length === 32 && timestamp.endsWith("+00:00")) return timestamp < this.text ? -1 : timestamp > this.text ? 1 : 0;
    const m = parseTimestamp(timestamp);
    return Number.isNaN(m) ? Number.NaN : Math.sign(m - this.micros);
  }
}

/** A complete line found in a file. */
interface FoundLine {
  start: number;
  end: number; // just after its newline
  bytes: Buffer;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
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
 * or undefined (cannot tell, e.g. a line without seq). Seq and time both
 * only grow along the log, so this reads O(log(size)) lines instead of the
 * whole file. Returns a line start at or before the first matching line,
 * at most about `windowBytes` before it.
 */
async function searchOffset(fh: FileHandle, size: number, before: (line: Buffer) => boolean | undefined, windowBytes: number): Promise<number> {
  let lo = 0; // a line start; every line starting before lo is before the target
  let hi = size;
  while (hi - lo > windowBytes) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const line = await lineAtOrAfter(fh, mid, size, Math.min(windowBytes, 64 * 1024));
    if (line === undefined || line.start >= hi) {
      hi = mid;
      continue;
    }
    if (before(line.bytes) === true) lo = line.end;
    else hi = mid;
  }
  return lo;
}

function lineSeq(line: Buffer): number | undefined {
  const view = parseLine(line);
  return view === undefined || Number.isNaN(view.seq) ? undefined : view.seq;
}

/**
 * Reads the log's records in order, across its segment files, in bounded
 * memory: the files are read a chunk at a time and only complete lines are
 * returned (a line still being written is left for the next call).
 */
export class LogReader implements RecordSource {
  private readonly chunkBytes: number;

  constructor(
    /** The log path (the active file); closed segments are found beside it. */
    readonly logPath: string,
    options: ReaderOptions = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? 1024 * 1024;
  }

  /**
   * Opens a cursor at the first record matching the query's fromSeq and
   * since, found by binary search (over segments, then over byte offsets).
   */
  async open(query: ReadQuery = {}): Promise<LogCursor> {
    const segments = await listSegments(this.logPath);
    const cursor = new LogCursor(this, segments, query, this.chunkBytes);
    await cursor.seek(query.fromSeq ?? 1, query.sinceMicros);
    return cursor;
  }

  /** Convenience: every matching record, in batches (one per chunk read), up to the current end of the log. */
  async *batches(query: ReadQuery = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<LogRecordView[]> {
    const cursor = await this.open(query);
    try {
      yield* cursor.batches(undefined, options.signal);
    } finally {
      await cursor.close();
    }
  }

  /** Lists the segment files (see {@link listSegments}). */
  segments(): Promise<LogSegment[]> {
    return listSegments(this.logPath);
  }

  /** @internal Finds where the first record with seq >= fromSeq and timestamp >= since may start. */
  async locate(segments: readonly LogSegment[], fromSeq: number, since: TimeBound | undefined): Promise<Position> {
    let bySeq: Position = { segment: 0, offset: 0 };
    if (fromSeq > 1) {
      let s = segments.findIndex((seg) => seg.active || seg.lastSeq! >= fromSeq);
      if (s < 0) s = segments.length;
      bySeq = { segment: s, offset: s < segments.length ? await this.searchIn(segments[s].path, (l) => seqBefore(l, fromSeq)) : 0 };
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
    const byTime: Position = { segment: s, offset: await this.searchIn(segments[s].path, (l) => timeBefore(l, since)) };
    return byTime.segment > bySeq.segment || (byTime.segment === bySeq.segment && byTime.offset > bySeq.offset) ? byTime : bySeq;
  }

  private async searchIn(path: string, before: (line: Buffer) => boolean | undefined): Promise<number> {
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw err;
    }
    try {
      const { size } = await fh.stat();
      return await searchOffset(fh, size, before, 64 * 1024);
    } finally {
      await fh.close();
    }
  }
}

function seqBefore(line: Buffer, fromSeq: number): boolean | undefined {
  const seq = lineSeq(line);
  return seq === undefined ? undefined : seq < fromSeq;
}

function viewTimestamp(line: Buffer): string {
  return parseLine(line)?.timestamp ?? "";
}

function timeBefore(line: Buffer, since: TimeBound): boolean | undefined {
  const c = since.compare(viewTimestamp(line));
  return Number.isNaN(c) ? undefined : c < 0;
}

async function lastLineOf(path: string): Promise<Buffer | undefined> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    let length = 64 * 1024;
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

/**
 * A position in the log that reads forward. `batches(maxSeq)` returns what is
 * there now; called again later (e.g. after a commit) it continues where it
 * stopped, following the active file and moving on to the next segment when
 * the active file was rotated.
 */
export class LogCursor implements RecordCursor {
  private segmentIndex = 0;
  private fh: FileHandle | undefined;
  private offset = 0;
  /** Seq of the last line read (for lines without seq); undefined when unknown. */
  private prevSeq: number | undefined;
  private returned = 0;
  private finished = false;
  private readonly until?: TimeBound;
  private readonly since?: TimeBound;
  private readonly types?: ReadonlySet<string>;
  private readonly fromSeq: number;
  private readonly limit: number;
  /** Complete lines that were not records (skipped). */
  skippedLines = 0;
  /** Records read that hold the original module's NaN/Infinity tokens (returned as written). */
  nonFiniteRecords = 0;
  /** The seq after the last record read (matching or not): where a follower continues. */
  nextSeq: number;

  /** @internal Use {@link LogReader.open}. */
  constructor(
    private readonly reader: LogReader,
    private segments: LogSegment[],
    query: ReadQuery,
    private readonly chunkBytes: number,
  ) {
    this.fromSeq = query.fromSeq ?? 1;
    this.nextSeq = this.fromSeq;
    this.limit = query.limit ?? 0;
    if (query.sinceMicros !== undefined) this.since = new TimeBound(query.sinceMicros);
    if (query.untilMicros !== undefined) this.until = new TimeBound(query.untilMicros);
    if (query.eventTypes !== undefined && query.eventTypes.size > 0) this.types = query.eventTypes;
  }

  /** True once the limit is reached or a record at or after until was seen: nothing more will come. */
  get done(): boolean {
    return this.finished;
  }

  /** @internal */
  async seek(fromSeq: number, sinceMicros: number | undefined): Promise<void> {
    const since = sinceMicros === undefined ? undefined : new TimeBound(sinceMicros);
    const pos = await this.reader.locate(this.segments, fromSeq, since);
    await this.moveTo(pos);
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
    while (!this.finished && !signal?.aborted && (maxSeq === undefined || this.nextSeq <= maxSeq)) {
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
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
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
      this.prevSeq = this.nextSeq - 1;
      return true;
    }
    // The active file (or past the list): if the log path still names the
    // file we read, we are caught up. Otherwise it was rotated (our handle
    // reads the renamed file) or it appeared: list again, go to nextSeq.
    const [mine, current] = await Promise.all([
      this.fh?.stat().catch(() => undefined),
      stat(this.reader.logPath).catch(() => undefined),
    ]);
    if (mine !== undefined && current !== undefined && mine.ino === current.ino && mine.dev === current.dev) return false;
    const path = seg?.path;
    const offset = this.offset;
    this.segments = await this.reader.segments();
    const pos = await this.reader.locate(this.segments, this.nextSeq, undefined);
    const next = this.segments[pos.segment];
    if (next === undefined) return false;
    // Same file and place while we could not open it: nothing new to read.
    if (mine === undefined && next.path === path && pos.offset === offset) return false;
    await this.moveTo(pos);
    if (pos.offset === 0) this.prevSeq = this.nextSeq - 1;
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
    const { since, until, types } = this;
    while (pos < end) {
      const nl = buf.indexOf(NEWLINE, pos);
      const lineStart = pos;
      if (scanRecord(buf, lineStart, nl)) {
        // The hot path: filter on the scanned byte ranges, make a record only for what is kept.
        const seq = scanned.seq;
        if (maxSeq !== undefined && seq > maxSeq) break; // not durable yet: leave it for the next call
        pos = nl + 1;
        this.prevSeq = seq;
        if (seq < this.nextSeq) continue; // before fromSeq (the search lands a little early)
        this.nextSeq = seq + 1;
        if (since !== undefined && !(since.compareBytes(buf, scanned.tsStart, scanned.tsEnd) >= 0)) continue;
        if (until !== undefined && !(until.compareBytes(buf, scanned.tsStart, scanned.tsEnd) < 0)) {
          this.finished = true;
          break;
        }
        const eventType = eventTypeName(buf, scanned.typeStart, scanned.typeEnd);
        if (types !== undefined && !types.has(eventType)) continue;
        records.push(new LineRecord(seq, eventType, buf, lineStart, nl, scanned.idEnd, scanned.tsStart, scanned.tsEnd, scanned.typeStart, scanned.typeEnd));
        if (this.limit > 0 && ++this.returned >= this.limit) {
          this.finished = true;
          break;
        }
        continue;
      }
      let view = parseLine(buf, lineStart, nl);
      if (view === undefined) {
        this.skippedLines++;
        pos = nl + 1;
        continue;
      }
      if (Number.isNaN(view.seq)) {
        // A line of the original module: numbered after the line before it
        // (counted once when reading started by time in the middle of such a log).
        this.prevSeq ??= await countLines(fh, this.offset + pos);
        view = (view as ParsedRecord).withSeq(this.prevSeq + 1);
      }
      if (maxSeq !== undefined && view.seq > maxSeq) break;
      pos = nl + 1;
      this.prevSeq = view.seq;
      if (view instanceof ParsedRecord && view.nonFinite) this.nonFiniteRecords++;
      if (view.seq < this.nextSeq) continue;
      this.nextSeq = view.seq + 1;
      if (since !== undefined && !(since.compareRecord(view) >= 0)) continue;
      if (until !== undefined && !(until.compareRecord(view) < 0)) {
        this.finished = true;
        break;
      }
      if (types !== undefined && !types.has(view.eventType)) continue;
      records.push(view);
      if (this.limit > 0 && ++this.returned >= this.limit) {
        this.finished = true;
        break;
      }
    }
    this.offset += pos;
    return { records, progressed: pos > 0 || this.finished };
  }
}

const ISO_WITH_OFFSET = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses a time bound: a record timestamp (2026-11-24T19:05:53.700123+00:00)
 * or any ISO 8601 date-time with an offset (seconds and fraction optional,
 * Z or ±HH:MM). Returns microseconds since the epoch, or undefined when the
 * text is not such a time.
 */
export function parseTimeBound(text: string): number | undefined {
  const m = ISO_WITH_OFFSET.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}:${m[3] ?? "00"}${m[5]}`);
  if (Number.isNaN(ms)) return undefined;
  const micros = ms * 1000 + Number((m[4] ?? "").slice(0, 6).padEnd(6, "0"));
  return Number.isSafeInteger(micros) ? micros : undefined;
}
