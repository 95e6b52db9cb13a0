import { rename, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { Mutex } from "async-mutex";
import { status } from "@grpc/grpc-js";
import { formatTimestamp, systemClock, type Clock } from "../clock.js";
import { ServiceError, storageError } from "../errors.js";
import { nodeFileSystem, type StoreFileHandle, type StoreFileSystem } from "./file-system.js";
import type { AppendEntry, AppendResult, LogStore } from "./store.js";
import { DedupWindow } from "./dedup-window.js";
import { acquireLogLock, type LogLock } from "./lock.js";
import { chainHash, HASH_MEMBER } from "./hash-chain.js";
import { listSegments, segmentPath } from "./segments.js";
import { readTail } from "./tail.js";
import { queuedBytesOf, WriteQueue } from "./write-queue.js";

/** Options of the {@link Appender}. Every limit has a default. */
export interface AppenderOptions {
  /** The JSONL log file. Its folder is created with mode 0700, the file with 0600. */
  path: string;
  /** File system; tests inject faults through it. Default: the real one. */
  fs?: StoreFileSystem;
  /** Clock for record timestamps. Default: the system clock. */
  clock?: Clock;
  /** Bytes of records waiting for a write before appends are refused or wait. Default 16 MiB. */
  queueBytesMax?: number;
  /** Largest single write of one group commit, in bytes. Default 8 MiB. */
  writeBytesMax?: number;
  /** How many of the last records' event_ids are remembered to answer retries. Default 100,000. */
  dedupWindowRecords?: number;
  /** Take the single-writer lock (`<path>.lock`). Default true. */
  lock?: boolean;
  /** Give every record a hash chained to the previous record's (tamper evidence). Default true. */
  hashChain?: boolean;
  /** Size at which the active file is closed into a segment named with its seq range, in bytes. Default 256 MiB. */
  segmentBytesMax?: number;
  /** Closed segments are deleted, oldest first, while all segments together exceed this, in bytes. Default: no limit. */
  retentionBytesMax?: number;
  /** Closed segments whose last write is older than this are deleted, in ms. Default: no limit. */
  retentionAgeMs?: number;
  /** Told when a segment is closed or deleted by retention (for the server log). */
  onSegment?: (event: { kind: "closed" | "deleted"; path: string }) => void;
  /** Told about every durable commit (metrics): records written, bytes, and the fdatasync's duration in seconds. Default none. */
  observer?: { commit(events: number, bytes: number, fsyncSeconds: number): void };
}

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
}

interface Pending {
  entries: readonly AppendEntry[];
  bytes: number;
  resolve: (results: AppendResult[]) => void;
  reject: (err: unknown) => void;
}


/**
 * The single writer of the JSONL log: a mutex-guarded group commit. Appends
 * that arrive while a write+fdatasync is in flight wait and go out together in
 * the next one; every caller's promise resolves only after the fdatasync that
 * covers its lines. A failed write or fsync fails its whole batch, cuts the
 * file back to the last durable byte, and nothing of it is acked.
 */
export class Appender implements LogStore {
  private readonly fs: StoreFileSystem;
  private readonly clock: Clock;
  private readonly writeBytesMax: number;
  private readonly windowMax: number;
  private readonly hashChain: boolean;
  private readonly segmentBytesMax: number;
  private readonly mutex = new Mutex();
  private fh: StoreFileHandle | undefined;
  private lock: LogLock | undefined;
  private pending: Pending[] = [];
  private readonly queue: WriteQueue;
  /** A mutex turn is waiting to commit what is pending. */
  private turnQueued = false;
  /** Bytes known durable: everything before this offset was fsynced. */
  private durableSize = 0;
  private seq = 0;
  private lastMicros = 0;
  private needsRecovery = false;
  /** Hash of the last record written ("" before the first hashed record). */
  private chainTip = "";
  /** Seq of the first record in the active file. */
  private activeFirstSeq = 1;
  private readonly commitListeners = new Set<(lastSeq: number) => void>();
  /** Recent event_ids, to answer retries exactly once. */
  private readonly window: DedupWindow;
  /** Reused between commits (the mutex serialises them): no per-commit allocation. */
  private scratch = Buffer.allocUnsafe(1024 * 1024);

