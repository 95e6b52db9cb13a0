import { randomBytes, randomUUID } from "node:crypto";
import { Mutex } from "async-mutex";
import { status } from "@grpc/grpc-js";
import { nowSeconds, systemClock, type Clock } from "../clock.js";
import { fileError, ServiceError } from "../errors.js";
import { AuditSigner, type TrustChange } from "./audit.js";
import type { AuditScreen, AuditWriter } from "./audit-writer.js";
import type { RecordSource } from "../store/store.js";
import { readAuditRecordsAfter } from "./audit-log-reader.js";
import type { ImportMode, TrustOutcome, TrustTrackerClient } from "./client.js";
import { TrustStateStore } from "./state-store.js";
import { BayesianTrustTracker, DEFAULT_Z, type KeyMetrics, type ReportOptions, type TrustRecord, type TrustReport } from "./tracker.js";
import { TrustDirectory } from "./trust-directory.js";
import { decodeTrustFile, encodeTrustFile } from "./trust-file.js";
import { checkRecords, COUNT_MAX } from "./validation.js";


/** Where and how often the tracker makes its state durable. */
export interface TrustDurability {
  /** The trust state folder: snapshot, audit key, staged imports (created 0700). */
  stateDir: string;
  /** The log's last durable seq. */
  logSeq: () => number;
  /** The learning log's records, where the audit records are read back from on start. */
  records: RecordSource;
  /** Take a snapshot after this many changes. Default 1,000. */
  snapshotChanges?: number;
  /** Take a snapshot this often (ms) while the state or the log moved. Default 60,000. */
  snapshotIntervalMs?: number;
  /**
   * Take a snapshot at start when the restore read past more records than this
   * after the last snapshot, even with nothing to replay: otherwise a server
   * restarted before its first periodic snapshot reads the same stretch again
   * at every start, and the stretch grows with the log. Default 10,000.
   */
  snapshotAfterScanRecords?: number;
}

/** Options of the in-process tracker. */
export interface LocalTrustTrackerOptions {
  /** Where trust changes are recorded before they are applied. */
  audit: AuditWriter;
  /** The folder client-named trust files are confined to (created 0700). */
  trustDir: string;
  /** Snapshots and restart; absent: the state lives in memory only (tests). */
  durability?: TrustDurability;
  /** Clock for update times. Default: the system clock. */
  clock?: Clock;
  /** History points kept per key. Default 1,000. */
  historyPointsMax?: number;
  /** Largest trust file read, in bytes. Default 64 MiB. */
  fileBytesMax?: number;
  /** Refuses client strings that audit records would keep verbatim (the PII screen). Default: none. */
  screen?: AuditScreen;
  /** Told after each durable snapshot (the log seq it covers). Default: none. */
  onSnapshot?: (seq: number) => void;
  /** Told about failures of background work (a periodic snapshot). Default: none. */
  onBackgroundError?: (err: unknown, what: string) => void;
}

/** What a start found and replayed. */
export interface RestoreReport {
  /** The log seq the snapshot covered (0: no snapshot). */
  snapshotSeq: number;
  /** Keys in the snapshot. */
  snapshotKeys: number;
  /** True when there was no trust state yet (a new audit key was made). */
  fresh: boolean;
  /** Log records after the snapshot, read past to find the audit records among them. */
  recordsScanned: number;
  /** Audit records applied after the snapshot. */
  replayed: number;
  /** Audit-shaped records not applied: not signed by this tracker, or not in its chain (a client's look-alike). */
  ignored: number;
  /** Keys after the restore. */
  keys: number;
  /** Time the restore took, in ms. */
  elapsedMs: number;
}

interface CapturedSnapshot {
  seq: number;
  trustSeq: number;
  records: ReadonlyArray<Readonly<TrustRecord>>;
  importIds: string[];
}

/**
 * The in-process trust tracker behind the TrustTrackerClient interface. Every
 * change is first written to the learning log (the audit trail, signed and
 * chained: see audit.ts), then applied; a mutex keeps the log's order and the
 * state's order the same. With durability, the state is snapshotted every N
 * changes, every T ms and at close, and {@link LocalTrustTracker.open}
 * restores it: the snapshot plus the audit records logged after it.
 */
