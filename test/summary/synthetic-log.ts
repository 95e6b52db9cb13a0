import { v4 as uuidv4 } from "uuid";
import { formatTimestamp } from "../../src/clock.js";
import { SummaryBuilder, type SummaryData, type SummaryOptions } from "../../src/summary/aggregate.js";

/** Start of every synthetic log: 2026-11-24 12:00 UTC, in microseconds. */
export const T0 = Date.UTC(2026, 10, 24, 12, 0, 0) * 1000;

/** The shape of a synthetic log. */
export interface LogShape {
  records: number;
  /** Minutes the records are spread over. */
  minutes: number;
  /** Keys the tracker's trust_updated records name; some are updated far more often than others. */
  keys: number;
  /** Event types beyond the charted ones, each with its own share of the records. */
  extraTypes: number;
  /** This many of the records, at the end, are written within one second (a burst after a quiet stretch). */
  burst?: number;
}

/** A deterministic pseudo-random sequence in [0, 1). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * The lines of a log of the given shape, in seq order: weight changes, the
 * tracker's trust_updated audit records (the shape the tracker writes; the
 * MAC is not checked by the summary), rule effectiveness and other events.
 */
export function* syntheticLines(shape: LogShape): Generator<{ seq: number; timestamp: string; eventType: string; json: string }> {
  const rand = lcg(42);
  const types = ["variable_weight_update", "trust_updated", "rule_effectiveness", ...Array.from({ length: shape.extraTypes }, (_, i) => `custom_event_${String(i).padStart(2, "0")}`)];
  const quiet = shape.records - (shape.burst ?? 0);
  const weights = new Map<string, number>();
  let prevAudit = 0;
  for (let seq = 1; seq <= shape.records; seq++) {
    const micros = seq <= quiet ? T0 + Math.floor(((seq - 1) * shape.minutes * 60_000_000) / Math.max(1, quiet)) : T0 + shape.minutes * 60_000_000 + (seq - quiet) * Math.floor(1_000_000 / (shape.burst ?? 1));
    const timestamp = formatTimestamp(micros);
    // Earlier types are more frequent: type i has weight 1 / (i + 1).
    const total = types.reduce((s, _, i) => s + 1 / (i + 1), 0);
    let r = rand() * total;
    let type = types[types.length - 1];
    for (const [i, t] of types.entries()) if ((r -= 1 / (i + 1)) < 0) { type = t; break; }
    let data: Record<string, unknown>;
    if (type === "variable_weight_update") {
      const variable = `var_${Math.floor(rand() * 12)}`;
      const from = weights.get(variable) ?? 1;
      const to = from + (rand() - 0.5) * 0.2;
      weights.set(variable, to);
      data = { variable, from, to };
    } else if (type === "trust_updated") {
      // Key k is picked with probability falling with k: the most updated keys are the first ones.
      const key = `key_${String(Math.floor(shape.keys * rand() ** 2)).padStart(2, "0")}`;
      data = { time: micros / 1e6, outcomes: [{ key, success: rand() < 0.7, weight: 1 }], prev_seq: prevAudit, mac: "unchecked" };
      prevAudit = seq;
    } else if (type === "rule_effectiveness") {
      data = { rule_id: `rule_${Math.floor(rand() * 6)}`, activation_count: seq, success_rate: rand(), impact_score: rand() };
    } else data = { n: seq };
    yield { seq, timestamp, eventType: type, json: `{"event_id":"${uuidv4()}","timestamp":"${timestamp}","event_type":"${type}","data":${JSON.stringify(data)},"seq":${seq}}` };
  }
}

/** The summary of a synthetic log, built without a file. */
export function syntheticSummary(shape: LogShape, options?: SummaryOptions): SummaryData {
  const b = new SummaryBuilder(options);
  for (const r of syntheticLines(shape)) b.add(r);
  return b.build();
}

/** The shape of one synthetic run: what it logs, over how long, and how it ends. */
export interface RunShape {
  run: string;
  /** When its run_started record is written (microseconds since the epoch). */
  startMicros: number;
  /** Minutes its events are spread over. */
  minutes: number;
  weightChanges: number;
  /** Rule activations, spread over `rules` in turn; each rule succeeds at its given rate (every tenth activation says no success: null). */
  activations: number;
  rules: Record<string, number>;
  /** Variables the weight changes and activations name, in turn. */
  variables: string[];
  /** symbolic_arc_regret records, each with a score for every arc. */
  regrets: number;
  arcs: string[];
  revisions: number;
  upgrades: number;
  params: Record<string, unknown>;
  /** The run_finished record's data; absent: the run has none. */
  finish?: { status: "finished" } | { status: "failed"; error: { type: string; message: string } };
  seed?: number;
}

/** One synthetic record before it has a seq. */
export interface RunRecord {
  micros: number;
  type: string;
  data: unknown;
  run?: string;
}

/**
 * The records of one run, in time order: run_started, the shape's events
 * in a shuffled order spread evenly over its minutes, run_finished. Rule
 * activations carry object outcomes as Pulse logs them ({"delta", "applied"}).
 */
