import { dirname } from "node:path";
import { Mutex } from "async-mutex";
import { status } from "@grpc/grpc-js";
import { formatTimestamp, systemClock, type Clock } from "../../clock.js";
import { ServiceError, storageError } from "../../errors.js";
import { nodeFileSystem, type StoreFileHandle, type StoreFileSystem } from "./file-system.js";
import type { AppendEntry, AppendResult, LogStore, RecordSource, StoreIntegrity, StoreObserver } from "../store.js";
import { DedupWindow } from "../dedup-window.js";
import { KnownIds } from "../known-ids.js";
import { acquireFileIdentityLock, acquireLogLock, type LogLock } from "./lock.js";
import { ChainSealer, splitHashedLine } from "../hash-chain.js";
import { invariant, InvariantError } from "./invariants.js";
import { LogReader } from "./reader.js";
import { recoverLog, type RecoveryReport } from "./recovery.js";
import { listSegments, segmentPath } from "./segments.js";
import { checkLogFile, LogFileChangedError } from "./log-file-check.js";
import { queuedBytesOf, WriteQueue } from "../write-queue.js";
import { RecordBuffer } from "../record-buffer.js";
import { recordHead, recordPrefix, RECORD_END } from "../../record/layout.js";

const LINE_END_BYTES = Buffer.from("\n");
const RECORD_END_BYTES = Buffer.from(RECORD_END);

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
  /**
   * Told about every durable commit (metrics): records written, bytes, and
   * how long making them durable took (write and sync), in seconds; and
   * about every storage failure. Default none.
   */
  observer?: StoreObserver;
}

/** The appender reports through the store contract's observer. */
export type { StorageFailure, StoreObserver as AppenderObserver } from "../store.js";

export type { RecoveryReport } from "./recovery.js";

/** An append encoded (its records are in the filling RecordBuffer), waiting for the commit that makes it durable. */
interface Pending {
  /** Bytes it counts against the write queue. */
  queued: number;
  /** Entries of the append; the records written got consecutive seqs from firstSeq. */
  count: number;
  firstSeq: number;
  /** Entries answered with an earlier record instead (retries), by position; undefined when none. */
  duplicates: Map<number, AppendResult> | undefined;
  /** Log state after this append's records: what becomes durable with them. */
  lastSeq: number;
  /** Client-chosen ids written by this append, their seqs, and the append's timestamp (for the dedup window). */
  freshIds: string[];
  freshSeqs: number[];
  timestamp: string;
  resolve: (results: AppendResult[]) => void;
  reject: (err: unknown) => void;
}

const noop = () => {};

/** Where each entry of an append landed; built when the append is answered, not kept while it waits. */
function resultsOf(p: Pending): AppendResult[] {
  const results = new Array<AppendResult>(p.count);
  let seq = p.firstSeq;
  for (let i = 0; i < p.count; i++) {
    results[i] = p.duplicates?.get(i) ?? { seq: seq++, timestamp: p.timestamp, duplicate: false };
  }
  return results;
}

/**
 * The single writer of the JSONL log: a mutex-guarded group commit. Each
 * append is encoded into its lines (seq, timestamp) the moment it is
 * accepted, so what waits for the disk is bytes, not objects; appends that
 * arrive while a commit is in flight go out together in the next one, sealed
 * by the hash chain and written in one durable write (the real file is opened
 * O_DSYNC), and every caller's promise resolves only once the write that
 * covers its lines is durable. A failed write cuts the file back to the last
 * durable byte and fails every append not yet durable (later ones were
 * chained onto it): nothing of them is acked, and the log goes on from the
 * last durable record.
 */
