import { parseTimestamp } from "../clock.js";
import type { LogRecordView } from "../store/store.js";
import { parseRecordText } from "../record/line.js";
import { parseAuditRecord } from "../trust/audit.js";
import { confidenceInterval, trustOf } from "../trust/tracker.js";
import { runOfRecordText } from "../record/line.js";

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
  /** Rules drawn by success rate over the run (the most activated). Default 8. */
  ruleSeriesMax?: number;
  /** Arcs drawn by regret over time (the most reported). Default 8. */
  arcsMax?: number;
  /** Revision and upgrade marks kept for the timeline (thinned like a series beyond it). Default 500. */
  marksMax?: number;
  /** Runs listed (by first seq). Default 50. */
  runsMax?: number;
}

/**
 * What a summary draws instead of its own top N: the comparison of two runs
 * asks both for the same variables, keys, rules and arcs. Names a run lacks
 * are left out of its summary.
 */
export interface SummaryFocus {
  variables?: readonly string[];
  trustKeys?: readonly string[];
  ruleSeries?: readonly string[];
  arcs?: readonly string[];
}

/**
 * One point of a series: time in milliseconds since the epoch, the seq of
 * the record it came from, and that record's index (1-based) among the
 * records summarised (for the summary of one run: its event index in the run).
 */
export interface Point {
  t: number;
  s: number;
  i: number;
  y: number;
}

/** A trust measurement with its confidence interval. */
export interface TrustPoint {
  t: number;
  s: number;
  i: number;
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

/** A rule's activations from its `rule_activation` records. */
export interface RuleActivationRow {
  ruleId: string;
  activations: number;
  /** Activations whose data.success was true, false, or null/absent. */
  successes: number;
  failures: number;
  unknown: number;
  /** successes / (successes + failures); null when no activation said. */
  successRate: number | null;
}

/** A revision trigger or symbolic upgrade, as a mark on the timeline. */
export interface Mark {
  t: number;
  s: number;
  i: number;
  kind: "revision" | "upgrade";
  /** The revision's reason, or the upgrade's changes as compact JSON (cut at 200 characters). */
  label: string;
}

/** What a run's lifecycle records say, and where its records lie. */
export interface RunRow {
  run: string;
  records: number;
  firstSeq: number;
  lastSeq: number;
  firstTime: string;
  lastTime: string;
  /** From the last `run_started` record: data.params (and pid, host when given). */
  started?: { seq: number; timestamp: string; params: Record<string, unknown>; pid?: number; host?: string };
  /** From the last `run_finished` record: "finished" or "failed", with the error a failed run names. */
  finished?: { seq: number; timestamp: string; status: string; error?: { type?: string; message?: string } };
  /**
   * Where the server's run index says the run stands, for a run without a
   * `run_finished` record ("still logging", "ended without a finish
   * record"): only a server knows whether a process still holds the run.
   * Set by the caller that read through a server.
   */
  serverStatus?: string;
}

/** Everything the text and HTML summaries show, computed in one pass over the records. */
export interface SummaryData {
  records: number;
  firstSeq: number;
  lastSeq: number;
  firstTime?: string;
  lastTime?: string;
  /** The first record's time in milliseconds since the epoch (time since the run's start is measured from it). */
  firstMs?: number;
  /** The last record's time in milliseconds since the epoch. */
  lastMs?: number;
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
  /** Rules by activations, most activated first (at most rulesMax). */
  ruleActivations: RuleActivationRow[];
  /** Rules with activations in all. */
  ruleActivationsTotal: number;
  /** Each drawn rule's success rate so far after each activation that said success or failure. */
  ruleSeries: Array<{ ruleId: string; points: Point[] }>;
  /** Regret per arc over time (`symbolic_arc_regret`, data.regret_scores), the most reported arcs. */
  arcs: Array<{ arc: string; reports: number; last: number; max: number; points: Point[] }>;
  arcsTotal: number;
  /** Revision triggers and upgrades (thinned to marksMax), and how many there were. */
  marks: Mark[];
  marksTotal: { revision: number; upgrade: number };
  /** The runs the records name, by first seq (at most runsMax), how many there are, and how many records name none. */
  runs: RunRow[];
  runsTotal: number;
  recordsWithoutRun: number;
}

/** Every name a summary has seen, with counts: what the comparison of two runs compares. */
export interface SummaryInventory {
  eventTypes: ReadonlyMap<string, number>;
  /** Variables of weight changes and rule activations, with how many records name each. */
  variables: ReadonlyMap<string, number>;
  /** Rules of activations and effectiveness records, with how many records name each. */
  rules: ReadonlyMap<string, number>;
  /** Activations per rule. */
  activations: ReadonlyMap<string, RuleActivationRow>;
  /** Each weight-changed variable's first and last weight and changes. */
  weights: ReadonlyMap<string, { first: number; last: number; changes: number }>;
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
const CHARTED: ReadonlySet<string> = new Set([
  "variable_weight_update",
  "bayesian_trust_metrics",
  "rule_effectiveness",
  "trust_updated",
  "trust_decayed",
  "trust_state_loaded",
  "rule_activation",
  "symbolic_arc_regret",
  "symbolic_revision_triggered",
  "symbolic_upgrade_applied",
  "run_started",
  "run_finished",
]);

const LABEL_MAX = 200;
const cut = (text: string) => (text.length > LABEL_MAX ? text.slice(0, LABEL_MAX - 1) + "\u2026" : text);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

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
  private firstMs?: number;
  private lastMs?: number;
  private readonly activations = new Map<string, RuleActivationRow & { series: ThinnedSeries<Point> }>();
  /** Records naming each variable (weight changes and rule activations). */
  private readonly variableRecords = new Map<string, number>();
  /** Records naming each rule (activations and effectiveness). */
  private readonly ruleRecords = new Map<string, number>();
  private readonly arcs = new Map<string, { reports: number; last: number; max: number; series: ThinnedSeries<Point> }>();
  private readonly marks: ThinnedSeries<Mark>;
  private readonly marksTotal = { revision: 0, upgrade: 0 };
  private readonly runs = new Map<string, RunRow>();
  private recordsWithoutRun = 0;

