import type { SummaryData } from "./aggregate.js";
import { definitions, escapeHtml, marksKey, page, runRows, section, shownOf, type PageInfo } from "./page-parts.js";
import { runParams, runStatus } from "./text.js";

export { shownOf, type PageInfo } from "./page-parts.js";

/** What the page covers, in words: its first line. */
function coverage(s: SummaryData, info: PageInfo): string {
  const rows: Array<[string, string]> = [["Log", info.source]];
  if (info.run !== undefined) rows.push(["Run", info.run]);
  if (s.records === 0) rows.push(["Records", "none"]);
  else {
    rows.push(["Records", `${s.records.toLocaleString("en-US")} (seq ${s.firstSeq} to ${s.lastSeq})`]);
    rows.push(["Time range", `${s.firstTime ?? "?"} to ${s.lastTime ?? "?"} (UTC)`]);
  }
  if (info.since || info.until) rows.push(["Asked for", `${info.since ?? "start"} to ${info.until ?? "end"}`]);
  rows.push(["Generated", info.generatedAt]);
  return definitions("coverage", rows);
}

/** The run's lifecycle (one run), or the runs the records name (a whole log). */
function runsPart(s: SummaryData, info: PageInfo): string {
  if (info.run !== undefined) {
    const row = s.runs.find((r) => r.run === info.run);
    return row === undefined ? "" : section("The run", definitions("run-info", runRows(row)), false, "");
  }
  if (s.runsTotal === 0) return "";
  const rows = s.runs
    .map((r) => `<tr><td>${escapeHtml(r.run)}</td><td class="n">${r.records}</td><td class="n">${r.firstSeq}</td><td class="n">${r.lastSeq}</td><td>${escapeHtml(r.firstTime)}</td><td>${escapeHtml(runStatus(r))}</td><td class="params">${escapeHtml(cutText(runParams(r), 160))}</td></tr>`)
    .join("");
  const without = s.recordsWithoutRun > 0 ? `<p class="note">${s.recordsWithoutRun.toLocaleString("en-US")} ${s.recordsWithoutRun === 1 ? "record names" : "records name"} no run.</p>` : "";
  return section(
    "Runs in the log",
    `<p class="shown" id="runs-shown">${escapeHtml(shownOf(s.runs.length, s.runsTotal, "run", "runs", "the first by seq"))}</p>${without}<table id="runs"><tr><th>run</th><th class="n">records</th><th class="n">first seq</th><th class="n">last seq</th><th>first record (UTC)</th><th>status</th><th>params</th></tr>${rows}</table>`,
    false,
    "",
  );
}

const cutText = (text: string, max: number) => (text.length > max ? text.slice(0, max - 1) + "\u2026" : text);
const rate = (x: number | null) => (x === null ? "n/a" : `${(x * 100).toFixed(1)}%`);

/** Each rule's activations and success rate: a bar per rule, the rate so far over the run, and the table. */
function activationsPart(s: SummaryData): string {
  const rows = s.ruleActivations
    .map((r) => `<tr data-rule="${escapeHtml(r.ruleId)}"><td>${escapeHtml(r.ruleId)}</td><td class="n">${r.activations}</td><td class="n">${r.successes}</td><td class="n">${r.failures}</td><td class="n">${r.unknown}</td><td class="n">${rate(r.successRate)}</td></tr>`)
    .join("");
  const height = Math.max(160, 40 + s.ruleActivations.length * 24);
  const body = `<p class="shown" id="activations-shown">${escapeHtml(shownOf(s.ruleActivations.length, s.ruleActivationsTotal, "rule", "rules", "the most activated"))}; the success rate counts the activations whose success was true or false (null: not said)</p>
<canvas id="chart-activations" width="1100" height="${height}"></canvas>
<h3>Success rate so far, over the run (the ${s.ruleSeries.length} most activated rules)</h3>
<canvas id="chart-rule-rates" width="1100" height="300"></canvas>${marksKey(false)}
<table id="rule-activations"><tr><th>rule</th><th class="n">activations</th><th class="n">success</th><th class="n">failure</th><th class="n">not said</th><th class="n">success rate</th></tr>${rows}</table>`;
  return section("Rule activations and success rate", body, s.ruleActivations.length === 0, "rule_activation", "activations");
}

/** Arc regret over time. */
function regretPart(s: SummaryData): string {
  const body = `<p class="shown" id="arcs-shown">${escapeHtml(shownOf(s.arcs.length, s.arcsTotal, "arc", "arcs", "the most reported"))}</p><canvas id="chart-regret" width="1100" height="320"></canvas>${marksKey(false)}`;
  return section("Arc regret over time", body, s.arcs.length === 0, "symbolic_arc_regret", "regret");
}

