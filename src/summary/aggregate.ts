import { parseTimestamp } from "../clock.js";
import type { LogRecordView } from "../store/store.js";
import { parseRecordText } from "../record/line.js";

/** Options of {@link SummaryBuilder}. */
export interface SummaryOptions {
  /** Time buckets of the events-over-time chart. Default 60. */
  timeBuckets?: number;
  /** Variables shown by weight trajectory (the most changed). Default 8. */
  variablesMax?: number;
  /** Keys shown by trust over time (the most measured). Default 6. */
  trustKeysMax?: number;
  /** Rules in the effectiveness ranking. Default 20. */
  rulesMax?: number;
  /** Points kept per series: longer series are thinned by halving, keeping their shape. Default 2,000. */
  pointsMax?: number;
}

/** One point of a series: time in milliseconds since the epoch. */
export interface Point {
  t: number;
  y: number;
}

/** A trust measurement with its confidence interval. */
export interface TrustPoint {
  t: number;
  trust: number;
  lo: number;
  hi: number;
}

/** A rule's latest effectiveness record. */
export interface RuleRow {
  ruleId: string;
  activationCount: number;
  successRate: number;
  impactScore: number;
  /** success_rate x impact_score: the ranking key. */
  effectiveness: number;
}

/** Everything the text and HTML summaries show, computed in one pass over the records. */
export interface SummaryData {
  records: number;
  firstSeq: number;
  lastSeq: number;
  firstTime?: string;
  lastTime?: string;
  countsByType: Record<string, number>;
  /** Events per time bucket and type: bucket start times (ms) and a count array per type. */
  timeline: { bucketMs: number; starts: number[]; counts: Record<string, number[]> };
  /** Weight trajectories (data.to over time) of the most changed variables, with their change totals. */
  variables: Array<{ variable: string; changes: number; totalChange: number; first: number; last: number; points: Point[] }>;
  /** Trust over time of the most measured keys. */
  trust: Array<{ key: string; samples: number; points: TrustPoint[] }>;
  /** Rules by effectiveness, best first. */
  rules: RuleRow[];
}

