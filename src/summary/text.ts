import type { RunRow, SummaryData } from "./aggregate.js";
import type { NameDiff, RunComparison } from "./compare.js";

const fmt = (x: number) => String(Number(x.toFixed(4)));
const pct = (x: number | null) => (x === null ? "n/a" : `${(x * 100).toFixed(1)}%`);

/** A run's status in words, from its lifecycle records. */
export function runStatus(r: RunRow): string {
  if (r.finished === undefined) return r.serverStatus ?? "no run_finished record (still logging, or ended without one)";
  if (r.finished.status !== "failed") return r.finished.status;
  const e = r.finished.error;
  return e === undefined ? "failed" : `failed: ${[e.type, e.message].filter((x) => x !== undefined).join(": ")}`;
}

/** A run's params as compact JSON (pid and host after them when the run_started record gave them). */
export function runParams(r: RunRow): string {
  if (r.started === undefined) return "no run_started record";
  const extra = [r.started.pid === undefined ? "" : ` pid ${r.started.pid}`, r.started.host === undefined ? "" : ` host ${r.started.host}`].join("");
  return JSON.stringify(r.started.params) + extra;
}

/**
 * The length of the longest name, at least `min`. A loop, not
 * `Math.max(...names)`: a log may hold more event types than a call has
 * room for arguments (about 200,000 here), and that spread throws.
 */
export function widest(names: Iterable<string>, min = 0): number {
  let width = min;
  for (const name of names) if (name.length > width) width = name.length;
  return width;
}

/** Adds one line per event type with its count to `lines`, the counts aligned (one push each: never a spread of them all). */
export function addTypeCountLines(countsByType: Readonly<Record<string, number>>, lines: string[]): void {
  const width = widest(Object.keys(countsByType));
  for (const [type, count] of Object.entries(countsByType)) lines.push(`  ${type.padEnd(width)}  ${String(count).padStart(9)}`);
}

function typeCounts(s: SummaryData, lines: string[]): void {
  lines.push("", "Events by type:");
  addTypeCountLines(s.countsByType, lines);
}

/** The sections after the header: what the records hold, kind by kind. */
function body(s: SummaryData, lines: string[]): void {
  if (s.variables.length > 0) {
    lines.push("", "Most changed variables (total |change|, changes, first -> last weight):");
    for (const v of s.variables) lines.push(`  ${v.variable}  ${fmt(v.totalChange)}  ${v.changes}x  ${fmt(v.first)} -> ${fmt(v.last)}`);
  }
  if (s.trust.length > 0) {
    lines.push("", "Trust (latest, confidence interval, measurements):");
    for (const k of s.trust) {
      const p = k.points[k.points.length - 1];
      lines.push(`  ${k.key}${k.source === "trust_updated" ? " (tracker)" : ""}  ${fmt(p.trust)} [${fmt(p.lo)}, ${fmt(p.hi)}]  ${k.samples}x`);
    }
  }
  if (s.ruleActivations.length > 0) {
    lines.push("", `Rule activations (success rate of those that said; activations: success / failure / not said)${s.ruleActivations.length < s.ruleActivationsTotal ? `, ${s.ruleActivations.length} of ${s.ruleActivationsTotal} rules` : ""}:`);
    for (const r of s.ruleActivations) lines.push(`  ${r.ruleId}  ${pct(r.successRate)}  ${r.activations}x: ${r.successes} / ${r.failures} / ${r.unknown}`);
  }
  if (s.rules.length > 0) {
    lines.push("", "Rules by effectiveness (success_rate x impact_score; success rate, impact, activations):");
    s.rules.forEach((r, i) => lines.push(`  ${String(i + 1).padStart(2)}. ${r.ruleId}  ${fmt(r.effectiveness)}  (${fmt(r.successRate)}, ${fmt(r.impactScore)}, ${r.activationCount})`));
  }
  if (s.arcs.length > 0) {
    lines.push("", `Arc regret (latest, highest, reports)${s.arcs.length < s.arcsTotal ? `, ${s.arcs.length} of ${s.arcsTotal} arcs` : ""}:`);
    for (const a of s.arcs) lines.push(`  ${a.arc}  ${fmt(a.last)}  ${fmt(a.max)}  ${a.reports}x`);
  }
  if (s.marksTotal.revision + s.marksTotal.upgrade > 0) {
    lines.push("", `Revision triggers: ${s.marksTotal.revision}, symbolic upgrades: ${s.marksTotal.upgrade}`);
    const first = s.marks.slice(0, 5);
    for (const m of first) lines.push(`  seq ${m.s}  ${m.kind === "revision" ? "revision" : "upgrade "}  ${m.label}`);
    if (s.marks.length > first.length || s.marksTotal.revision + s.marksTotal.upgrade > first.length) lines.push("  ...");
  }
}