  private constructor(private readonly options: AppenderOptions) {
    this.fs = options.fs ?? nodeFileSystem;
    this.clock = options.clock ?? systemClock;
    this.queue = new WriteQueue(options.queueBytesMax ?? 16 * 1024 * 1024);
    this.writeBytesMax = options.writeBytesMax ?? 8 * 1024 * 1024;
    this.windowMax = options.dedupWindowRecords ?? 100_000;
    this.window = new DedupWindow(this.windowMax);
    this.hashChain = options.hashChain ?? true;
    this.segmentBytesMax = options.segmentBytesMax ?? 256 * 1024 * 1024;
  }

  /** Opens (or creates) the log, repairing a torn tail, and returns the appender with what it repaired. */
  static async open(options: AppenderOptions): Promise<{ appender: Appender; recovery: RecoveryReport }> {
    const appender = new Appender(options);
    await (options.fs ?? nodeFileSystem).mkdir(dirname(options.path), 0o700);
    appender.lock = options.lock === false ? undefined : await acquireLogLock(options.path);
    try {
      const recovery = await appender.recover();
      return { appender, recovery };
    } catch (err) {
      await appender.lock?.release();
      throw err;
    }
  }

  /** The highest seq written so far (0 for an empty log). */
  get lastSeq(): number {
    return this.seq;
  }

  /** The path of the active log file. */
  get path(): string {
    return this.options.path;
  }