export class Appender implements LogStore {
  private readonly fs: StoreFileSystem;
  private readonly clock: Clock;
  private readonly windowMax: number;
  private readonly hashChain: boolean;
  private readonly segmentBytesMax: number;
  private readonly mutex = new Mutex();
  private fh: StoreFileHandle | undefined;
  private lock: LogLock | undefined;
  /** The lock of the active file by its identity (another name of the file meets it), and that identity. */
  private fileLock: { lock: LogLock; dev: number; ino: number } | undefined;
  private pending: Pending[] = [];
  private readonly queue: WriteQueue;
  /** A mutex turn is waiting to commit what is pending. */
  private turnQueued = false;
  /** Bytes known durable: everything before this offset was fsynced. */
  private durableSize = 0;
  /** Seq and hash of the last durable record (hash "" before the first hashed record). */
  private durableSeq = 0;
  private durableTip = "";
  /** Seq of the last record encoded: ahead of the durable one while appends wait. */
  private seq = 0;
  /** Hashes the chain on a worker thread, a commit at a time. */
  private readonly sealer = new ChainSealer();
  /** Timestamp of the last record encoded, in µs: timestamps never go back in the file. */
  private lastMicros = 0;
  private needsRecovery = false;
  /** Set once the active file vanished or changed under the writer: every later append is refused with it (see LogFileChangedError). */
  private changedUnder: LogFileChangedError | undefined;
  /** Set once an invariant broke (see invariants.ts): every later append is refused with it (INTERNAL) until a restart. */
  private broken: ServiceError | undefined;
  /** Client-chosen ids remembered (the window) or encoded but not durable yet, so a retry racing its original is answered with it. */
  private readonly known: KnownIds<{ seq: number; timestamp: string }>;
  /** Seq of the first record in the active file. */
  private activeFirstSeq = 1;
  private readonly commitListeners = new Set<(lastSeq: number) => void>();
  /** Recent event_ids, to answer retries exactly once. */
  private readonly window: DedupWindow;
  /**
   * The records of the pending appends, and those of the commit in flight:
   * swapped at each commit. Records are complete lines, or with the chain on
   * each record's prefix and "\n" (the sealer adds the hash trailers).
   */
  private filling = new RecordBuffer();
  private reader: LogReader | undefined;
  private committing = new RecordBuffer();

