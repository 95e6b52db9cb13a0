/**
 * The Bayesian trust tracker of the original module, in process: one
 * Beta(alpha, beta) per key with prior Beta(1, 1). Pure state and formulas;
 * durability and the audit trail are the trust service's job.
 */

/** One point of a key's trust history. */
export interface TrustPoint {
  /** Seconds since the Unix epoch. */
  time: number;
  /** Trust after the update at that time. */
  trust: number;
}

/** One key's full state, as exported and imported. */
export interface TrustRecord {
  key: string;
  alpha: number;
  beta: number;
  /** Seconds since the Unix epoch of the last update, if any. */
  lastUpdate?: number;
  history: TrustPoint[];
}

/** Everything derived about one key. */
export interface KeyMetrics {
  key: string;
  trust: number;
  confidenceLower: number;
  confidenceUpper: number;
  confidenceStrength: number;
  sampleSize: number;
  alpha: number;
  beta: number;
  lastUpdate?: number;
}

/** Report thresholds; each has a default. */
export interface ReportOptions {
  /** Keys with fewer samples are left out. Default 5. */
  minSamples?: number;
  /** Trust at or above is high. Default 0.8. */
  highThreshold?: number;
  /** Trust at or below is low. Default 0.2. */
  lowThreshold?: number;
}

/** A trust report: aggregates plus the high- and low-trust keys, sorted. */
export interface TrustReport {
  summary: {
    totalKeys: number;
    reportedKeys: number;
    meanTrust: number;
    highTrustCount: number;
    lowTrustCount: number;
    minSamples: number;
    highThreshold: number;
    lowThreshold: number;
  };
  /** Highest trust first, ties by key. */
  highTrust: KeyMetrics[];
  /** Lowest trust first, ties by key. */
  lowTrust: KeyMetrics[];
}

/** Default z of the confidence interval (95%). */
export const DEFAULT_Z = 1.96;

/** trust = alpha / (alpha + beta). */
export function trustOf(alpha: number, beta: number): number {
  return alpha / (alpha + beta);
}

/** The normal-approximation interval p ± z·sqrt(p(1-p)/n), n = alpha+beta, clamped to [0, 1]. */
export function confidenceInterval(alpha: number, beta: number, z = DEFAULT_Z): [number, number] {
  const n = alpha + beta;
  const p = alpha / n;
  const margin = z * Math.sqrt((p * (1 - p)) / n);
  return [Math.max(0, p - margin), Math.min(1, p + margin)];
}

/** 1 / (1 + exp(-0.1·(n_obs - 10))), n_obs = alpha + beta - 2. */
export function confidenceStrength(alpha: number, beta: number): number {
  const observations = alpha + beta - 2;
  return 1 / (1 + Math.exp(-0.1 * (observations - 10)));
}

/** int(alpha + beta - 2), as Python's int() truncates. */
export function sampleSize(alpha: number, beta: number): number {
  return Math.trunc(alpha + beta - 2);
}

/** Options of the tracker. */
export interface TrackerOptions {
  /** History points kept per key; older ones are dropped. Default 1,000. */
  historyPointsMax?: number;
}

interface KeyState {
  alpha: number;
  beta: number;
  lastUpdate?: number;
  history: TrustPoint[];
}

/** The in-process tracker. Methods validate nothing: callers pass checked values. */
export class BayesianTrustTracker {
  private readonly keys = new Map<string, KeyState>();
  private readonly historyMax: number;

  constructor(options: TrackerOptions = {}) {
    this.historyMax = options.historyPointsMax ?? 1000;
  }

  /** Number of keys tracked. */
  get size(): number {
    return this.keys.size;
  }

  /** Adds weight to alpha (success) or beta (failure) at `time` (seconds). */
  update(key: string, success: boolean, weight: number, time: number): void {
    let state = this.keys.get(key);
    if (!state) {
      state = { alpha: 1, beta: 1, history: [] };
      this.keys.set(key, state);
    }
    if (success) state.alpha += weight;
    else state.beta += weight;
    state.lastUpdate = time;
    state.history.push({ time, trust: trustOf(state.alpha, state.beta) });
    if (state.history.length > this.historyMax) state.history.splice(0, state.history.length - this.historyMax);
  }

