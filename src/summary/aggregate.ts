import { parseTimestamp } from "../clock.js";
import type { LogRecordView } from "../store/store.js";
import { parseRecordText } from "../record/line.js";
import { parseAuditRecord } from "../trust/audit.js";
import { confidenceInterval, trustOf } from "../trust/tracker.js";

/** Options of {@link SummaryBuilder}. */
export interface SummaryOptions {
  /** Time buckets of the events-over-time chart; its by-seq view has between this many and twice as many. Default 60. */
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

/** One point of a series: time in milliseconds since the epoch, and the seq of the record it came from. */
export interface Point {
  t: number;
  s: number;
  y: number;
}

/** A trust measurement with its confidence interval. */
export interface TrustPoint {
  t: number;
  s: number;
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
  /**
   * Events per seq bucket and type: the first seq of each bucket and a count
   * array per type. A burst that is a sliver of the time axis spans its share
   * of the records here.
   */
  seqTimeline: { bucketSize: number; starts: number[]; counts: Record<string, number[]> };
  /** Weight trajectories (data.to over time) of the most changed variables, with their change totals. */
  variables: Array<{ variable: string; changes: number; totalChange: number; first: number; last: number; points: Point[] }>;
  /** Variables seen in all (the chart shows `variables`, the most changed). */
  variablesTotal: number;
  /**
   * Trust over time of the most updated keys. `source` says where the points
   * come from: the tracker's own `trust_updated`/`trust_decayed` records
   * replayed (Beta(1, 1) prior, as the tracker does), or the
   * `bayesian_trust_metrics` snapshots clients logged.
   */
  trust: Array<{ key: string; source: TrustSource; samples: number; points: TrustPoint[] }>;
  /** Trust series seen in all (the chart shows `trust`, the most updated). */
  trustTotal: number;
  /** Seqs of `trust_state_loaded` records: counts imported there are not in the log, so replayed trajectories after them start from the log's own counts. */
  trustStateLoads: number[];
  /** Rules by effectiveness, best first. */
  rules: RuleRow[];
}

/** Where a trust series comes from. */
export type TrustSource = "trust_updated" | "bayesian_trust_metrics";

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

/** The event types whose data the summary reads. */
const CHARTED: ReadonlySet<string> = new Set(["variable_weight_update", "bayesian_trust_metrics", "rule_effectiveness", "trust_updated", "trust_decayed", "trust_state_loaded"]);

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
  /** Series by source and key (source + "\0" + key). */
  private readonly trust = new Map<string, { key: string; source: TrustSource; samples: number; series: ThinnedSeries<TrustPoint> }>();
  /** The tracker's Beta counts per key, replayed from its audit records. */
  private readonly beta = new Map<string, { alpha: number; beta: number }>();
  private readonly trustStateLoads: number[] = [];
  private readonly rules = new Map<string, RuleRow>();
  /** Events per seq block and type; blocks double in size (pairs merged) when there are too many. */
  private seqBlocks: Array<Map<string, number>> = [];
  private seqBlockSize = 1;

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
    this.addToSeqBlock(record.seq, type);
    const ms = Math.floor(parseTimestamp(record.timestamp) / 1000);
    if (!Number.isFinite(ms)) return;
    const minute = Math.floor(ms / 60_000) * 60_000;
    let m = this.perMinute.get(minute);
    if (m === undefined) this.perMinute.set(minute, (m = new Map()));
    m.set(type, (m.get(type) ?? 0) + 1);
    if (CHARTED.has(type)) {
      const parsed = parseRecordText(record.json);
      if (!parsed.ok) return;
      const data = (parsed.value.data ?? {}) as Record<string, unknown>;
      if (type === "variable_weight_update") this.addWeight(ms, record.seq, data);
      else if (type === "bayesian_trust_metrics") this.addTrust(ms, record.seq, data);
      else if (type === "rule_effectiveness") this.addRule(data);
      else this.addAudit(ms, parsed.value);
    }
  }

  private addToSeqBlock(seq: number, type: string): void {
    const limit = 2 * this.o.timeBuckets;
    let i = Math.floor((seq - this.firstSeq) / this.seqBlockSize);
    while (i >= limit) {
      // Merge neighbours: the chart keeps between timeBuckets and twice as many bars.
      const merged: Array<Map<string, number>> = [];
      for (let j = 0; j < this.seqBlocks.length; j += 2) {
        const m = this.seqBlocks[j] ?? new Map<string, number>();
        for (const [t, c] of this.seqBlocks[j + 1] ?? []) m.set(t, (m.get(t) ?? 0) + c);
        merged.push(m);
      }
      this.seqBlocks = merged;
      this.seqBlockSize *= 2;
      i = Math.floor((seq - this.firstSeq) / this.seqBlockSize);
    }
    while (this.seqBlocks.length <= i) this.seqBlocks.push(new Map());
    const m = this.seqBlocks[i];
    m.set(type, (m.get(type) ?? 0) + 1);
  }

  /** The tracker's audit records, replayed as the tracker does (without the MAC check: the page has no secret). */
  private addAudit(fallbackMs: number, line: unknown): void {
    const audit = parseAuditRecord(line);
    if (audit === undefined) return;
    const c = audit.change;
    if (c.type === "trust_updated") {
      const t = Number.isFinite(c.time) ? c.time * 1000 : fallbackMs;
      for (const o of c.outcomes) {
        let b = this.beta.get(o.key);
        if (b === undefined) this.beta.set(o.key, (b = { alpha: 1, beta: 1 }));
        if (o.success) b.alpha += o.weight;
        else b.beta += o.weight;
        this.addTrackerPoint(o.key, b, t, audit.seq);
      }
    } else if (c.type === "trust_decayed") {
      const keys = c.key === null ? [...this.beta.keys()] : this.beta.has(c.key) ? [c.key] : [];
      for (const key of keys) {
        const b = this.beta.get(key)!;
        if (b.alpha + b.beta <= c.minCount) continue;
        const alpha = Math.max(1, b.alpha * c.factor);
        const beta = Math.max(1, b.beta * c.factor);
        if (alpha === b.alpha && beta === b.beta) continue;
        b.alpha = alpha;
        b.beta = beta;
        this.addTrackerPoint(key, b, fallbackMs, audit.seq);
      }
    } else {
      this.trustStateLoads.push(audit.seq);
    }
  }

  private addTrackerPoint(key: string, b: { alpha: number; beta: number }, t: number, s: number): void {
    const [lo, hi] = confidenceInterval(b.alpha, b.beta);
    this.trustSeries("trust_updated", key).series.add({ t, s, trust: trustOf(b.alpha, b.beta), lo, hi });
  }

  private trustSeries(source: TrustSource, key: string) {
    const id = `${source}\0${key}`;
    let k = this.trust.get(id);
    if (k === undefined) this.trust.set(id, (k = { key, source, samples: 0, series: new ThinnedSeries(this.o.pointsMax) }));
    k.samples++;
    return k;
  }

  private addWeight(t: number, s: number, data: Record<string, unknown>): void {
    const variable = typeof data.variable === "string" ? data.variable : undefined;
    const to = num(data.to);
    if (variable === undefined || to === undefined) return;
    const from = num(data.from) ?? to;
    let v = this.variables.get(variable);
    if (v === undefined) this.variables.set(variable, (v = { changes: 0, totalChange: 0, first: from, last: to, series: new ThinnedSeries(this.o.pointsMax) }));
    v.changes++;
    v.totalChange += Math.abs(to - from);
    v.last = to;
    v.series.add({ t, s, y: to });
  }

  private addTrust(t: number, s: number, data: Record<string, unknown>): void {
    const key = typeof data.key === "string" ? data.key : undefined;
    const trust = num(data.trust);
    if (key === undefined || trust === undefined) return;
    const ci = Array.isArray(data.confidence_interval) ? data.confidence_interval : [];
    this.trustSeries("bayesian_trust_metrics", key).series.add({ t, s, trust, lo: num(ci[0]) ?? trust, hi: num(ci[1]) ?? trust });
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
    const seqCounts: Record<string, number[]> = Object.fromEntries(types.map((t) => [t, this.seqBlocks.map((m) => m.get(t) ?? 0)]));
    return {
      records: this.records,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      firstTime: this.firstTime,
      lastTime: this.lastTime,
      countsByType: Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1])),
      timeline: { bucketMs, starts, counts },
      seqTimeline: { bucketSize: this.seqBlockSize, starts: this.seqBlocks.map((_, i) => this.firstSeq + i * this.seqBlockSize), counts: seqCounts },
      variables: [...this.variables]
        .sort((a, b) => b[1].totalChange - a[1].totalChange || b[1].changes - a[1].changes || a[0].localeCompare(b[0]))
        .slice(0, this.o.variablesMax)
        .map(([variable, v]) => ({ variable, changes: v.changes, totalChange: v.totalChange, first: v.first, last: v.last, points: v.series.points })),
      variablesTotal: this.variables.size,
      trust: [...this.trust.values()]
        .sort((a, b) => b.samples - a.samples || a.key.localeCompare(b.key) || a.source.localeCompare(b.source))
        .slice(0, this.o.trustKeysMax)
        .map((k) => ({ key: k.key, source: k.source, samples: k.samples, points: k.series.points })),
      trustTotal: this.trust.size,
      trustStateLoads: [...this.trustStateLoads],
      rules: [...this.rules.values()].sort((a, b) => b.effectiveness - a.effectiveness || a.ruleId.localeCompare(b.ruleId)).slice(0, this.o.rulesMax),
    };
  }
}
