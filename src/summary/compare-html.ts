import type { SummaryData } from "./aggregate.js";
import type { NameDiff, RunComparison } from "./compare.js";
import { definitions, escapeHtml, marksKey, page, runRows, section, type PageInfo } from "./page-parts.js";

const rate = (x: { activations: number; successRate: number | null } | null) => (x === null ? "-" : `${x.successRate === null ? "n/a" : `${(x.successRate * 100).toFixed(1)}%`} of ${x.activations}`);
const fmt = (x: number) => String(Number(x.toFixed(4)));

/** One run's scope and lifecycle. */
function runPart(run: string, s: SummaryData, n: number): string {
  const rows: Array<[string, string]> = [];
  const row = s.runs.find((r) => r.run === run);
  if (row !== undefined) rows.push(...runRows(row));
  else rows.push(["Run", run]);
  if (s.records === 0) rows.push(["Records", "none"]);
  else {
    rows.push(["Records", `${s.records.toLocaleString("en-US")} (seq ${s.firstSeq} to ${s.lastSeq})`]);
    rows.push(["Time range", `${s.firstTime ?? "?"} to ${s.lastTime ?? "?"} (UTC)`]);
  }
  return `<div>${definitions(`run-${n}`, rows)}</div>`;
}

/** The "only in one run" items of a kind of name, both ways. */
function differences(kind: string, noun: string, d: NameDiff, runs: [string, string]): string {
  const item = (side: "a" | "b", names: string[], total: number) => {
    const run = side === "a" ? runs[0] : runs[1];
    const list = total === 0 ? "none" : names.map(escapeHtml).join(", ") + (total > names.length ? `, and ${total - names.length} more` : "");
    return `<li data-kind="${kind}" data-only="${side}">${escapeHtml(noun)} only in ${escapeHtml(run)} (${total}): ${list}</li>`;
  };
  return item("a", d.onlyA, d.onlyATotal) + item("b", d.onlyB, d.onlyBTotal);
}

/**
 * The comparison of two runs as one self-contained page: each run's scope,
 * status and params; what differs (event types, variables and rules one run
 * has and the other has not, counts and rule success rates side by side,
 * last weights); and the runs overlaid (weights, trust, rule success rate
 * so far, arc regret, revision and upgrade marks), with the x axis the event
 * index within each run or the time since each run's start.
 */
export function comparisonHtml(c: RunComparison, info: PageInfo): string {
  const [ra, rb] = c.runs;
  const d = c.diff;
  const head = (cells: string[]) => `<tr>${cells.map((x, i) => `<th${i > 0 ? ' class="n"' : ""}>${escapeHtml(x)}</th>`).join("")}</tr>`;
  const countRows = d.counts.map((r) => `<tr data-type="${escapeHtml(r.type)}"><td>${escapeHtml(r.type)}</td><td class="n">${r.a}</td><td class="n">${r.b}</td></tr>`).join("");
  const ruleRows = d.ruleActivations.map((r) => `<tr data-rule="${escapeHtml(r.ruleId)}"><td>${escapeHtml(r.ruleId)}</td><td class="n">${rate(r.a)}</td><td class="n">${rate(r.b)}</td></tr>`).join("");
  const weightRows = d.weights
    .map((w) => `<tr data-variable="${escapeHtml(w.variable)}"><td>${escapeHtml(w.variable)}</td><td class="n">${fmt(w.a.last)} (${w.a.changes}x)</td><td class="n">${fmt(w.b.last)} (${w.b.changes}x)</td></tr>`)
    .join("");
  const trustKeys: string[] = [];
  for (const s of [c.a, c.b]) for (const k of s.trust) if (!trustKeys.includes(`${k.key}\0${k.source}`)) trustKeys.push(`${k.key}\0${k.source}`);
  const trustCanvases = trustKeys.map((_, i) => `<canvas id="chart-cmp-trust-${i}" width="560" height="260"></canvas>`).join("");
  const marks = c.a.marks.length + c.b.marks.length > 0 ? marksKey(true) : "";
  const dashed = `<p class="note">Each name has one colour; ${escapeHtml(ra)} is drawn solid, ${escapeHtml(rb)} dashed.</p>`;
  const records = c.a.records + c.b.records;
  const toggle = `<fieldset id="x-mode"><legend>x axis</legend><label><input type="radio" name="xmode" value="index"> event index within the run</label><label><input type="radio" name="xmode" value="elapsed"> time since the run's start</label></fieldset>`;
  const activationsHeight = Math.max(160, 40 + d.ruleActivations.length * 32);
  const body = `<h1>Pulse learning log: run ${escapeHtml(ra)} compared with run ${escapeHtml(rb)}</h1>
${definitions("coverage", [["Log", info.source], ...(info.since || info.until ? [["Asked for", `${info.since ?? "start"} to ${info.until ?? "end"}`] as [string, string]] : []), ["Generated", info.generatedAt]])}
<div class="runs">${runPart(ra, c.a, 0)}${runPart(rb, c.b, 1)}</div>
<section id="diff"><h2>What differs</h2>
<ul id="differences">${differences("event-types", "Event types", d.eventTypes, c.runs)}${differences("variables", "Variables", d.variables, c.runs)}${differences("rules", "Rules", d.rules, c.runs)}</ul>
<h3>Records by event type</h3>
<table id="counts">${head(["event type", ra, rb])}${countRows}</table>
${d.ruleActivations.length ? `<h3>Rule success rate (of the activations that said success or failure) and activations${d.ruleActivations.length < d.ruleActivationsTotal ? `: ${d.ruleActivations.length} of ${d.ruleActivationsTotal} rules, the most activated` : ""}</h3><table id="rule-rates">${head(["rule", ra, rb])}${ruleRows}</table>` : ""}
${d.weights.length ? `<h3>Last weight of variables both runs changed${d.weights.length < d.weightsTotal ? `: ${d.weights.length} of ${d.weightsTotal}, the farthest apart` : ""}</h3><table id="weights">${head(["variable", ra, rb])}${weightRows}</table>` : ""}
</section>
${records ? toggle : ""}
${section("Weight trajectories", `${dashed}<canvas id="chart-cmp-weights" width="1100" height="340"></canvas>${marks}`, c.a.variables.length + c.b.variables.length === 0, "variable_weight_update")}
${section("Rule success rate", `<canvas id="chart-cmp-activations" width="1100" height="${activationsHeight}"></canvas><h3>Success rate so far, over each run</h3>${dashed}<canvas id="chart-cmp-rule-rates" width="1100" height="300"></canvas>${marks}`, d.ruleActivations.length === 0, "rule_activation")}
${section("Arc regret", `${dashed}<canvas id="chart-cmp-regret" width="1100" height="320"></canvas>${marks}`, c.a.arcs.length + c.b.arcs.length === 0, "symbolic_arc_regret")}
${section("Trust per key", `<p class="note">${escapeHtml(ra)} in the first colour (solid), ${escapeHtml(rb)} in the second (dashed).</p><div class="grid">${trustCanvases}</div>`, trustKeys.length === 0, "trust_updated or bayesian_trust_metrics")}`;
  return page(`Pulse learning log: run ${ra} compared with run ${rb}`, body, "compare", c);
}
