import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { SummaryData } from "./aggregate.js";

let chartJs: string | undefined;

/** Chart.js's minified UMD build, read once from the installed package (its dist folder is not an export, so it is found beside the main entry). */
function chartLibrary(): string {
  if (chartJs === undefined) {
    const main = createRequire(import.meta.url).resolve("chart.js");
    chartJs = readFileSync(join(dirname(main), "chart.umd.min.js"), "utf8");
  }
  return chartJs;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON safe inside a <script> element: no "</script" or "<!--" can appear. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

/** What the page says about where its data came from. */
export interface PageInfo {
  /** E.g. the log path. */
  source: string;
  /** The time range asked for, if any. */
  since?: string;
  until?: string;
  /** When the page was made (ISO). */
  generatedAt: string;
}

// The page's script: draws every chart from the embedded data with Chart.js
// (animations off, so drawing is done when the script ends), and lists what it
// drew in window.__summary for tests and for people poking in the console.
const PAGE_SCRIPT = String.raw`
(function () {
  const data = JSON.parse(document.getElementById("summary-data").textContent);
  const palette = ["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac"];
  const color = (i, alpha) => { const c = palette[i % palette.length]; if (alpha === undefined) return c; const n = parseInt(c.slice(1), 16); return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")"; };
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  // Every time chart spans the same range: the timeline's buckets.
  const starts = data.timeline.starts;
  const timeAxis = { type: "linear", min: starts[0], max: starts.length ? starts[starts.length - 1] + data.timeline.bucketMs : undefined, ticks: { callback: (v) => iso(v).slice(5, 16).replace("T", " "), maxRotation: 0, autoSkipPadding: 20 } };
  Chart.defaults.animation = false;
  Chart.defaults.responsive = false;
  Chart.defaults.plugins.tooltip.callbacks.title = (items) => items.length && typeof items[0].parsed.x === "number" && items[0].chart.options.scales.x.type === "linear" ? iso(items[0].parsed.x) : undefined;
  const drawn = [];
  const make = (id, config) => {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    const chart = new Chart(canvas, config);
    drawn.push({ id: id, type: config.type, series: chart.data.datasets.map((d) => ({ label: d.label, points: d.data.length })) });
  };

  const types = Object.keys(data.timeline.counts);
  make("chart-timeline", {
    type: "bar",
    data: { labels: data.timeline.starts.map(iso), datasets: types.map((t, i) => ({ label: t, data: data.timeline.counts[t], backgroundColor: color(i) })) },
    options: { scales: { x: { stacked: true, ticks: { callback: function (v) { return this.getLabelForValue(v).slice(5, 16).replace("T", " "); }, maxRotation: 0, autoSkipPadding: 20 } }, y: { stacked: true, title: { display: true, text: "events per " + Math.round(data.timeline.bucketMs / 60000) + " min" } } } },
  });

  make("chart-weights", {
    type: "line",
    data: { datasets: data.variables.map((v, i) => ({ label: v.variable, data: v.points.map((p) => ({ x: p.t, y: p.y })), borderColor: color(i), backgroundColor: color(i), pointRadius: v.points.length > 200 ? 0 : 2, stepped: true })) },
    options: { parsing: false, scales: { x: timeAxis, y: { title: { display: true, text: "weight" } } } },
  });

  data.trust.forEach((k, i) => {
    const pts = (f) => k.points.map((p) => ({ x: p.t, y: p[f] }));
    make("chart-trust-" + i, {
      type: "line",
      data: { datasets: [
        { label: "lower bound", data: pts("lo"), borderColor: "transparent", pointRadius: 0, fill: false },
        { label: "confidence interval", data: pts("hi"), borderColor: "transparent", backgroundColor: color(i, 0.25), pointRadius: 0, fill: "-1" },
        { label: "trust", data: pts("trust"), borderColor: color(i), backgroundColor: color(i), pointRadius: k.points.length > 200 ? 0 : 2 },
      ] },
      options: { parsing: false, plugins: { title: { display: true, text: k.key + " (" + k.samples + " measurements)" }, legend: { labels: { filter: (item) => item.text !== "lower bound" } } }, scales: { x: timeAxis, y: { min: 0, max: 1, title: { display: true, text: "trust" } } } },
    });
  });

  make("chart-rules", {
    type: "bar",
    data: { labels: data.rules.map((r) => r.ruleId), datasets: [
      { label: "effectiveness (success rate x impact)", data: data.rules.map((r) => r.effectiveness), backgroundColor: color(0) },
      { label: "success rate", data: data.rules.map((r) => r.successRate), backgroundColor: color(1) },
      { label: "impact score", data: data.rules.map((r) => r.impactScore), backgroundColor: color(2) },
    ] },
    options: { indexAxis: "y" },
  });
  window.__summary = { charts: drawn, ready: true };
})();
`;

function section(title: string, body: string, empty: boolean, what: string): string {
  return `<section><h2>${escapeHtml(title)}</h2>${empty ? `<p class="empty">No ${escapeHtml(what)} records in this range.</p>` : body}</section>`;
}

/**
 * One self-contained HTML page (Chart.js and the data inlined, nothing
 * fetched): events over time by type, weight trajectories of the most changed
 * variables, trust per key with its confidence band, and the rules ranked by
 * effectiveness.
 */
export function summaryHtml(s: SummaryData, info: PageInfo): string {
  const range = info.since || info.until ? ` &middot; range ${escapeHtml(info.since ?? "start")} .. ${escapeHtml(info.until ?? "end")}` : "";
  const counts = Object.entries(s.countsByType)
    .map(([t, c]) => `<tr><td>${escapeHtml(t)}</td><td class="n">${c}</td></tr>`)
    .join("");
  const trustCanvases = s.trust.map((_, i) => `<canvas id="chart-trust-${i}" width="560" height="260"></canvas>`).join("");
  const rulesHeight = Math.max(160, 40 + s.rules.length * 36);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Pulse learning log summary</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#666}section{margin-bottom:16px}canvas{max-width:100%;border:1px solid #eee;margin:4px}
table{border-collapse:collapse}td{padding:2px 12px 2px 0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#888;font-style:italic}.grid{display:flex;flex-wrap:wrap}
</style></head><body>
<h1>Pulse learning log summary</h1>
<p class="meta">${escapeHtml(info.source)} &middot; ${s.records} records${s.records ? `, seq ${s.firstSeq}..${s.lastSeq}, ${escapeHtml(s.firstTime ?? "")} .. ${escapeHtml(s.lastTime ?? "")}` : ""}${range} &middot; generated ${escapeHtml(info.generatedAt)}</p>
${section("Events over time, by type", `<canvas id="chart-timeline" width="1100" height="320"></canvas><table>${counts}</table>`, s.records === 0, "")}
${section("Weight trajectories of the most changed variables", `<canvas id="chart-weights" width="1100" height="340"></canvas>`, s.variables.length === 0, "variable_weight_update")}
${section("Trust per key, with its confidence interval", `<div class="grid">${trustCanvases}</div>`, s.trust.length === 0, "bayesian_trust_metrics")}
${section("Rules ranked by effectiveness", `<canvas id="chart-rules" width="1100" height="${rulesHeight}"></canvas>`, s.rules.length === 0, "rule_effectiveness")}
<script id="summary-data" type="application/json">${scriptJson(s)}</script>
<script>${chartLibrary().replace(/<\/script/gi, "<\\/script")}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