  constructor(options: SummaryOptions = {}) {
    this.o = { timeBuckets: 60, variablesMax: 8, trustKeysMax: 6, rulesMax: 20, pointsMax: 2000, ruleSeriesMax: 8, arcsMax: 8, marksMax: 500, runsMax: 50, ...options };
    this.marks = new ThinnedSeries(this.o.marksMax);
  }

  /** Adds one record. */
  add(record: Pick<LogRecordView, "seq" | "timestamp" | "eventType" | "json">): void {
    const i = ++this.records;
    if (this.firstSeq === 0) {
      this.firstSeq = record.seq;
      this.firstTime = record.timestamp;
    }
    this.lastSeq = record.seq;
    this.lastTime = record.timestamp;
    const type = record.eventType;
    this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
    this.addToSeqBlock(record.seq, type);
    const run = this.addToRun(record);
    const ms = Math.floor(parseTimestamp(record.timestamp) / 1000);
    if (!Number.isFinite(ms)) return;
    this.firstMs ??= ms;
    this.lastMs = ms;
    const minute = Math.floor(ms / 60_000) * 60_000;
    let m = this.perMinute.get(minute);
    if (m === undefined) this.perMinute.set(minute, (m = new Map()));
    m.set(type, (m.get(type) ?? 0) + 1);
    if (CHARTED.has(type)) {
      const parsed = parseRecordText(record.json);
      if (!parsed.ok) return;
      const data = (parsed.value.data ?? {}) as Record<string, unknown>;
      const at = { t: ms, s: record.seq, i };
      if (type === "variable_weight_update") this.addWeight(at, data);
      else if (type === "bayesian_trust_metrics") this.addTrust(at, data);
      else if (type === "rule_effectiveness") this.addRule(data);
      else if (type === "rule_activation") this.addActivation(at, data);
      else if (type === "symbolic_arc_regret") this.addRegret(at, data);
      else if (type === "symbolic_revision_triggered") this.addMark(at, "revision", typeof data.reason === "string" ? data.reason : JSON.stringify(data.reason ?? null));
      else if (type === "symbolic_upgrade_applied") this.addMark(at, "upgrade", JSON.stringify(data.changes ?? null));
      else if (type === "run_started" || type === "run_finished") this.addLifecycle(run, record, data);
      else this.addAudit(at, parsed.value);
    }
  }

  /** Counts the record into its run's row; returns the row (undefined for a record of no run). */
  private addToRun(record: Pick<LogRecordView, "seq" | "timestamp" | "json">): RunRow | undefined {
    const id = runOfRecordText(record.json);
    if (id === undefined) {
      this.recordsWithoutRun++;
      return undefined;
    }
    let row = this.runs.get(id);
    if (row === undefined) this.runs.set(id, (row = { run: id, records: 0, firstSeq: record.seq, lastSeq: record.seq, firstTime: record.timestamp, lastTime: record.timestamp }));
    row.records++;
    row.lastSeq = record.seq;
    row.lastTime = record.timestamp;
    return row;
  }