export class LocalTrustTracker implements TrustTrackerClient {
  readonly tracker: BayesianTrustTracker;
  readonly files: TrustDirectory;
  private readonly mutex = new Mutex();
  private readonly snapshotMutex = new Mutex();
  private readonly clock: Clock;
  private readonly signer: AuditSigner;
  /** Seq of the last audit record applied: the next record's prev_seq. */
  private trustSeq = 0;
  /** Log seq the last durable snapshot covers. */
  private snapshotSeq = 0;
  private changesSinceSnapshot = 0;
  private snapshotQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Staged imports not yet covered by a durable snapshot. */
  private stagedImports: Array<{ seq: number; id: string }> = [];

  /** An in-memory tracker (no restore); {@link LocalTrustTracker.open} makes a durable one. */
  constructor(
    private readonly options: LocalTrustTrackerOptions,
    private readonly store?: TrustStateStore,
  ) {
    this.clock = options.clock ?? systemClock;
    this.tracker = new BayesianTrustTracker({ historyPointsMax: options.historyPointsMax });
    this.files = new TrustDirectory({ root: options.trustDir, fileBytesMax: options.fileBytesMax });
    this.signer = new AuditSigner(store?.auditKey ?? randomBytes(32));
  }

  /**
   * Opens a durable tracker: creates the trust directory (0700), loads the
   * snapshot and replays the audit records logged after it, read from the
   * snapshot's seq on, so the time taken depends on what happened since the
   * snapshot, not on the log's length. Call it before serving.
   */
  static async open(options: LocalTrustTrackerOptions & { durability: TrustDurability }): Promise<{ tracker: LocalTrustTracker; restore: RestoreReport }> {
    const started = performance.now();
    const d = options.durability;
    const store = await TrustStateStore.open(d.stateDir);
    const self = new LocalTrustTracker(options, store);
    await self.files.ensure();
    const snapshot = await store.readSnapshot();
    const logSeq = d.logSeq();
    if (snapshot !== undefined) {
      if (snapshot.seq > logSeq) {
        throw new Error(
          `trust snapshot ${store.snapshotPath} covers log seq ${snapshot.seq} but the log ends at seq ${logSeq}: the log was replaced or cut. ` +
            `Restore the log, or move the trust state folder ${store.dir} away to start the tracker empty.`,
        );
      }
      self.tracker.load(snapshot.records, "replace");
      self.snapshotSeq = snapshot.seq;
      self.trustSeq = snapshot.trustSeq;
    }
    let recordsScanned = 0;
    let replayed = 0;
    let ignored = 0;
    // A new audit key cannot verify anything older: there is nothing to replay.
    if (!(snapshot === undefined && store.fresh)) {
      const scan = await readAuditRecordsAfter(d.records, snapshot?.seq ?? 0, logSeq);
      recordsScanned = scan.recordsScanned;
      for (const record of scan.records) {
        // Only the tracker's own records, in its chain: a client's look-alike (LogEvent
        // with the same event_type) or a re-logged copy of an old record is ignored.
        if (!self.signer.verify(record) || record.prevSeq !== self.trustSeq) {
          ignored++;
          continue;
        }
        const loaded = record.change.type === "trust_state_loaded" ? await store.readImport(record.change.importId, record.change.sha256) : undefined;
        self.apply(record.change, loaded);
        self.trustSeq = record.seq;
        replayed++;
      }
    }
    // Nothing else runs yet (no RPC, no timer), so this snapshot may cover the whole log.
    if (snapshot === undefined || replayed > 0 || recordsScanned > (d.snapshotAfterScanRecords ?? 10_000)) await self.persist(self.capture(), true);
    // Everything is in the snapshot now: staged imports are no longer needed.
    await store.removeImports();
    self.startTimer();
    const restore: RestoreReport = {
      snapshotSeq: snapshot?.seq ?? 0,
      snapshotKeys: snapshot?.records.length ?? 0,
      fresh: store.fresh,
      recordsScanned,
      replayed,
      ignored,
      keys: self.tracker.size,
      elapsedMs: performance.now() - started,
    };
    return { tracker: self, restore };
  }

