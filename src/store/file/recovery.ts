import { dirname } from "node:path";
import { formatTimestamp, type Clock } from "../../clock.js";
import { parseRecordLine } from "../../record/line.js";
import type { StoreFileHandle, StoreFileSystem } from "./file-system.js";
import { splitHashedLine } from "../hash-chain.js";
import { invariant } from "./invariants.js";
import { linesForward, readFully } from "./lines.js";
import { LogFileChangedError } from "./log-file-check.js";
import { listSegments } from "./segments.js";
import type { RecentRecord } from "../dedup-window.js";
import { lineNumberAt, needsOlderFile, readOlderFile, readTail, type DamagedLine, type TailState } from "./tail.js";
import { errnoOf } from "../../errors.js";

/** What opening the log found and repaired. */
export interface RecoveryReport {
  /** Bytes of torn tail cut off the end of the log (0 when the log was clean). */
  tornBytes: number;
  /** Where the torn bytes were kept, when there were any. */
  quarantinePath?: string;
  /** The last seq found. */
  lastSeq: number;
  /** True when the log was written by the original module (no seq). */
  legacy: boolean;
  /** Records loaded into the dedup window (from the active file and as many closed segments as it needed). */
  windowRecords: number;
  /** Complete lines met by the start-up scan that are not records: kept in place, counted. */
  damagedLines: number;
  /** The first few of them, newest first, with file, line number and reason. */
  damaged: Array<DamagedLine & { line: number }>;
  /** Records met by the start-up scan that hold the original module's NaN/Infinity tokens. */
  nonFiniteRecords: number;
}

/** What a recovery leaves the writer with: the open active file and where the log stands. */
export interface RecoveredLog {
  /** The active file, open for writing. */
  fh: StoreFileHandle;
  /** Bytes of the active file known durable: where the next write goes. */
  durableSize: number;
  /** Seq and chain hash of the last record ("" when it has none). */
  lastSeq: number;
  tip: string;
  /** Timestamp of the last record, in µs (0 for an empty log). */
  lastTimestampMicros: number;
  /** Seq of the first record of the active file (the next seq when it holds none). */
  activeFirstSeq: number;
  /** The last records, oldest first, for the dedup window. */
  recent: RecentRecord[];
  report: RecoveryReport;
}

/** Options of {@link recoverLog}. */
export interface RecoverOptions {
  path: string;
  fs: StoreFileSystem;
  clock: Clock;
  /** Records the dedup window keeps: the scan reads back this far, into closed segments when it must. */
  windowRecords: number;
  /** While serving (after a failed write or rotation): a missing folder is a log removed under the server, never made again. */
  running: boolean;
  /** After a failed write: only this many bytes are known fsynced, and anything past them is cut (not quarantined). */
  trustedSize: number | undefined;
  /** Called with the opened file before anything is read or cut (the writer takes the file's identity lock). */
  holdFile: (fh: StoreFileHandle) => Promise<void>;
}

/**
 * Opens the active file and reads its tail: at start, and while running
 * after a failed write or rotation. Cuts a torn tail (keeping its bytes in
 * `<path>.quarantine`), or after a failed write everything past the bytes
 * known durable; reads on into closed segments while the dedup window (or,
 * for a fresh active file after a rotation, the last record) needs them; and
 * checks the writer's invariants on what it found.
 */