export function runRecords(shape: RunShape): RunRecord[] {
  const rand = lcg(shape.seed ?? 7);
  const kinds: string[] = [
    ...new Array<string>(shape.weightChanges).fill("variable_weight_update"),
    ...new Array<string>(shape.activations).fill("rule_activation"),
    ...new Array<string>(shape.regrets).fill("symbolic_arc_regret"),
    ...new Array<string>(shape.revisions).fill("symbolic_revision_triggered"),
    ...new Array<string>(shape.upgrades).fill("symbolic_upgrade_applied"),
  ];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  const span = shape.minutes * 60_000_000;
  const at = (k: number) => shape.startMicros + 1 + Math.floor(((k + 1) * span) / (kinds.length + 2));
  const out: RunRecord[] = [{ micros: shape.startMicros, type: "run_started", data: { params: shape.params, pid: 4242, host: "trainer-1" }, run: shape.run }];
  const weights = new Map<string, number>();
  const ruleIds = Object.keys(shape.rules);
  const perRule = new Map<string, number>();
  let w = 0;
  let a = 0;
  let g = 0;
  for (const [k, type] of kinds.entries()) {
    let data: unknown;
    if (type === "variable_weight_update") {
      const variable = shape.variables[w++ % shape.variables.length];
      const from = weights.get(variable) ?? 1;
      const to = from + (rand() - 0.5) * 0.2;
      weights.set(variable, to);
      data = { variable, from, to };
    } else if (type === "rule_activation") {
      const rule = ruleIds[a % ruleIds.length];
      const variable = shape.variables[a++ % shape.variables.length];
      const n = perRule.get(rule) ?? 0;
      perRule.set(rule, n + 1);
      // The n-th activation succeeds when the rate's running total crosses a whole number: exactly the rate, spread evenly.
      const rate = shape.rules[rule];
      const success = n % 10 === 9 ? null : Math.floor((n + 1) * rate) > Math.floor(n * rate);
      data = { rule_id: rule, variable_id: variable, outcome: { delta: Number((rand() * 0.2).toFixed(3)), applied: rand() < 0.8 }, forecast_id: `f-${k}`, success };
    } else if (type === "symbolic_arc_regret") {
      g++;
      data = { regret_scores: Object.fromEntries(shape.arcs.map((arc, i) => [arc, Number((0.5 / (g + i) + rand() * 0.05).toFixed(4))])) };
    } else if (type === "symbolic_revision_triggered") data = { reason: `drift at event ${k}` };
    else data = { changes: { [shape.variables[k % shape.variables.length]]: { boost: 0.1 } } };
    out.push({ micros: at(k), type, data, run: shape.run });
  }
  if (shape.finish !== undefined) out.push({ micros: shape.startMicros + span, type: "run_finished", data: shape.finish, run: shape.run });
  return out;
}

/** A log's lines from records of several runs (or none), merged by time and numbered by seq, in the record contract's shape. */
export function logOfRecords(...lists: RunRecord[][]): string[] {
  const all = lists.flat().sort((x, y) => x.micros - y.micros);
  return all.map((r, i) => {
    const run = r.run === undefined ? "" : `,"run":${JSON.stringify(r.run)}`;
    return `{"event_id":"${uuidv4()}","timestamp":"${formatTimestamp(r.micros)}","event_type":"${r.type}","data":${JSON.stringify(r.data)}${run},"seq":${i + 1}}`;
  });
}

/** A run like the ones Pulse logs: 3,000 weight changes, 300 rule activations with object outcomes, 30 arc regret records, and marks. */
export const RUN_A: RunShape = {
  run: "exp-41",
  startMicros: T0,
  minutes: 60,
  weightChanges: 3_000,
  activations: 300,
  rules: { rule_x: 0.8, rule_y: 0.5, rule_z: 0.25 },
  variables: ["v1", "v2", "v3", "v_only_a"],
  regrets: 30,
  arcs: ["arc_a", "arc_b", "arc_c"],
  revisions: 12,
  upgrades: 4,
  params: { lr: 0.01, layers: [64, 64] },
  finish: { status: "finished" },
};

/** A second run, started half an hour into the first: other rates, one rule and one variable of its own, and a failure. */
export const RUN_B: RunShape = {
  ...RUN_A,
  run: "exp-42",
  startMicros: T0 + 30 * 60_000_000,
  minutes: 45,
  weightChanges: 2_000,
  activations: 240,
  rules: { rule_x: 0.6, rule_y: 0.5, rule_w: 0.9 },
  variables: ["v1", "v2", "v3", "v_only_b"],
  regrets: 20,
  arcs: ["arc_a", "arc_d"],
  revisions: 5,
  upgrades: 2,
  params: { lr: 0.02 },
  finish: { status: "failed", error: { type: "ValueError", message: "loss is NaN" } },
  seed: 11,
};

/** What a run's activations say, counted straight from its records: per rule [activations, successes, failures, not said]. */
export function activationCounts(lines: string[], run: string): Map<string, [number, number, number, number]> {
  const out = new Map<string, [number, number, number, number]>();
  for (const line of lines) {
    const r = JSON.parse(line) as { event_type: string; run?: string; data: { rule_id: string; success: boolean | null } };
    if (r.run !== run || r.event_type !== "rule_activation") continue;
    const c = out.get(r.data.rule_id) ?? [0, 0, 0, 0];
    c[0]++;
    c[r.data.success === true ? 1 : r.data.success === false ? 2 : 3]++;
    out.set(r.data.rule_id, c);
  }
  return out;
}