  private constructor(private readonly options: AppenderOptions) {
    this.fs = options.fs ?? nodeFileSystem;
    this.clock = options.clock ?? systemClock;
    this.queue = new WriteQueue(options.queueBytesMax ?? 16 * 1024 * 1024);
    this.windowMax = options.dedupWindowRecords ?? 100_000;
    this.window = new DedupWindow(this.windowMax);
    this.known = new KnownIds(this.window);
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
      appender.seq = appender.durableSeq;
      return { appender, recovery };
    } catch (err) {
      await appender.fileLock?.lock.release();
      await appender.lock?.release();
      throw err;
    }
  }

  /**
   * Holds the identity lock of the file just opened as the active file
   * (device and inode), giving up the previous file's: a second server
   * given another name of this file (a hard link, a bind mount) is refused
   * before it reads or cuts anything. No-op without locking, or where the
   * file system reports no identity.
   */
  private async holdFileLock(fh: StoreFileHandle): Promise<void> {
    if (this.lock === undefined) return;
    const { dev, ino } = await fh.stat();
    if (dev === undefined || ino === undefined) return;
    if (this.fileLock?.dev === dev && this.fileLock.ino === ino) return;
    const lock = await acquireFileIdentityLock(this.options.path, { dev, ino });
    const previous = this.fileLock;
    this.fileLock = { lock, dev, ino };
    await previous?.lock.release();
  }

  /** The highest seq written so far (0 for an empty log). */
  get lastSeq(): number {
    return this.durableSeq;
  }

  /** The path of the active log file. */
  get path(): string {
    return this.options.path;
  }

  /** Reads the log's files (the active one and the closed segments beside it). */
  get records(): RecordSource {
    return (this.reader ??= new LogReader(this.options.path));
  }

  /** With the hash chain on, `pulse-log verify` proves the records unchanged. */
  get integrity(): StoreIntegrity {
    return this.hashChain ? "hash-chain" : "none";
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
    if (this.changedUnder !== undefined) throw this.changedUnder;
    if (this.broken !== undefined) throw this.broken;
    if (entries.length === 0) return [];
    const queued = queuedBytesOf(entries);
    // Admitted at once in the usual case: no promise turn before the append is encoded.
    const admitting = this.queue.admit(queued, options.wait);
    if (admitting !== undefined) await admitting;
    const pending = this.encode(entries, queued);
    const result = new Promise<AppendResult[]>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    this.pending.push(pending);
    // One turn of the mutex waits at most: appends that arrive while a
    // commit is in flight join the pending list, and the next turn takes them
    // all (one durable write), however many appends they were. The turn
    // starts after the event loop's I/O phase, so calls that came in on the
    // same socket read share a commit (64 unary calls in flight: 64 per
    // commit instead of about 20).
    if (!this.turnQueued) {
      this.turnQueued = true;
      setImmediate(() => {
        void this.mutex.runExclusive(async () => {
          this.turnQueued = false;
          while (this.pending.length > 0) await this.commit();
        });
      });
    }
    return result;
  }

  /**
   * Gives the entries their seqs and timestamp and encodes their lines (the
   * chain's hashes are added at commit, on the sealer's thread). Retries of remembered or in-flight client ids are answered with the
   * original record and not encoded again.
   */
  private encode(entries: readonly AppendEntry[], queued: number): Pending {
    const micros = Math.max(this.clock.nowMicros(), this.lastMicros);
    const timestamp = formatTimestamp(micros);
    const head = recordHead(timestamp);
    let headBytes: Buffer | undefined;
    let duplicates: Map<number, AppendResult> | undefined;
    const freshIds: string[] = [];
    const freshSeqs: number[] = [];
    const firstSeq = this.seq + 1;
    let seq = this.seq;
    const records = this.filling;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const known = this.known.lookup(e);
      if (known !== undefined) {
        const original = known.stored ?? known.inFlight;
        (duplicates ??= new Map()).set(i, { seq: original.seq, timestamp: original.timestamp, duplicate: true });
        continue;
      }
      seq++;
      if (e.bodyUtf8 !== undefined) {
        // A body the writer encoded already (events read by hand, the ingest workers): its bytes are copied, its text never made.
        headBytes ??= Buffer.from(head);
        records.writeRecord(e.eventId, headBytes, e.bodyUtf8, e.bodyStart!, e.bodyEnd!, seq, this.hashChain ? LINE_END_BYTES : RECORD_END_BYTES);
      } else {
        const prefix = recordPrefix(e.eventId, head, e.body, seq);
        records.write(this.hashChain ? `${prefix}\n` : `${prefix}${RECORD_END}`);
      }
      if (e.clientChosenId) {
        this.known.hold(e, { seq, timestamp });
        freshIds.push(e.eventId);
        freshSeqs.push(seq);
      }
    }
    this.seq = seq;
    this.lastMicros = micros;
    return { queued, count: entries.length, firstSeq, duplicates, lastSeq: seq, freshIds, freshSeqs, timestamp, resolve: noop, reject: noop };
  }

  /** Waits for everything accepted to be written, then closes the file. Later appends get UNAVAILABLE. */
  async close(): Promise<void> {
    this.queue.close();
    await this.mutex.runExclusive(async () => {
      while (this.pending.length > 0) await this.commit();
      await this.fh?.close();
      this.fh = undefined;
      await this.sealer.close();
      await this.fileLock?.lock.release();
      this.fileLock = undefined;
      await this.lock?.release();
      this.lock = undefined;
    });
  }

  /**
   * Opens the active file and reads its tail (see recovery.ts): at start, and
   * while running after a failed write or rotation. While running (`running`)
   * it never makes the folder again: a folder that is gone was removed or
   * moved under the server, and a log made afresh would restart seqs at 1.
   */
  private async recover(running = false): Promise<RecoveryReport> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    const found = await recoverLog({
      path: this.options.path,
      fs: this.fs,
      clock: this.clock,
      windowRecords: this.windowMax,
      running,
      trustedSize: this.needsRecovery ? this.durableSize : undefined,
      holdFile: (fh) => this.holdFileLock(fh),
    });
    this.fh = found.fh;
    this.durableSize = found.durableSize;
    this.durableSeq = found.lastSeq;
    this.durableTip = found.tip;
    this.lastMicros = Math.max(this.lastMicros, found.lastTimestampMicros);
    this.activeFirstSeq = found.activeFirstSeq;
    this.window.load(found.recent);
    this.needsRecovery = false;
    return found.report;
  }

  /** One group commit: the records of everything pending, sealed by the hash chain, in one durable write. */
  private async commit(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0);
    // New appends fill the other buffer while this one is written.
    const records = this.filling;
    this.filling = this.committing;
    this.filling.reset();
    this.committing = records;
    try {
      if (this.changedUnder !== undefined) throw this.changedUnder;
      if (this.broken !== undefined) throw this.broken;
      if (this.needsRecovery || this.fh === undefined) {
        const believed = { seq: this.durableSeq, tip: this.durableTip, size: this.durableSize };
        await this.recover(true);
        if (this.durableSeq !== believed.seq || this.durableTip !== believed.tip) {
          // The files now hold another log (fewer records, none: removed or moved and made again): never continue it.
          throw new LogFileChangedError(this.durableSeq < believed.seq ? "removed" : "replaced", this.options.path, `its last seq is ${this.durableSeq}, ${believed.seq} were written`);
        }
      }
      const last = batch[batch.length - 1];
      if (records.length > 0) {
        this.checkSeqs(batch[0].firstSeq, last.lastSeq);
        let lines = records.bytes;
        let tip = this.durableTip;
        if (this.hashChain) {
          ({ lines, tip } = await this.sealer.seal(records, tip));
          checkTip(lines, tip);
        }
        // Before the write: a truncated file would get a hole, a removed one the records (out of the log).
        const before = await checkLogFile(this.fh!, this.options.path, this.fs, this.durableSize);
        if (before !== undefined) throw before;
        const durableWriteSeconds = await this.writeDurably(this.fh!, lines);
        // After it: a removal or a move while the write ran leaves the records in a file that is no longer the log.
        // The same file at another size than the bytes written breaks the writer's invariant (a write that lied, or a
        // change racing it): refused as such, since nothing can tell which bytes of the file are the log's.
        const after = await checkLogFile(this.fh!, this.options.path, this.fs, this.durableSize);
        if (after !== undefined && (after.change === "truncated" || after.change === "written")) {
          invariant(false, "file size equals durable size", () => ({ at: "commit", durableSize: this.durableSize, file: after.detail }));
        }
        if (after !== undefined) throw after;
        invariant(last.lastSeq <= this.seq, "durable seq never ahead of written", () => ({ durableSeq: last.lastSeq, writtenSeq: this.seq }));
        this.options.observer?.commit?.(last.lastSeq - this.durableSeq, lines.length, durableWriteSeconds);
        this.durableSeq = last.lastSeq;
        this.durableTip = tip;
      }
      for (const p of batch) {
        this.window.addCommit(p.timestamp, p.freshIds, p.freshSeqs);
        for (const id of p.freshIds) this.known.release(id);
      }
      if (records.length > 0) for (const listener of this.commitListeners) listener(this.durableSeq);
      for (const p of batch) p.resolve(resultsOf(p));
      if (this.durableSize >= this.segmentBytesMax) await this.rotate();
    } catch (err) {
      // Every append encoded after these was chained onto them (seqs, hashes):
      // none of it can be written now. All fail; the log goes on from the last durable record.
      // A broken invariant leaves as INTERNAL (its cause, naming the invariant, in the server log), never as a storage error.
      const failure = err instanceof InvariantError ? ServiceError.from(err) : storageError(err);
      const voided = this.pending.splice(0);
      const records = this.seq - this.durableSeq;
      this.filling.reset();
      this.seq = this.durableSeq;
      this.known.releaseAll();
      const firstNotice = (err instanceof LogFileChangedError && this.changedUnder === undefined) || (err instanceof InvariantError && this.broken === undefined);
      if (err instanceof LogFileChangedError) this.changedUnder = err;
      if (err instanceof InvariantError) this.broken = failure;
      // Reported (logged at error) once: later refusals of a log that changed under the writer, or of a broken writer, say nothing new.
      const sticky = err instanceof LogFileChangedError || err === this.broken;
      if (firstNotice || !sticky) this.options.observer?.failed?.({ stage: "commit", err, appends: batch.length + voided.length, records });
      for (const p of batch) p.reject(failure);
      for (const p of voided) {
        p.reject(failure);
        this.queue.release(p.queued);
      }
    } finally {
      for (const p of batch) this.queue.release(p.queued);
    }
  }

  /**
   * The commit's records continue the log: the first right after the last
   * durable seq (none skipped, none reused), the last past it. O(1): the
   * appends between were numbered consecutively by encode().
   */
  private checkSeqs(firstSeq: number, lastSeq: number): void {
    invariant(firstSeq === this.durableSeq + 1 && lastSeq > this.durableSeq, "seq strictly increasing", () => ({ durableSeq: this.durableSeq, firstSeq, lastSeq }));
  }

  /**
   * Writes and syncs (the real file is opened O_DSYNC: its writes are
   * durable when they return and its datasync() is free); returns how long
   * it took, in seconds.
   */
  private async writeDurably(fh: StoreFileHandle, bytes: Buffer): Promise<number> {
    const start = performance.now();
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, this.durableSize + done);
        if (bytesWritten <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
        done += bytesWritten;
      }
      await fh.datasync();
      this.durableSize += bytes.length;
      return (performance.now() - start) / 1000;
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
    const closed = segmentPath(path, this.activeFirstSeq, this.durableSeq);
    try {
      await this.fh?.close();
      this.fh = undefined;
      await this.fs.rename(path, closed);
      await this.fs.syncDir(dirname(path));
      this.options.onSegment?.({ kind: "closed", path: closed });
      this.fh = await this.fs.openReadWrite(path, 0o600);
      await this.holdFileLock(this.fh);
      await this.fs.syncDir(dirname(path));
      this.durableSize = 0;
      this.activeFirstSeq = this.durableSeq + 1;
      await this.applyRetention();
    } catch (err) {
      this.needsRecovery = true;
      this.options.observer?.failed?.({ stage: "rotation", err, appends: 0, records: 0 });
    }
  }

  /**
   * Deletes the oldest closed segments beyond the size or age limits; never
   * the active file, and never a segment holding one of the newest
   * `dedupWindowRecords` records: a restart rebuilds the dedup window from
   * them, so retention never shortens exactly-once (the log then keeps more
   * than the retention limits while the window needs it).
   */
  private async applyRetention(): Promise<void> {
    const { retentionBytesMax, retentionAgeMs, path } = this.options;
    if (retentionBytesMax === undefined && retentionAgeMs === undefined) return;
    const segments = await listSegments(path, this.fs);
    const sized = await Promise.all(segments.map(async (s) => ({ ...s, ...(await this.fs.stat(s.path)) })));
    let total = sized.reduce((sum, s) => sum + s.size, 0);
    const now = this.clock.nowMicros() / 1000;
    // The oldest seq the dedup window must be able to rebuild from the files.
    const windowFirstSeq = this.durableSeq - this.windowMax + 1;
    for (const s of sized) {
      if (s.active) break;
      if (s.lastSeq !== undefined && s.lastSeq >= windowFirstSeq) break;
      const tooBig = retentionBytesMax !== undefined && total > retentionBytesMax;
      const tooOld = retentionAgeMs !== undefined && now - s.mtimeMs > retentionAgeMs;
      if (!tooBig && !tooOld) break;
      await this.fs.unlink(s.path);
      total -= s.size;
      this.options.onSegment?.({ kind: "deleted", path: s.path });
    }
  }
}

/** The sealer's tip is the hash in the last sealed line's trailer (the chain the next commit continues is the one written). */
function checkTip(lines: Buffer, tip: string): void {
  // The trailer is fixed-size and ends the line: look at the line's end only.
  const end = lines.length - 1;
  const last = splitHashedLine(lines.subarray(Math.max(0, end - 128), end));
  invariant(last !== undefined && last.hash === tip, "sealer tip equals last hash", () => ({ tip, lastLineHash: last?.hash ?? "none" }));
}