export async function recoverLog(o: RecoverOptions): Promise<RecoveredLog> {
  const { path, fs } = o;
  const dir = dirname(path);
  if (!o.running) await fs.mkdir(dir, 0o700);
  let fh: StoreFileHandle;
  try {
    fh = await fs.openReadWrite(path, 0o600);
  } catch (err) {
    const code = errnoOf(err);
    if (o.running && (code === "ENOENT" || code === "ENOTDIR")) throw new LogFileChangedError("removed", path, "its folder is gone");
    throw err;
  }
  try {
    await o.holdFile(fh);
    await fh.chmod(0o600);
    const tail = await readTail(fh, o.windowRecords, path);
    let quarantinePath: string | undefined;
    // After a failed write we only trust bytes we know were fsynced.
    const keep = o.trustedSize !== undefined ? Math.min(tail.validSize, o.trustedSize) : tail.validSize;
    const { size } = await fh.stat();
    if (size > keep) {
      if (tail.torn.length > 0 && o.trustedSize === undefined) {
        quarantinePath = `${path}.quarantine`;
        const header = Buffer.from(`# torn tail cut at byte ${tail.validSize} on ${formatTimestamp(o.clock.nowMicros())}\n`);
        await fs.appendDurably(quarantinePath, Buffer.concat([header, tail.torn, Buffer.from("\n")]), 0o600);
      }
      await fh.truncate(keep);
      await fh.datasync();
    }
    await fs.syncDir(dir);
    const found = keep === tail.validSize ? tail : await readTail(fh, o.windowRecords, path);
    const activeHasRecords = found.found;
    // The window (and, for a fresh active file after a rotation, the last
    // record) goes on into the closed segments, newest first.
    await readOlderSegments(o, found);
    const tip = found.lastHash ?? "";
    const activeFirstSeq = activeHasRecords ? await firstSeqOf(fh, found.legacy, found.lastSeq) : found.lastSeq + 1;
    await checkRecovered(fh, found.validSize, found.lastSeq, tip, activeFirstSeq);
    return {
      fh,
      durableSize: found.validSize,
      lastSeq: found.lastSeq,
      tip,
      lastTimestampMicros: found.lastTimestampMicros,
      activeFirstSeq,
      recent: found.recent,
      report: {
        tornBytes: size - keep,
        quarantinePath,
        lastSeq: found.lastSeq,
        legacy: found.legacy,
        windowRecords: found.recent.length,
        damagedLines: found.damagedCount,
        damaged: await numbered(o, found.damaged),
        nonFiniteRecords: found.nonFiniteRecords,
      },
    };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/**
 * The writer's invariants on what a recovery found (once per recovery: a
 * stat, and a read of the last line): the file is as long as the bytes kept,
 * the active file's first seq is not past the next one, and the tip is the
 * hash of the file's last line when that line is a hashed record (the scan
 * and the line parser agree on the last record).
 */
async function checkRecovered(fh: StoreFileHandle, durableSize: number, lastSeq: number, tip: string, activeFirstSeq: number): Promise<void> {
  const { size } = await fh.stat();
  invariant(size === durableSize, "file size equals durable size", () => ({ at: "recovery", fileSize: size, durableSize }));
  invariant(activeFirstSeq <= lastSeq + 1, "seq strictly increasing", () => ({ at: "recovery", activeFirstSeq, lastSeq }));
  const last = await lastLine(fh, durableSize);
  const hashed = last && splitHashedLine(last);
  if (hashed !== undefined && parseRecordLine(last!).ok) {
    invariant(hashed.hash === tip, "sealer tip equals last hash", () => ({ at: "recovery", tip, lastLineHash: hashed.hash }));
  }
}

/**
 * The file's last line (without its newline), read in a small window grown
 * while the line does not fit: start-up reads only the end of the log.
 * Undefined for an empty file, or a last line longer than the largest window.
 */
async function lastLine(fh: StoreFileHandle, end: number): Promise<Buffer | undefined> {
  if (end === 0) return undefined;
  for (const window of [4 * 1024, 64 * 1024, 1024 * 1024]) {
    const from = Math.max(0, end - window);
    const buf = Buffer.allocUnsafe(end - from);
    await readFully(fh, buf, from);
    // The byte at end - 1 is the last line's newline: the line starts after the one before it.
    const start = buf.lastIndexOf(0x0a, buf.length - 2) + 1;
    if (start > 0 || from === 0) return buf.subarray(start, buf.length - 1);
  }
  return undefined;
}

/** Continues the start-up scan into closed segments, newest first, while it needs them. */
async function readOlderSegments(o: RecoverOptions, state: TailState): Promise<void> {
  if (!needsOlderFile(state, o.windowRecords)) return;
  const closed = (await listSegments(o.path, o.fs)).filter((s) => !s.active).reverse();
  for (const segment of closed) {
    const fh = await o.fs.openReadWrite(segment.path, 0o600);
    try {
      await readOlderFile(fh, state, o.windowRecords, segment.path);
    } finally {
      await fh.close();
    }
    if (!needsOlderFile(state, o.windowRecords)) return;
  }
}

/** Damaged lines with their line numbers (one counting pass per file, only when there are any). */
async function numbered(o: RecoverOptions, damaged: readonly DamagedLine[]): Promise<Array<DamagedLine & { line: number }>> {
  const out: Array<DamagedLine & { line: number }> = [];
  for (const d of damaged) {
    const fh = await o.fs.openReadWrite(d.path ?? o.path, 0o600);
    try {
      out.push({ ...d, line: await lineNumberAt(fh, d.offset) });
    } finally {
      await fh.close();
    }
  }
  return out;
}

/**
 * Seq of the first record of a file that holds records (1 for a log of the
 * original module, which has none): the first line that is a record;
 * `fallback` when no line is.
 */
async function firstSeqOf(fh: StoreFileHandle, legacy: boolean, fallback: number): Promise<number> {
  if (legacy) return 1;
  // Small reads: usually only the first line is needed.
  for await (const line of linesForward(fh, 0, undefined, 16 * 1024)) {
    const parsed = parseRecordLine(line);
    if (parsed.ok) return typeof parsed.value.seq === "number" ? parsed.value.seq : 1;
  }
  return fallback;
}