  async update(outcomes: readonly TrustOutcome[]) {
    return this.mutex.runExclusive(async () => {
      this.checkOpen();
      const normalized = outcomes.map((o) => ({ key: o.key, success: o.success, weight: o.weight ?? 1 }));
      if (this.options.screen) normalized.forEach((o, i) => this.options.screen!(o.key, `outcomes[${i}].key`));
      // alpha + beta must stay exact: check the whole batch before anything is written.
      const totals = new Map<string, number>();
      normalized.forEach((o, i) => {
        let before = totals.get(o.key);
        if (before === undefined) {
          const m = this.tracker.metrics(o.key);
          before = m.alpha + m.beta;
        }
        const after = before + o.weight;
        if (after > COUNT_MAX) throw ServiceError.invalid(`outcomes[${i}].weight`, `would take alpha + beta of key "${o.key}" past ${COUNT_MAX}`);
        totals.set(o.key, after);
      });
      const change: TrustChange = { type: "trust_updated", time: nowSeconds(this.clock), outcomes: normalized };
      const { seq } = await this.commit(change, "outcomes");
      const keys = [...totals.keys()].sort();
      return { metrics: keys.map((k) => this.tracker.metrics(k)), seq };
    });
  }

  async getMetrics(keys: readonly string[], z = DEFAULT_Z): Promise<KeyMetrics[]> {
    return keys.map((k) => this.tracker.metrics(k, z));
  }

  async applyDecay(key: string | undefined, factor: number, minCount: number) {
    return this.mutex.runExclusive(async () => {
      this.checkOpen();
      if (key !== undefined) this.options.screen?.(key, "key");
      const change: TrustChange = { type: "trust_decayed", key: key ?? null, factor, minCount };
      const { seq, changed } = await this.commit(change, "key");
      return { keysDecayed: changed, seq };
    });
  }

  async report(options: ReportOptions): Promise<TrustReport> {
    return this.tracker.report(options);
  }

  async exportRecords(): Promise<TrustRecord[]> {
    return this.tracker.records();
  }

  async importRecords(records: readonly TrustRecord[], mode: ImportMode) {
    return this.importFrom(records, mode, "stream");
  }

  async exportToFile(path: string): Promise<{ path: string; keyCount: number }> {
    const records = this.tracker.records();
    const text = encodeTrustFile(records, nowSeconds(this.clock));
    try {
      const written = await this.files.write(path, "path", text);
      return { path: written, keyCount: records.length };
    } catch (err) {
      throw fileError(err, `path: cannot write "${path}"`);
    }
  }

  async importFromFile(path: string, mode: ImportMode): Promise<{ found: boolean; keyCount: number }> {
    let file;
    try {
      file = await this.files.read(path, "path");
    } catch (err) {
      throw fileError(err, `path: cannot read "${path}"`);
    }
    if (file === undefined) return { found: false, keyCount: 0 };
    const records = decodeTrustFile(file.data.toString("utf8"), file.relative);
    const { keyCount } = await this.importFrom(records, mode, `file:${file.relative}`);
    return { found: true, keyCount };
  }

  /** Takes a snapshot now (no-op without durability). */
  async snapshot(): Promise<void> {
    if (this.store === undefined) return;
    const captured = await this.mutex.runExclusive(() => this.capture());
    await this.persist(captured, false);
  }

  /** Waits for changes in progress, writes a last snapshot and stops the timer. Later changes get UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    const captured = await this.mutex.runExclusive(() => {
      this.closed = true;
      return this.store === undefined ? undefined : this.capture();
    });
    if (captured !== undefined) await this.persist(captured, false);
  }

  private checkOpen(): void {
    if (this.closed) throw new ServiceError(status.UNAVAILABLE, "the trust tracker is shutting down; nothing was changed");
  }

  /**
   * Writes the audit record of a change, then applies it (call with the
   * mutex held). Nothing is applied when the record could not be written.
   */
  private async commit(change: TrustChange, field: string, loaded?: readonly TrustRecord[]): Promise<{ seq: number; changed: number }> {
    let seq: number;
    try {
      seq = await this.options.audit(this.signer.draft(change, this.trustSeq));
    } catch (err) {
      // The only request-made audit failure is a record over the size limit.
      if (err instanceof ServiceError && err.code === status.INVALID_ARGUMENT) {
        const why = err.violations[0]?.description ?? err.message;
        throw ServiceError.invalid(field, `too large to record in one audit record (${why}); send fewer or shorter outcomes`);
      }
      throw err;
    }
    const changed = this.apply(change, loaded);
    this.trustSeq = seq;
    this.noteChange();
    return { seq, changed };
  }