/** A series that keeps at most `max` points by dropping every other one when full (its shape stays). */
class ThinnedSeries<P> {
  points: P[] = [];
  private stride = 1;
  private seen = 0;
  constructor(private readonly max: number) {}
  add(p: P): void {
    if (this.seen++ % this.stride !== 0) return;
    this.points.push(p);
    if (this.points.length >= this.max) {
      this.points = this.points.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  }
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * Builds the summary from records fed in order (any source: the Reader over
 * the file, or a ReadEvents stream). Memory is bounded by the number of
 * distinct variables, keys and rules, and by pointsMax per series; only the
 * event types it charts are parsed as JSON.
 */
export class SummaryBuilder {
  private readonly o: Required<SummaryOptions>;
  private records = 0;
  private firstSeq = 0;
  private lastSeq = 0;
  private firstTime?: string;
  private lastTime?: string;
  private readonly counts = new Map<string, number>();
  /** Events per minute and type, merged into the chart's buckets at the end. */
  private readonly perMinute = new Map<number, Map<string, number>>();
  private readonly variables = new Map<string, { changes: number; totalChange: number; first: number; last: number; series: ThinnedSeries<Point> }>();
  private readonly trust = new Map<string, { samples: number; series: ThinnedSeries<TrustPoint> }>();
  private readonly rules = new Map<string, RuleRow>();

  constructor(options: SummaryOptions = {}) {
    this.o = { timeBuckets: 60, variablesMax: 8, trustKeysMax: 6, rulesMax: 20, pointsMax: 2000, ...options };
  }

  /** Adds one record. */
  add(record: Pick<LogRecordView, "seq" | "timestamp" | "eventType" | "json">): void {
    this.records++;
    if (this.firstSeq === 0) {
      this.firstSeq = record.seq;
      this.firstTime = record.timestamp;
    }
    this.lastSeq = record.seq;
    this.lastTime = record.timestamp;
    const type = record.eventType;
    this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
    const ms = Math.floor(parseTimestamp(record.timestamp) / 1000);
    if (!Number.isFinite(ms)) return;
    const minute = Math.floor(ms / 60_000) * 60_000;
    let m = this.perMinute.get(minute);
    if (m === undefined) this.perMinute.set(minute, (m = new Map()));
    m.set(type, (m.get(type) ?? 0) + 1);
    if (type === "variable_weight_update" || type === "bayesian_trust_metrics" || type === "rule_effectiveness") {
      const parsed = parseRecordText(record.json);
      if (!parsed.ok) return;
      const data = (parsed.value.data ?? {}) as Record<string, unknown>;
      if (type === "variable_weight_update") this.addWeight(ms, data);
      else if (type === "bayesian_trust_metrics") this.addTrust(ms, data);
      else this.addRule(data);
    }
  }

  private addWeight(t: number, data: Record<string, unknown>): void {
    const variable = typeof data.variable === "string" ? data.variable : undefined;
    const to = num(data.to);
    if (variable === undefined || to === undefined) return;
    const from = num(data.from) ?? to;
    let v = this.variables.get(variable);
    if (v === undefined) this.variables.set(variable, (v = { changes: 0, totalChange: 0, first: from, last: to, series: new ThinnedSeries(this.o.pointsMax) }));
    v.changes++;
    v.totalChange += Math.abs(to - from);
    v.last = to;
    v.series.add({ t, y: to });
  }

  private addTrust(t: number, data: Record<string, unknown>): void {
    const key = typeof data.key === "string" ? data.key : undefined;
    const trust = num(data.trust);
    if (key === undefined || trust === undefined) return;
    const ci = Array.isArray(data.confidence_interval) ? data.confidence_interval : [];
    let k = this.trust.get(key);
    if (k === undefined) this.trust.set(key, (k = { samples: 0, series: new ThinnedSeries(this.o.pointsMax) }));
    k.samples++;
    k.series.add({ t, trust, lo: num(ci[0]) ?? trust, hi: num(ci[1]) ?? trust });
  }

  private addRule(data: Record<string, unknown>): void {
    const ruleId = typeof data.rule_id === "string" ? data.rule_id : undefined;
    if (ruleId === undefined) return;
    const successRate = num(data.success_rate) ?? 0;
    const impactScore = num(data.impact_score) ?? 0;
    this.rules.set(ruleId, { ruleId, activationCount: num(data.activation_count) ?? 0, successRate, impactScore, effectiveness: successRate * impactScore });
  }

  /** The summary of everything added. */
  build(): SummaryData {
    const minutes = [...this.perMinute.keys()].sort((a, b) => a - b);
    const types = [...this.counts.keys()].sort();
    let bucketMs = 60_000;
    const starts: number[] = [];
    const counts: Record<string, number[]> = Object.fromEntries(types.map((t) => [t, [] as number[]]));
    if (minutes.length > 0) {
      const span = minutes[minutes.length - 1] - minutes[0] + 60_000;
      // Whole minutes per bucket, so no bucket is cut.
      bucketMs = Math.max(1, Math.ceil(span / 60_000 / this.o.timeBuckets)) * 60_000;
      const n = Math.ceil(span / bucketMs);
      for (let i = 0; i < n; i++) starts.push(minutes[0] + i * bucketMs);
      for (const t of types) counts[t] = new Array<number>(n).fill(0);
      for (const [minute, m] of this.perMinute) {
        const i = Math.floor((minute - minutes[0]) / bucketMs);
        for (const [t, c] of m) counts[t][i] += c;
      }
    }
    return {
      records: this.records,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      firstTime: this.firstTime,
      lastTime: this.lastTime,
      countsByType: Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1])),
      timeline: { bucketMs, starts, counts },
      variables: [...this.variables]
        .sort((a, b) => b[1].totalChange - a[1].totalChange || b[1].changes - a[1].changes || a[0].localeCompare(b[0]))
        .slice(0, this.o.variablesMax)
        .map(([variable, v]) => ({ variable, changes: v.changes, totalChange: v.totalChange, first: v.first, last: v.last, points: v.series.points })),
      trust: [...this.trust]
        .sort((a, b) => b[1].samples - a[1].samples || a[0].localeCompare(b[0]))
        .slice(0, this.o.trustKeysMax)
        .map(([key, k]) => ({ key, samples: k.samples, points: k.series.points })),
      rules: [...this.rules.values()].sort((a, b) => b.effectiveness - a.effectiveness || a.ruleId.localeCompare(b.ruleId)).slice(0, this.o.rulesMax),
    };
  }
}