/** The summary as text for a terminal. */
export function summaryText(s: SummaryData): string {
  const lines: string[] = [];
  if (s.records === 0) return "no records in range\n";
  lines.push(`${s.records} records, seq ${s.firstSeq}..${s.lastSeq}, ${s.firstTime} .. ${s.lastTime}`);
  if (s.runs.length === 1 && s.recordsWithoutRun === 0) {
    const r = s.runs[0];
    lines.push(`run ${r.run}: ${runStatus(r)}`, `  params ${runParams(r)}`);
  } else if (s.runsTotal > 0) {
    lines.push("", `Runs (${s.runs.length < s.runsTotal ? `${s.runs.length} of ${s.runsTotal}, ` : ""}records, seq range, status)${s.recordsWithoutRun > 0 ? `; ${s.recordsWithoutRun} ${s.recordsWithoutRun === 1 ? "record names" : "records name"} no run` : ""}:`);
    for (const r of s.runs) lines.push(`  ${r.run}  ${r.records}  seq ${r.firstSeq}..${r.lastSeq}  ${runStatus(r)}`);
  }
  typeCounts(s, lines);
  body(s, lines);
  return lines.join("\n") + "\n";
}

function names(label: string, d: NameDiff, runs: [string, string], lines: string[]): void {
  const list = (xs: string[], total: number) => (total === 0 ? "none" : xs.join(", ") + (total > xs.length ? `, and ${total - xs.length} more` : ""));
  lines.push(`  ${label} only in ${runs[0]} (${d.onlyATotal}): ${list(d.onlyA, d.onlyATotal)}`);
  lines.push(`  ${label} only in ${runs[1]} (${d.onlyBTotal}): ${list(d.onlyB, d.onlyBTotal)}`);
}

/** Two runs side by side, and what differs, as text. */
export function comparisonText(c: RunComparison): string {
  const lines: string[] = [];
  const [ra, rb] = c.runs;
  for (const [name, s] of [
    [ra, c.a],
    [rb, c.b],
  ] as const) {
    if (s.records === 0) {
      lines.push(`run ${name}: no records`);
      continue;
    }
    const row = s.runs.find((r) => r.run === name);
    lines.push(`run ${name}: ${s.records} records, seq ${s.firstSeq}..${s.lastSeq}, ${s.firstTime} .. ${s.lastTime}`);
    if (row !== undefined) lines.push(`  status ${runStatus(row)}`, `  params ${runParams(row)}`);
  }
  const d = c.diff;
  lines.push("", "Differences:");
  names("event types", d.eventTypes, c.runs, lines);
  names("variables", d.variables, c.runs, lines);
  names("rules", d.rules, c.runs, lines);
  const width = widest(
    d.counts.map((r) => r.type),
    10,
  );
  const col = (x: string) => x.padStart(Math.max(9, ra.length, rb.length));
  lines.push("", "Events by type:", `  ${"".padEnd(width)}  ${col(ra)}  ${col(rb)}`);
  for (const r of d.counts) lines.push(`  ${r.type.padEnd(width)}  ${col(String(r.a))}  ${col(String(r.b))}`);
  if (d.ruleActivations.length > 0) {
    const rw = Math.max(4, ...d.ruleActivations.map((r) => r.ruleId.length));
    const cell = (x: { activations: number; successRate: number | null } | null) => (x === null ? "-" : `${pct(x.successRate)} of ${x.activations}`).padStart(Math.max(16, ra.length, rb.length));
    lines.push("", `Rule success rate of activations${d.ruleActivations.length < d.ruleActivationsTotal ? ` (${d.ruleActivations.length} of ${d.ruleActivationsTotal} rules, the most activated)` : ""}:`, `  ${"rule".padEnd(rw)}  ${ra.padStart(Math.max(16, ra.length, rb.length))}  ${rb.padStart(Math.max(16, ra.length, rb.length))}`);
    for (const r of d.ruleActivations) lines.push(`  ${r.ruleId.padEnd(rw)}  ${cell(r.a)}  ${cell(r.b)}`);
  }
  if (d.weights.length > 0) {
    lines.push("", `Last weight of variables both runs changed${d.weights.length < d.weightsTotal ? ` (${d.weights.length} of ${d.weightsTotal}, the farthest apart)` : ""}:`);
    for (const w of d.weights) lines.push(`  ${w.variable}  ${ra} ${fmt(w.a.last)} (${w.a.changes}x)  ${rb} ${fmt(w.b.last)} (${w.b.changes}x)`);
  }
  for (const [name, s] of [
    [ra, c.a],
    [rb, c.b],
  ] as const) {
    if (s.records === 0) continue;
    lines.push("", `--- run ${name} ---`);
    body(s, lines);
  }
  return lines.join("\n") + "\n";
}