  /** Applies a change to the state (live and on replay alike); returns how many keys it changed. */
  private apply(change: TrustChange, loaded?: readonly TrustRecord[]): number {
    let changed: number;
    switch (change.type) {
      case "trust_updated":
        for (const o of change.outcomes) this.tracker.update(o.key, o.success, o.weight, change.time);
        changed = new Set(change.outcomes.map((o) => o.key)).size;
        break;
      case "trust_decayed":
        changed = this.tracker.decay(change.key ?? undefined, change.factor, change.minCount).length;
        break;
      case "trust_state_loaded":
        this.tracker.load(loaded ?? [], change.mode);
        changed = change.keyCount;
        break;
    }
    return changed;
  }

  private async importFrom(records: readonly TrustRecord[], mode: ImportMode, source: string): Promise<{ keyCount: number; seq: number }> {
    checkRecords(records, (i) => `records[${i}]`);
    this.options.screen?.(source, "path");
    return this.mutex.runExclusive(async () => {
      this.checkOpen();
      const id = randomUUID();
      // The records go to the state folder first, so the audit record can name them and replay can apply them.
      const sha256 = this.store ? await this.store.stageImport(id, mode, records) : "";
      const change: TrustChange = { type: "trust_state_loaded", mode, keyCount: records.length, source, importId: id, sha256 };
      let seq: number;
      try {
        ({ seq } = await this.commit(change, "records", records));
      } catch (err) {
        await this.store?.removeImports([id]).catch(() => undefined);
        throw err;
      }
      this.stagedImports.push({ seq, id });
      if (this.store !== undefined) {
        // Snapshot right away so the staged copy can go; if this fails, the copy stays and replay uses it.
        await this.persist(this.capture(), false).catch((err) => this.options.onBackgroundError?.(err, "trust snapshot after import"));
      }
      return { keyCount: records.length, seq };
    });
  }

  private noteChange(): void {
    this.changesSinceSnapshot++;
    const every = this.options.durability?.snapshotChanges ?? 1000;
    if (this.store === undefined || this.changesSinceSnapshot < every || this.snapshotQueued) return;
    this.snapshotQueued = true;
    // Not awaited: the change that crossed the threshold does not wait for the snapshot.
    this.snapshot()
      .catch((err) => this.options.onBackgroundError?.(err, "trust snapshot"))
      .finally(() => {
        this.snapshotQueued = false;
      });
  }

  private startTimer(): void {
    const interval = this.options.durability?.snapshotIntervalMs ?? 60_000;
    this.timer = setInterval(() => {
      const logSeq = this.options.durability?.logSeq() ?? 0;
      if (this.changesSinceSnapshot === 0 && logSeq <= this.snapshotSeq) return;
      this.snapshot().catch((err) => this.options.onBackgroundError?.(err, "periodic trust snapshot"));
    }, interval);
    this.timer.unref();
  }

  /**
   * Captures the state for a snapshot (cheap: shallow copies). Call with the
   * mutex held: no audit record is in flight, so every trust record up to
   * the log's last seq is applied, and the snapshot may cover that seq.
   */
  private capture(): CapturedSnapshot {
    const seq = Math.max(this.options.durability?.logSeq() ?? 0, this.trustSeq);
    this.changesSinceSnapshot = 0;
    return { seq, trustSeq: this.trustSeq, records: this.tracker.view(), importIds: this.stagedImports.filter((s) => s.seq <= this.trustSeq).map((s) => s.id) };
  }

  /** Writes a captured snapshot unless a newer one is already durable; then drops the staged imports it covers. */
  private async persist(captured: CapturedSnapshot, force: boolean): Promise<void> {
    const store = this.store;
    if (store === undefined) return;
    await this.snapshotMutex.runExclusive(async () => {
      if (!force && captured.seq <= this.snapshotSeq && captured.importIds.length === 0) return;
      if (captured.seq < this.snapshotSeq) return;
      // Encoded outside the tracker's mutex: changes go on meanwhile.
      const text = await TrustStateStore.encodeSnapshot(captured, nowSeconds(this.clock));
      await store.writeSnapshot(text);
      this.snapshotSeq = captured.seq;
      if (captured.importIds.length > 0) {
        await store.removeImports(captured.importIds);
        this.stagedImports = this.stagedImports.filter((s) => !captured.importIds.includes(s.id));
      }
      this.options.onSnapshot?.(captured.seq);
    });
  }
}