  private addLifecycle(row: RunRow | undefined, record: Pick<LogRecordView, "seq" | "timestamp" | "eventType">, data: Record<string, unknown>): void {
    if (row === undefined) return;
    if (record.eventType === "run_started") {
      row.started = { seq: record.seq, timestamp: record.timestamp, params: isObject(data.params) ? data.params : {} };
      if (num(data.pid) !== undefined) row.started.pid = num(data.pid);
      if (typeof data.host === "string") row.started.host = data.host;
    } else {
      row.finished = { seq: record.seq, timestamp: record.timestamp, status: typeof data.status === "string" ? data.status : "unknown" };
      if (isObject(data.error)) {
        const { type, message } = data.error;
        row.finished.error = { type: typeof type === "string" ? type : undefined, message: typeof message === "string" ? cut(message) : undefined };
      }
    }
  }

  private addActivation(at: { t: number; s: number; i: number }, data: Record<string, unknown>): void {
    const ruleId = typeof data.rule_id === "string" ? data.rule_id : undefined;
    if (ruleId === undefined) return;
    this.ruleRecords.set(ruleId, (this.ruleRecords.get(ruleId) ?? 0) + 1);
    if (typeof data.variable_id === "string") this.variableRecords.set(data.variable_id, (this.variableRecords.get(data.variable_id) ?? 0) + 1);
    let r = this.activations.get(ruleId);
    if (r === undefined) this.activations.set(ruleId, (r = { ruleId, activations: 0, successes: 0, failures: 0, unknown: 0, successRate: null, series: new ThinnedSeries(this.o.pointsMax) }));
    r.activations++;
    if (data.success === true) r.successes++;
    else if (data.success === false) r.failures++;
    else {
      r.unknown++;
      return;
    }
    r.successRate = r.successes / (r.successes + r.failures);
    r.series.add({ ...at, y: r.successRate });
  }

  private addRegret(at: { t: number; s: number; i: number }, data: Record<string, unknown>): void {
    if (!isObject(data.regret_scores)) return;
    for (const [arc, value] of Object.entries(data.regret_scores)) {
      const y = num(value);
      if (y === undefined) continue;
      let a = this.arcs.get(arc);
      if (a === undefined) this.arcs.set(arc, (a = { reports: 0, last: y, max: y, series: new ThinnedSeries(this.o.pointsMax) }));
      a.reports++;
      a.last = y;
      a.max = Math.max(a.max, y);
      a.series.add({ ...at, y });
    }
  }

  private addMark(at: { t: number; s: number; i: number }, kind: Mark["kind"], label: string): void {
    this.marksTotal[kind]++;
    this.marks.add({ ...at, kind, label: cut(label) });
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
  private addAudit(at: { t: number; s: number; i: number }, line: unknown): void {
    const fallbackMs = at.t;
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
        this.addTrackerPoint(o.key, b, t, audit.seq, at.i);
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
        this.addTrackerPoint(key, b, fallbackMs, audit.seq, at.i);
      }
    } else {
      this.trustStateLoads.push(audit.seq);
    }
  }

  private addTrackerPoint(key: string, b: { alpha: number; beta: number }, t: number, s: number, i: number): void {
    const [lo, hi] = confidenceInterval(b.alpha, b.beta);
    this.trustSeries("trust_updated", key).series.add({ t, s, i, trust: trustOf(b.alpha, b.beta), lo, hi });
  }

  private trustSeries(source: TrustSource, key: string) {
    const id = `${source}\0${key}`;
    let k = this.trust.get(id);
    if (k === undefined) this.trust.set(id, (k = { key, source, samples: 0, series: new ThinnedSeries(this.o.pointsMax) }));
    k.samples++;
    return k;
  }

  private addWeight(at: { t: number; s: number; i: number }, data: Record<string, unknown>): void {
    const variable = typeof data.variable === "string" ? data.variable : undefined;
    if (variable !== undefined) this.variableRecords.set(variable, (this.variableRecords.get(variable) ?? 0) + 1);
    const to = num(data.to);
    if (variable === undefined || to === undefined) return;
    const from = num(data.from) ?? to;
    let v = this.variables.get(variable);
    if (v === undefined) this.variables.set(variable, (v = { changes: 0, totalChange: 0, first: from, last: to, series: new ThinnedSeries(this.o.pointsMax) }));
    v.changes++;
    v.totalChange += Math.abs(to - from);
    v.last = to;
    v.series.add({ ...at, y: to });
  }

  private addTrust(at: { t: number; s: number; i: number }, data: Record<string, unknown>): void {
    const key = typeof data.key === "string" ? data.key : undefined;
    const trust = num(data.trust);
    if (key === undefined || trust === undefined) return;
    const ci = Array.isArray(data.confidence_interval) ? data.confidence_interval : [];
    this.trustSeries("bayesian_trust_metrics", key).series.add({ ...at, trust, lo: num(ci[0]) ?? trust, hi: num(ci[1]) ?? trust });
  }

