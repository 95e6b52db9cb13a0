import { Mutex } from "async-mutex";
import { nowSeconds, type Clock } from "../clock.js";
import { TrustStateStore } from "./state-store.js";
import type { TrustRecord } from "./tracker.js";

/** The state a snapshot will hold, captured under the tracker's mutex. */
export interface CapturedSnapshot {
  seq: number;
  trustSeq: number;
  records: ReadonlyArray<Readonly<TrustRecord>>;
  importIds: string[];
}

/** Options of {@link SnapshotSchedule}. */
export interface SnapshotScheduleOptions {
  store: TrustStateStore;
  clock: Clock;
  /** The log's last durable seq. */
  logSeq: () => number;
  /** Take a snapshot after this many changes. Default 1,000. */
  snapshotChanges?: number;
  /** Take a snapshot this often (ms) while the state or the log moved. Default 60,000. */
  snapshotIntervalMs?: number;
  /** Takes a snapshot (the tracker captures its state under its mutex, then calls {@link SnapshotSchedule.persist}). */
  take: () => Promise<void>;
  /** Told after each durable snapshot (the log seq it covers). */
  onSnapshot?: (seq: number) => void;
  /** Told about failures of background work (a periodic snapshot). */
  onBackgroundError?: (err: unknown, what: string) => void;
}

/**
 * When the in-process tracker's state is made durable, and the writing of it:
 * a snapshot every N changes and every T ms while the state or the log moved
 * (not awaited by the change that crosses the threshold), one at a time, never
 * replacing a newer one; and the staged imports each snapshot makes needless.
 */
export class SnapshotSchedule {
  /** Log seq the last durable snapshot covers. */
  private coveredSeq = 0;
  private changesSinceSnapshot = 0;
  private snapshotQueued = false;
  private timer: NodeJS.Timeout | undefined;
  /** One snapshot written at a time. */
  private readonly mutex = new Mutex();
  /** Staged imports not yet covered by a durable snapshot. */
  private stagedImports: Array<{ seq: number; id: string }> = [];

  constructor(private readonly options: SnapshotScheduleOptions) {}

  /** The log seq the last durable snapshot covers (the restored one at start). */
  get seq(): number {
    return this.coveredSeq;
  }

  /** Sets the seq the snapshot read at start covers. */
  restoredFrom(seq: number): void {
    this.coveredSeq = seq;
  }

  /** Counts a change; past the threshold, takes a snapshot in the background. */
  noteChange(): void {
    this.changesSinceSnapshot++;
    const every = this.options.snapshotChanges ?? 1000;
    if (this.changesSinceSnapshot < every || this.snapshotQueued) return;
    this.snapshotQueued = true;
    // Not awaited: the change that crossed the threshold does not wait for the snapshot.
    this.options
      .take()
      .catch((err) => this.options.onBackgroundError?.(err, "trust snapshot"))
      .finally(() => {
        this.snapshotQueued = false;
      });
  }

  /** An import staged under `id`, recorded at log seq `seq`: removed once a snapshot covers it. */
  staged(seq: number, id: string): void {
    this.stagedImports.push({ seq, id });
  }

  /** Starts the periodic snapshot (the timer does not keep the process alive). */
  start(): void {
    const interval = this.options.snapshotIntervalMs ?? 60_000;
    this.timer = setInterval(() => {
      if (this.changesSinceSnapshot === 0 && this.options.logSeq() <= this.coveredSeq) return;
      this.options.take().catch((err) => this.options.onBackgroundError?.(err, "periodic trust snapshot"));
    }, interval);
    this.timer.unref();
  }

  /** Stops the periodic snapshot. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Captures the state for a snapshot (cheap: shallow copies). Call with the
   * tracker's mutex held: no audit record is in flight, so every trust record
   * up to the log's last seq is applied, and the snapshot may cover that seq.
   */
  capture(trustSeq: number, records: ReadonlyArray<Readonly<TrustRecord>>): CapturedSnapshot {
    const seq = Math.max(this.options.logSeq(), trustSeq);
    this.changesSinceSnapshot = 0;
    return { seq, trustSeq, records, importIds: this.stagedImports.filter((s) => s.seq <= trustSeq).map((s) => s.id) };
  }

  /** Writes a captured snapshot unless a newer one is already durable (`force`: even when it covers no more); then drops the staged imports it covers. */
  async persist(captured: CapturedSnapshot, force: boolean): Promise<void> {
    const { store } = this.options;
    await this.mutex.runExclusive(async () => {
      if (!force && captured.seq <= this.coveredSeq && captured.importIds.length === 0) return;
      if (captured.seq < this.coveredSeq) return;
      // Encoded outside the tracker's mutex: changes go on meanwhile.
      const text = await TrustStateStore.encodeSnapshot(captured, nowSeconds(this.options.clock));
      await store.writeSnapshot(text);
      this.coveredSeq = captured.seq;
      if (captured.importIds.length > 0) {
        await store.removeImports(captured.importIds);
        this.stagedImports = this.stagedImports.filter((s) => !captured.importIds.includes(s.id));
      }
      this.options.onSnapshot?.(captured.seq);
    });
  }
}
