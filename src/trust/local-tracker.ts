import { Mutex } from "async-mutex";
import { status } from "@grpc/grpc-js";
import { systemClock, type Clock } from "../clock.js";
import { ServiceError } from "../errors.js";
import type { EventDraft } from "../events/catalog.js";
import type { ImportMode, TrustOutcome, TrustTrackerClient } from "./client.js";
import { BayesianTrustTracker, DEFAULT_Z, type KeyMetrics, type ReportOptions, type TrustRecord, type TrustReport } from "./tracker.js";

/** Writes one audit record and resolves with its seq once durable. */
export type AuditWriter = (draft: EventDraft) => Promise<number>;

/** Options of the in-process tracker. */
export interface LocalTrustTrackerOptions {
  /** Where trust changes are recorded before they are applied. */
  audit: AuditWriter;
  /** Clock for update times. Default: the system clock. */
  clock?: Clock;
  /** History points kept per key. Default 1,000. */
  historyPointsMax?: number;
}

/**
 * The in-process trust tracker behind the TrustTrackerClient interface. Every
 * change is first written to the learning log (the audit trail), then applied;
 * a mutex keeps the log's order and the state's order the same.
 */
export class LocalTrustTracker implements TrustTrackerClient {
  readonly tracker: BayesianTrustTracker;
  private readonly mutex = new Mutex();
  private readonly clock: Clock;

  constructor(private readonly options: LocalTrustTrackerOptions) {
    this.clock = options.clock ?? systemClock;
    this.tracker = new BayesianTrustTracker({ historyPointsMax: options.historyPointsMax });
  }

  async update(outcomes: readonly TrustOutcome[]) {
    return this.mutex.runExclusive(async () => {
      const time = this.clock.nowMicros() / 1e6;
      const normalized = outcomes.map((o) => ({ key: o.key, success: o.success, weight: o.weight ?? 1 }));
      const seq = await this.options.audit({ eventType: "trust_updated", data: { time, outcomes: normalized } });
      for (const o of normalized) this.tracker.update(o.key, o.success, o.weight, time);
      const keys = [...new Set(normalized.map((o) => o.key))].sort();
      return { metrics: keys.map((k) => this.tracker.metrics(k)), seq };
    });
  }

  async getMetrics(keys: readonly string[], z = DEFAULT_Z): Promise<KeyMetrics[]> {
    return keys.map((k) => this.tracker.metrics(k, z));
  }

  async applyDecay(key: string | undefined, factor: number, minCount: number) {
    return this.mutex.runExclusive(async () => {
      const seq = await this.options.audit({ eventType: "trust_decayed", data: { key: key ?? null, factor, min_count: minCount } });
      return { keysDecayed: this.tracker.decay(key, factor, minCount).length, seq };
    });
  }

  async report(options: ReportOptions): Promise<TrustReport> {
    return this.tracker.report(options);
  }

  async exportRecords(): Promise<TrustRecord[]> {
    return this.tracker.records();
  }

  async importRecords(records: readonly TrustRecord[], mode: ImportMode) {
    return this.mutex.runExclusive(async () => {
      const seq = await this.options.audit({
        eventType: "trust_state_loaded",
        data: { mode, key_count: records.length },
      });
      this.tracker.load(records, mode);
      return { keyCount: records.length, seq };
    });
  }

  async exportToFile(_path: string): Promise<{ path: string; keyCount: number }> {
    throw new ServiceError(status.UNIMPLEMENTED, "trust files are not available yet");
  }

  async importFromFile(_path: string, _mode: ImportMode): Promise<{ found: boolean; keyCount: number }> {
    throw new ServiceError(status.UNIMPLEMENTED, "trust files are not available yet");
  }

  async close(): Promise<void> {
    await this.mutex.waitForUnlock();
  }
}
