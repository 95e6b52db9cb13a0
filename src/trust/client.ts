import type { KeyMetrics, ReportOptions, TrustRecord, TrustReport } from "./tracker.js";

/** One observed outcome for a key. */
export interface TrustOutcome {
  key: string;
  success: boolean;
  /** Default 1. */
  weight?: number;
}

/** How an import treats keys already tracked. */
export type ImportMode = "replace" | "merge";

/**
 * How the logging service reaches the trust tracker: in process by default,
 * or the generated gRPC stub against a remote tracker. Writes resolve once the
 * change is durable in the tracker's own log.
 */
export interface TrustTrackerClient {
  /**
   * Applies outcomes in order, all or nothing; returns the touched keys'
   * metrics (sorted by key) and the audit record's seq. Refusals name the
   * outcome as `outcomes[i]`.
   */
  update(outcomes: readonly TrustOutcome[]): Promise<{ metrics: KeyMetrics[]; seq: number }>;
  /** Metrics per key, in the order asked; the prior for unknown keys. */
  getMetrics(keys: readonly string[], z?: number): Promise<KeyMetrics[]>;
  /** Decays one key or all; returns how many changed and the audit record's seq. */
  applyDecay(key: string | undefined, factor: number, minCount: number): Promise<{ keysDecayed: number; seq: number }>;
  /** The trust report. */
  report(options: ReportOptions): Promise<TrustReport>;
  /** Every key's state, sorted by key. */
  exportRecords(): Promise<TrustRecord[]>;
  /** Loads records all or nothing (checked: see validation.ts); replace drops every other key, merge keeps them. */
  importRecords(records: readonly TrustRecord[], mode: ImportMode): Promise<{ keyCount: number; seq: number }>;
  /** Writes the state to a file inside the trust directory, in the original's format. */
  exportToFile(path: string): Promise<{ path: string; keyCount: number }>;
  /** Reads a file inside the trust directory; found=false when it does not exist. */
  importFromFile(path: string, mode: ImportMode): Promise<{ found: boolean; keyCount: number }>;
  /** Releases the connection or state. */
  close(): Promise<void>;
}