  private addRule(data: Record<string, unknown>): void {
    const ruleId = typeof data.rule_id === "string" ? data.rule_id : undefined;
    if (ruleId === undefined) return;
    this.ruleRecords.set(ruleId, (this.ruleRecords.get(ruleId) ?? 0) + 1);
    const successRate = num(data.success_rate) ?? 0;
    const impactScore = num(data.impact_score) ?? 0;
    this.rules.set(ruleId, { ruleId, activationCount: num(data.activation_count) ?? 0, successRate, impactScore, effectiveness: successRate * impactScore });
  }

  /** The names seen, with counts, for comparing this summary's records with another's. */
  inventory(): SummaryInventory {
    const weights = new Map<string, { first: number; last: number; changes: number }>();
    for (const [name, v] of this.variables) weights.set(name, { first: v.first, last: v.last, changes: v.changes });
    const activations = new Map<string, RuleActivationRow>();
    for (const [name, r] of this.activations) activations.set(name, activationRow(r));
    return { eventTypes: new Map(this.counts), variables: new Map(this.variableRecords), rules: new Map(this.ruleRecords), activations, weights };
  }

  /** The summary of everything added; `focus` picks the variables, keys, rules and arcs drawn instead of the top N. */
  build(focus: SummaryFocus = {}): SummaryData {
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
    const trustByKey = (keys: readonly string[]) => [...this.trust.values()].filter((k) => keys.includes(k.key)).sort((a, b) => keys.indexOf(a.key) - keys.indexOf(b.key) || a.source.localeCompare(b.source));
    const byActivations = [...this.activations.values()].sort((a, b) => b.activations - a.activations || a.ruleId.localeCompare(b.ruleId));
    const pick = <T>(names: readonly string[] | undefined, all: Map<string, T>, ranked: () => Array<[string, T]>, max: number): Array<[string, T]> =>
      names === undefined ? ranked().slice(0, max) : names.flatMap((n) => (all.has(n) ? [[n, all.get(n)!] as [string, T]] : []));
    return {
      records: this.records,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      firstTime: this.firstTime,
      lastTime: this.lastTime,
      firstMs: this.firstMs,
      lastMs: this.lastMs,
      countsByType: Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1])),
      timeline: { bucketMs, starts, counts },
      seqTimeline: { bucketSize: this.seqBlockSize, starts: this.seqBlocks.map((_, i) => this.firstSeq + i * this.seqBlockSize), counts: seqCounts },
      variables: pick(focus.variables, this.variables, () => [...this.variables].sort((a, b) => b[1].totalChange - a[1].totalChange || b[1].changes - a[1].changes || a[0].localeCompare(b[0])), this.o.variablesMax).map(
        ([variable, v]) => ({ variable, changes: v.changes, totalChange: v.totalChange, first: v.first, last: v.last, points: v.series.points }),
      ),
      variablesTotal: this.variables.size,
      trust: (focus.trustKeys === undefined
        ? [...this.trust.values()].sort((a, b) => b.samples - a.samples || a.key.localeCompare(b.key) || a.source.localeCompare(b.source)).slice(0, this.o.trustKeysMax)
        : trustByKey(focus.trustKeys)
      ).map((k) => ({ key: k.key, source: k.source, samples: k.samples, points: k.series.points })),
      trustTotal: this.trust.size,
      trustStateLoads: [...this.trustStateLoads],
      rules: [...this.rules.values()].sort((a, b) => b.effectiveness - a.effectiveness || a.ruleId.localeCompare(b.ruleId)).slice(0, this.o.rulesMax),
      ruleActivations: byActivations.slice(0, this.o.rulesMax).map(activationRow),
      ruleActivationsTotal: this.activations.size,
      ruleSeries: pick(focus.ruleSeries, this.activations, () => byActivations.filter((r) => r.series.points.length > 0).map((r) => [r.ruleId, r]), this.o.ruleSeriesMax).map(([ruleId, r]) => ({ ruleId, points: r.series.points })),
      arcs: pick(focus.arcs, this.arcs, () => [...this.arcs].sort((a, b) => b[1].reports - a[1].reports || b[1].max - a[1].max || a[0].localeCompare(b[0])), this.o.arcsMax).map(([arc, a]) => ({
        arc,
        reports: a.reports,
        last: a.last,
        max: a.max,
        points: a.series.points,
      })),
      arcsTotal: this.arcs.size,
      marks: [...this.marks.points],
      marksTotal: { ...this.marksTotal },
      runs: [...this.runs.values()].slice(0, this.o.runsMax).map((r) => structuredClone(r)),
      runsTotal: this.runs.size,
      recordsWithoutRun: this.recordsWithoutRun,
    };
  }
}

/** A rule's activation counts, without its series. */
function activationRow(r: RuleActivationRow): RuleActivationRow {
  return { ruleId: r.ruleId, activations: r.activations, successes: r.successes, failures: r.failures, unknown: r.unknown, successRate: r.successRate };
}
