import type { RuleActivationRow, SummaryBuilder, SummaryData, SummaryInventory } from "./aggregate.js";

/** Options of {@link compareRuns}. */
export interface CompareOptions {
  /** Names listed per "only in one run" list (the most recorded first); the rest are counted. Default 100. */
  namesMax?: number;
  /** Rows of the side-by-side rule and weight tables. Default 30. */
  rowsMax?: number;
  /** Variables, trust keys, rules and arcs overlaid (taken from both runs' top ones in turn). Defaults 8, 6, 8, 8. */
  variablesMax?: number;
  trustKeysMax?: number;
  ruleSeriesMax?: number;
  arcsMax?: number;
}

/** Names one run has and the other has not. */
export interface NameDiff {
  /** The first namesMax names only A has (most recorded first), and how many there are in all. */
  onlyA: string[];
  onlyATotal: number;
  onlyB: string[];
  onlyBTotal: number;
  /** Names both have. */
  both: number;
}

/** What differs between two runs. */
export interface RunDiff {
  eventTypes: NameDiff;
  variables: NameDiff;
  rules: NameDiff;
  /** Records per event type, side by side, for every type of either run (most records first). */
  counts: Array<{ type: string; a: number; b: number }>;
  /** Rule activations side by side (most activated in both together first; null where a run has none). */
  ruleActivations: Array<{ ruleId: string; a: RuleActivationRow | null; b: RuleActivationRow | null }>;
  ruleActivationsTotal: number;
  /** Last weights of variables both runs changed, the farthest apart first. */
  weights: Array<{ variable: string; a: { first: number; last: number; changes: number }; b: { first: number; last: number; changes: number } }>;
  weightsTotal: number;
}

/** Two runs' summaries, drawing the same variables, keys, rules and arcs, and what differs. */
export interface RunComparison {
  runs: [string, string];
  a: SummaryData;
  b: SummaryData;
  diff: RunDiff;
}

/** Names in turn from each list, without repeats, up to max: both runs' most telling names get a place. */
function interleave(max: number, ...lists: string[][]): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < max && lists.some((l) => i < l.length); i++) {
    for (const l of lists) if (i < l.length && !out.includes(l[i]) && out.length < max) out.push(l[i]);
  }
  return out;
}

function nameDiff(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>, max: number): NameDiff {
  const only = (x: ReadonlyMap<string, number>, y: ReadonlyMap<string, number>) =>
    [...x]
      .filter(([name]) => !y.has(name))
      .sort((p, q) => q[1] - p[1] || p[0].localeCompare(q[0]))
      .map(([name]) => name);
  const onlyA = only(a, b);
  const onlyB = only(b, a);
  return { onlyA: onlyA.slice(0, max), onlyATotal: onlyA.length, onlyB: onlyB.slice(0, max), onlyBTotal: onlyB.length, both: a.size - onlyA.length };
}

/** What differs between two inventories. */
export function diffInventories(a: SummaryInventory, b: SummaryInventory, options: Pick<CompareOptions, "namesMax" | "rowsMax"> = {}): RunDiff {
  const namesMax = options.namesMax ?? 100;
  const rowsMax = options.rowsMax ?? 30;
  const types = new Set([...a.eventTypes.keys(), ...b.eventTypes.keys()]);
  const counts = [...types]
    .map((type) => ({ type, a: a.eventTypes.get(type) ?? 0, b: b.eventTypes.get(type) ?? 0 }))
    .sort((p, q) => q.a + q.b - (p.a + p.b) || p.type.localeCompare(q.type));
  const rules = new Set([...a.activations.keys(), ...b.activations.keys()]);
  const ruleActivations = [...rules]
    .map((ruleId) => ({ ruleId, a: a.activations.get(ruleId) ?? null, b: b.activations.get(ruleId) ?? null }))
    .sort((p, q) => (q.a?.activations ?? 0) + (q.b?.activations ?? 0) - ((p.a?.activations ?? 0) + (p.b?.activations ?? 0)) || p.ruleId.localeCompare(q.ruleId));
  const weights = [...a.weights]
    .filter(([variable]) => b.weights.has(variable))
    .map(([variable, wa]) => ({ variable, a: wa, b: b.weights.get(variable)! }))
    .sort((p, q) => Math.abs(q.a.last - q.b.last) - Math.abs(p.a.last - p.b.last) || p.variable.localeCompare(q.variable));
  return {
    eventTypes: nameDiff(a.eventTypes, b.eventTypes, namesMax),
    variables: nameDiff(a.variables, b.variables, namesMax),
    rules: nameDiff(a.rules, b.rules, namesMax),
    counts,
    ruleActivations: ruleActivations.slice(0, rowsMax),
    ruleActivationsTotal: ruleActivations.length,
    weights: weights.slice(0, rowsMax),
    weightsTotal: weights.length,
  };
}

/**
 * Compares two runs, each summarised by its own builder (fed only that
 * run's records). Both summaries draw the same names: the most changed
 * variables, most updated trust keys, most activated rules and most
 * reported arcs of each run in turn, so the page can overlay them.
 */
export function compareRuns(runs: [string, string], a: SummaryBuilder, b: SummaryBuilder, options: CompareOptions = {}): RunComparison {
  const topA = a.build();
  const topB = b.build();
  const focus = {
    variables: interleave(options.variablesMax ?? 8, topA.variables.map((v) => v.variable), topB.variables.map((v) => v.variable)),
    trustKeys: interleave(options.trustKeysMax ?? 6, topA.trust.map((k) => k.key), topB.trust.map((k) => k.key)),
    ruleSeries: interleave(options.ruleSeriesMax ?? 8, topA.ruleSeries.map((r) => r.ruleId), topB.ruleSeries.map((r) => r.ruleId)),
    arcs: interleave(options.arcsMax ?? 8, topA.arcs.map((x) => x.arc), topB.arcs.map((x) => x.arc)),
  };
  return { runs, a: a.build(focus), b: b.build(focus), diff: diffInventories(a.inventory(), b.inventory(), options) };
}
