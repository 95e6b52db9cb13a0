import { randomBytes, randomUUID } from "node:crypto";
import { Mutex } from "async-mutex";
import { status } from "@grpc/grpc-js";
import { nowSeconds, systemClock, type Clock } from "../clock.js";
import { fileError, ServiceError } from "../errors.js";
import { AuditSigner, type TrustChange } from "./audit.js";
import type { AuditScreen, AuditWriter } from "./audit-writer.js";
import type { RecordSource } from "../store/store.js";
import type { ImportMode, TrustOutcome, TrustTrackerClient } from "./client.js";
import { restoreTrustState, type RestoreReport } from "./restore.js";
import { SnapshotSchedule } from "./snapshot-schedule.js";
import { TrustStateStore } from "./state-store.js";
import { BayesianTrustTracker, DEFAULT_Z, type KeyMetrics, type ReportOptions, type TrustRecord, type TrustReport } from "./tracker.js";
import { TrustDirectory } from "./trust-directory.js";
import { decodeTrustFile, encodeTrustFile } from "./trust-file.js";
import { checkRecords, COUNT_MAX } from "./validation.js";

export type { RestoreReport } from "./restore.js";

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
  private readonly clock: Clock;
  private readonly signer: AuditSigner;
  /** Seq of the last audit record applied: the next record's prev_seq. */
  private trustSeq = 0;
  private closed = false;
  /** When and how the state is snapshotted; absent without durability. */
  private readonly snapshots: SnapshotSchedule | undefined;

  /** An in-memory tracker (no restore); {@link LocalTrustTracker.open} makes a durable one. */
  constructor(
    private readonly options: LocalTrustTrackerOptions,
    private readonly store?: TrustStateStore,
  ) {
    this.clock = options.clock ?? systemClock;
    this.tracker = new BayesianTrustTracker({ historyPointsMax: options.historyPointsMax });
    this.files = new TrustDirectory({ root: options.trustDir, fileBytesMax: options.fileBytesMax });
    this.signer = new AuditSigner(store?.auditKey ?? randomBytes(32));
    const d = options.durability;
    if (store !== undefined && d !== undefined) {
      this.snapshots = new SnapshotSchedule({
        store,
        clock: this.clock,
        logSeq: d.logSeq,
        snapshotChanges: d.snapshotChanges,
        snapshotIntervalMs: d.snapshotIntervalMs,
        take: () => this.snapshot(),
        onSnapshot: options.onSnapshot,
        onBackgroundError: options.onBackgroundError,
      });
    }
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
    const restored = await restoreTrustState(store, d, { tracker: self.tracker, signer: self.signer, apply: (change, loaded) => self.apply(change, loaded) });
    self.trustSeq = restored.trustSeq;
    const snapshots = self.snapshots!;
    snapshots.restoredFrom(restored.snapshotSeq);
    // Nothing else runs yet (no RPC, no timer), so this snapshot may cover the whole log.
    if (!restored.hadSnapshot || restored.replayed > 0 || restored.recordsScanned > (d.snapshotAfterScanRecords ?? 10_000)) await snapshots.persist(self.capture(snapshots), true);
    // Everything is in the snapshot now: staged imports are no longer needed.
    await store.removeImports();
    snapshots.start();
    const { snapshotSeq, snapshotKeys, recordsScanned, replayed, ignored } = restored;
    const restore: RestoreReport = {
      snapshotSeq,
      snapshotKeys,
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
    const snapshots = this.snapshots;
    if (snapshots === undefined) return;
    const captured = await this.mutex.runExclusive(() => this.capture(snapshots));
    await snapshots.persist(captured, false);
  }

  /** Waits for changes in progress, writes a last snapshot and stops the timer. Later changes get UNAVAILABLE. */
  async close(): Promise<void> {
    const snapshots = this.snapshots;
    snapshots?.stop();
    const captured = await this.mutex.runExclusive(() => {
      this.closed = true;
      return snapshots === undefined ? undefined : this.capture(snapshots);
    });
    if (captured !== undefined) await snapshots!.persist(captured, false);
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
    this.snapshots?.noteChange();
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
      const snapshots = this.snapshots;
      if (snapshots !== undefined) {
        snapshots.staged(seq, id);
        // Snapshot right away so the staged copy can go; if this fails, the copy stays and replay uses it.
        await snapshots.persist(this.capture(snapshots), false).catch((err) => this.options.onBackgroundError?.(err, "trust snapshot after import"));
      }
      return { keyCount: records.length, seq };
    });
  }

  /** Captures the state for a snapshot; call with the mutex held (see {@link SnapshotSchedule.capture}). */
  private capture(snapshots: SnapshotSchedule): ReturnType<SnapshotSchedule["capture"]> {
    return snapshots.capture(this.trustSeq, this.tracker.view());
  }

}