  /** Metrics of a key; the prior for a key never seen. */
  metrics(key: string, z = DEFAULT_Z): KeyMetrics {
    const state = this.keys.get(key) ?? { alpha: 1, beta: 1, history: [] };
    const [lower, upper] = confidenceInterval(state.alpha, state.beta, z);
    return {
      key,
      trust: trustOf(state.alpha, state.beta),
      confidenceLower: lower,
      confidenceUpper: upper,
      confidenceStrength: confidenceStrength(state.alpha, state.beta),
      sampleSize: sampleSize(state.alpha, state.beta),
      alpha: state.alpha,
      beta: state.beta,
      lastUpdate: state.lastUpdate,
    };
  }

  /**
   * Decays one key (or all when key is undefined): alpha, beta <- max(1, x·factor)
   * for keys with alpha + beta > minCount. Returns the keys that changed.
   */
  decay(key: string | undefined, factor: number, minCount: number): string[] {
    const changed: string[] = [];
    const targets = key === undefined ? [...this.keys.keys()] : this.keys.has(key) ? [key] : [];
    for (const k of targets) {
      const state = this.keys.get(k)!;
      if (state.alpha + state.beta <= minCount) continue;
      const alpha = Math.max(1, state.alpha * factor);
      const beta = Math.max(1, state.beta * factor);
      if (alpha === state.alpha && beta === state.beta) continue;
      state.alpha = alpha;
      state.beta = beta;
      changed.push(k);
    }
    return changed;
  }

  /** The report the original module meant to call. */
  report(options: ReportOptions = {}): TrustReport {
    const minSamples = options.minSamples ?? 5;
    const highThreshold = options.highThreshold ?? 0.8;
    const lowThreshold = options.lowThreshold ?? 0.2;
    const reported = [...this.keys.keys()].map((k) => this.metrics(k)).filter((m) => m.sampleSize >= minSamples);
    const byKey = (a: KeyMetrics, b: KeyMetrics) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    const highTrust = reported.filter((m) => m.trust >= highThreshold).sort((a, b) => b.trust - a.trust || byKey(a, b));
    const lowTrust = reported.filter((m) => m.trust <= lowThreshold).sort((a, b) => a.trust - b.trust || byKey(a, b));
    const meanTrust = reported.length ? reported.reduce((s, m) => s + m.trust, 0) / reported.length : 0;
    return {
      summary: {
        totalKeys: this.keys.size,
        reportedKeys: reported.length,
        meanTrust,
        highTrustCount: highTrust.length,
        lowTrustCount: lowTrust.length,
        minSamples,
        highThreshold,
        lowThreshold,
      },
      highTrust,
      lowTrust,
    };
  }

  /**
   * Every key's state, sorted by key, cheaply: the history arrays are
   * shallow copies sharing the point objects, which the tracker never
   * changes once made. A consistent capture for snapshots, taken in one go
   * and encoded later.
   */
  view(): ReadonlyArray<Readonly<TrustRecord>> {
    return [...this.keys.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, s]) => ({ key, alpha: s.alpha, beta: s.beta, lastUpdate: s.lastUpdate, history: s.history.slice() }));
  }

  /** Every key's state, sorted by key (copies; lastUpdate left out when the key has none). */
  records(): TrustRecord[] {
    return [...this.keys.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, s]) => {
        const record: TrustRecord = { key, alpha: s.alpha, beta: s.beta, history: s.history.map((p) => ({ time: p.time, trust: p.trust })) };
        if (s.lastUpdate !== undefined) record.lastUpdate = s.lastUpdate;
        return record;
      });
  }

  /** Loads records: replace drops every other key first, merge keeps them. */
  load(records: readonly TrustRecord[], mode: "replace" | "merge"): void {
    if (mode === "replace") this.keys.clear();
    for (const r of records) {
      this.keys.set(r.key, {
        alpha: r.alpha,
        beta: r.beta,
        lastUpdate: r.lastUpdate,
        history: r.history.slice(-this.historyMax).map((p) => ({ ...p })),
      });
    }
  }
}