/** Revision triggers and upgrades: drawn as marks on the charts above, listed here (the first 50). */
function marksPart(s: SummaryData): string {
  const total = s.marksTotal.revision + s.marksTotal.upgrade;
  if (total === 0) return "";
  const listed = s.marks.slice(0, 50);
  const rows = listed.map((m) => `<tr class="${m.kind}"><td class="n">${m.s}</td><td>${new Date(m.t).toISOString()}</td><td>${m.kind === "revision" ? "revision triggered" : "upgrade applied"}</td><td>${escapeHtml(m.label)}</td></tr>`).join("");
  const thinned = s.marks.length < total ? ` (${s.marks.length.toLocaleString("en-US")} of them are drawn, evenly spread)` : "";
  return section(
    "Revision triggers and symbolic upgrades",
    `<p class="shown" id="marks-count">${s.marksTotal.revision} revision triggers, ${s.marksTotal.upgrade} symbolic upgrades${thinned}; the first ${listed.length}:</p><table id="marks"><tr><th class="n">seq</th><th>time (UTC)</th><th>what</th><th>reason or changes</th></tr>${rows}</table>`,
    false,
    "",
    "marks",
  );
}

/**
 * One self-contained HTML page (Chart.js and the data inlined, nothing
 * fetched): what it covers (log, run, seq range, time range), the run's
 * params and status (or the runs a log holds), events over time or by seq
 * by type, weight trajectories of the most changed variables, each rule's
 * activations and success rate, arc regret, revision triggers and upgrades
 * as marks on the timelines, trust per key with its confidence band (the
 * tracker's own updates replayed, and trust clients reported), and the
 * rules ranked by effectiveness.
 */
export function summaryHtml(s: SummaryData, info: PageInfo): string {
  const counts = Object.entries(s.countsByType)
    .map(([t, c]) => `<tr><td>${escapeHtml(t)}</td><td class="n">${c}</td></tr>`)
    .join("");
  const trustCanvases = s.trust.map((_, i) => `<canvas id="chart-trust-${i}" width="560" height="260"></canvas>`).join("");
  const rulesHeight = Math.max(160, 40 + s.rules.length * 36);
  const variablesShown = `<p class="shown" id="variables-shown">${escapeHtml(shownOf(s.variables.length, s.variablesTotal, "variable", "variables", "the most changed"))}</p>`;
  const loads = s.trustStateLoads.length
    ? `<p class="note">The tracker loaded saved state at seq ${s.trustStateLoads.slice(0, 5).join(", ")}${s.trustStateLoads.length > 5 ? ", ..." : ""}: the counts it loaded are not in the log, so the tracker's curves count only the updates logged here.</p>`
    : "";
  const trustShown = `<p class="shown" id="trust-shown">${escapeHtml(shownOf(s.trust.length, s.trustTotal, "key", "keys", "the most updated"))}</p>${loads}`;
  const toggle = `<fieldset id="x-mode"><legend>x axis</legend><label><input type="radio" name="xmode" value="time"> time</label><label><input type="radio" name="xmode" value="seq"> record seq</label></fieldset>`;
  const rulesChart =
    s.rules.length === 0 && s.ruleActivations.length > 0
      ? `<p class="empty">No rule_effectiveness records in this range; the rule activations above are what the log holds of its rules.</p>`
      : `<canvas id="chart-rules" width="1100" height="${rulesHeight}"></canvas>`;
  const body = `<h1>Pulse learning log summary${info.run === undefined ? "" : `: run ${escapeHtml(info.run)}`}</h1>
${coverage(s, info)}
${runsPart(s, info)}
${s.records ? toggle : ""}
${section("Events by type, over time or by record seq", `<canvas id="chart-timeline" width="1100" height="320"></canvas><table>${counts}</table>`, s.records === 0, "")}
${section("Weight trajectories of the most changed variables", `${variablesShown}<canvas id="chart-weights" width="1100" height="340"></canvas>${s.marks.length ? marksKey(false) : ""}`, s.variables.length === 0, "variable_weight_update")}
${activationsPart(s)}
${regretPart(s)}
${marksPart(s)}
${section("Trust per key, with its confidence interval", `${trustShown}<div class="grid">${trustCanvases}</div>`, s.trust.length === 0, "trust_updated or bayesian_trust_metrics")}
${section("Rules ranked by effectiveness", rulesChart, s.rules.length === 0 && s.ruleActivations.length === 0, "rule_effectiveness")}`;
  return page(info.run === undefined ? "Pulse learning log summary" : `Pulse learning log summary: run ${info.run}`, body, "summary", s);
}