  /**
   * Calls `listener(lastSeq)` after every durable commit (readers that follow
   * the log use it instead of polling). Returns a function that unsubscribes.
   */
  onCommit(listener: (lastSeq: number) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Bytes of records accepted but not yet written. */
  get queued(): number {
    return this.queue.bytes;
  }

  /**
   * Appends entries as consecutive records (duplicates of remembered
   * event_ids are answered with their original record and not written again).
   * Resolves once they are durable. When the queue is full, rejects with
   * RESOURCE_EXHAUSTED, or waits for room when `wait` is set (streams use this
   * to push back on their clients).
   */
  async append(entries: readonly AppendEntry[], options: { wait?: boolean } = {}): Promise<AppendResult[]> {
    if (this.queue.isClosed) throw new ServiceError(status.UNAVAILABLE, "server is shutting down; nothing was written");
    if (entries.length === 0) return [];
    const bytes = queuedBytesOf(entries);
    await this.queue.admit(bytes, options.wait);
    const result = new Promise<AppendResult[]>((resolve, reject) => this.pending.push({ entries, bytes, resolve, reject }));
    // One turn of the mutex waits at most: appends that arrive while a
    // commit is in flight join the pending list, and the next turn takes them
    // all (one write, one fdatasync), however many appends they were.
    if (!this.turnQueued) {
      this.turnQueued = true;
      void this.mutex.runExclusive(async () => {
        this.turnQueued = false;
        while (this.pending.length > 0) await this.commit();
      });
    }
    return result;
  }

  /** Waits for everything accepted to be written, then closes the file. Later appends get UNAVAILABLE. */
  async close(): Promise<void> {
    this.queue.close();
    await this.mutex.runExclusive(async () => {
      while (this.pending.length > 0) await this.commit();
      await this.fh?.close();
      this.fh = undefined;
      await this.lock?.release();
      this.lock = undefined;
    });
  }

  private async recover(): Promise<RecoveryReport> {
    const { path } = this.options;
    const dir = dirname(path);
    await this.fs.mkdir(dir, 0o700);
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    const fh = await this.fs.openReadWrite(path, 0o600);
    try {
      await fh.chmod(0o600);
      const tail = await readTail(fh, this.windowMax);
      let quarantinePath: string | undefined;
      // After a failed write we only trust bytes we know were fsynced.
      const keep = this.needsRecovery ? Math.min(tail.validSize, this.durableSize) : tail.validSize;
      const { size } = await fh.stat();
      if (size > keep) {
        if (tail.torn.length > 0 && !this.needsRecovery) {
          quarantinePath = `${path}.quarantine`;
          const header = Buffer.from(`# torn tail cut at byte ${tail.validSize} on ${formatTimestamp(this.clock.nowMicros())}\n`);
          await this.fs.appendDurably(quarantinePath, Buffer.concat([header, tail.torn, Buffer.from("\n")]), 0o600);
        }
        await fh.truncate(keep);
        await fh.datasync();
      }
      await this.fs.syncDir(dir);
      const reread = keep === tail.validSize ? tail : await readTail(fh, this.windowMax);
      this.fh = fh;
      this.durableSize = reread.validSize;
      this.seq = reread.lastSeq;
      this.lastMicros = reread.lastTimestampMicros;
      this.chainTip = reread.lastHash ?? "";
      let recent = reread.recent;
      if (reread.validSize === 0) {
        // A fresh active file after a rotation: the log goes on from the last closed segment.
        const previous = await this.lastSegmentTail();
        if (previous) {
          this.seq = previous.lastSeq;
          this.lastMicros = previous.lastTimestampMicros;
          this.chainTip = previous.lastHash ?? "";
          recent = previous.recent;
        }
      }
      this.activeFirstSeq = reread.validSize === 0 ? this.seq + 1 : await firstSeqOf(fh, reread.legacy);
      this.window.load(recent);
      this.needsRecovery = false;
      return { tornBytes: size - keep, quarantinePath, lastSeq: this.seq, legacy: reread.legacy };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  /** One group commit: everything queued, up to writeBytesMax, in one write and one fdatasync. */
  private async commit(): Promise<void> {
    if (this.pending.length === 0) return;
    let take = 0;
    let takeBytes = 0;
    while (take < this.pending.length && (take === 0 || takeBytes + this.pending[take].bytes <= this.writeBytesMax)) {
      takeBytes += this.pending[take].bytes;
      take++;
    }
    const batch = this.pending.splice(0, take);
    try {
      if (this.needsRecovery || this.fh === undefined) await this.recover();
      const fh = this.fh!;
      const micros = Math.max(this.clock.nowMicros(), this.lastMicros);
      const timestamp = formatTimestamp(micros);
      const head = `","timestamp":"${timestamp}",`;
      let seq = this.seq;
      let tip = this.chainTip;
      // Client-chosen ids written by this commit, to catch a repeat inside the commit itself.
      const freshIds: string[] = [];
      const freshSeqs: number[] = [];
      const fresh = new Map<string, number>();
      const results: AppendResult[][] = [];
      let buf = this.scratch;
      let length = 0;
      for (const p of batch) {
        const out: AppendResult[] = new Array(p.entries.length);
        for (let i = 0; i < p.entries.length; i++) {
          const e = p.entries[i];
          // Ids the server made up cannot be retries: only client ids are looked up and remembered.
          const known = e.clientChosenId ? this.window.get(e.eventId) : undefined;
          const inCommit = known === undefined && e.clientChosenId ? fresh.get(e.eventId) : undefined;
          if (known !== undefined) {
            out[i] = { seq: known.seq, timestamp: known.timestamp, duplicate: true };
            continue;
          }
          if (inCommit !== undefined) {
            out[i] = { seq: inCommit, timestamp, duplicate: true };
            continue;
          }
          seq++;
          const prefix = `{"event_id":"${e.eventId}${head}${e.body},"seq":${seq}`;
          // A UTF-16 unit is at most 3 UTF-8 bytes (plus the hash trailer); grow the reused buffer when it might not fit.
          if (buf.length - length < prefix.length * 3 + 80) {
            const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, length + prefix.length * 3 + 80));
            buf.copy(bigger, 0, 0, length);
            buf = this.scratch = bigger;
          }
          const start = length;
          length += buf.write(prefix, length);
          if (this.hashChain) {
            tip = chainHash(tip, buf.subarray(start, length));
            length += buf.write(`${HASH_MEMBER}${tip}"}\n`, length, "latin1");
          } else {
            length += buf.write("}\n", length, "latin1");
          }
          if (e.clientChosenId) {
            fresh.set(e.eventId, seq);
            freshIds.push(e.eventId);
            freshSeqs.push(seq);
          }
          out[i] = { seq, timestamp, duplicate: false };
        }
        results.push(out);
      }
      if (length > 0) {
        const fsyncSeconds = await this.writeDurably(fh, buf.subarray(0, length));
        this.options.observer?.commit(seq - this.seq, length, fsyncSeconds);
        this.seq = seq;
        this.chainTip = tip;
        this.lastMicros = micros;
        this.window.addCommit(timestamp, freshIds, freshSeqs);
        for (const listener of this.commitListeners) listener(seq);
      }
      batch.forEach((p, i) => p.resolve(results[i]));
      if (this.durableSize >= this.segmentBytesMax) await this.rotate();
    } catch (err) {
      const failure = storageError(err);
      for (const p of batch) p.reject(failure);
    } finally {
      for (const p of batch) this.queue.release(p.bytes);
    }
  }

  /** Writes and fdatasyncs; returns how long the fdatasync took, in seconds. */
  private async writeDurably(fh: StoreFileHandle, bytes: Buffer): Promise<number> {
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, this.durableSize + done);
        if (bytesWritten <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
        done += bytesWritten;
      }
      const syncStart = performance.now();
      await fh.datasync();
      this.durableSize += bytes.length;
      return (performance.now() - syncStart) / 1000;
    } catch (err) {
      // Cut back to the last durable byte so no partial line stays. If even
      // that fails, the next commit reopens the file and verifies the tail
      // before writing again: after a failed fsync the page cache is not trusted.
      try {
        await fh.truncate(this.durableSize);
        await fh.datasync();
      } catch {
        /* recovered on the next commit */
      }
      this.needsRecovery = true;
      throw err;
    }
  }

  /**
   * Closes the active file into a segment named with its seq range and starts
   * a new active file; then applies retention. Runs inside the mutex, after
   * the commit's callers were answered. If it fails half-way, the next commit
   * recovers: the new active file starts from the last closed segment.
   */
  private async rotate(): Promise<void> {
    const { path } = this.options;
    const closed = segmentPath(path, this.activeFirstSeq, this.seq);
    try {
      await this.fh?.close();
      this.fh = undefined;
      await rename(path, closed);
      await this.fs.syncDir(dirname(path));
      this.options.onSegment?.({ kind: "closed", path: closed });
      this.fh = await this.fs.openReadWrite(path, 0o600);
      await this.fs.syncDir(dirname(path));
      this.durableSize = 0;
      this.activeFirstSeq = this.seq + 1;
      await this.applyRetention();
    } catch {
      this.needsRecovery = true;
    }
  }

  /** Deletes the oldest closed segments beyond the size or age limits; never the active file. */
  private async applyRetention(): Promise<void> {
    const { retentionBytesMax, retentionAgeMs, path } = this.options;
    if (retentionBytesMax === undefined && retentionAgeMs === undefined) return;
    const segments = await listSegments(path);
    const sized = await Promise.all(segments.map(async (s) => ({ ...s, ...(await stat(s.path)) })));
    let total = sized.reduce((sum, s) => sum + s.size, 0);
    const now = Date.now();
    for (const s of sized) {
      if (s.active) break;
      const tooBig = retentionBytesMax !== undefined && total > retentionBytesMax;
      const tooOld = retentionAgeMs !== undefined && now - s.mtimeMs > retentionAgeMs;
      if (!tooBig && !tooOld) break;
      await unlink(s.path);
      total -= s.size;
      this.options.onSegment?.({ kind: "deleted", path: s.path });
    }
  }

  /** The tail of the newest closed segment, when there is one. */
  private async lastSegmentTail() {
    const closed = (await listSegments(this.options.path)).filter((s) => !s.active);
    const last = closed[closed.length - 1];
    if (!last) return undefined;
    const fh = await this.fs.openReadWrite(last.path, 0o600);
    try {
      return await readTail(fh, this.windowMax);
    } finally {
      await fh.close();
    }
  }

}

/** Seq of the first record of a non-empty file (1 for a log of the original module, which has none). */
async function firstSeqOf(fh: StoreFileHandle, legacy: boolean): Promise<number> {
  if (legacy) return 1;
  // Read until the first newline (a record is at most a few MiB).
  let chunk = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, 0);
    const end = chunk.subarray(0, bytesRead).indexOf(0x0a);
    if (end >= 0 || bytesRead < chunk.length || chunk.length >= 16 * 1024 * 1024) {
      const line = chunk.subarray(0, end >= 0 ? end : bytesRead).toString("utf8");
      // Our seq is the record's last member (data may hold a "seq" of its own).
      const m = /"seq":(\d+)(?:,"hash":"[0-9a-f]{64}")?\}$/.exec(line);
      return m ? Number(m[1]) : 1;
    }
    chunk = Buffer.allocUnsafe(chunk.length * 4);
  }
}
