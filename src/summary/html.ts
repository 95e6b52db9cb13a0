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
// drew (series, axis titles, tick labels) in window.__summary for tests and for
// people poking in the console. The x-axis toggle redraws every chart by time
// or by record seq: a burst that is a sliver of the time axis spans its share
// of the records by seq.
const PAGE_SCRIPT = String.raw`
(function () {
  const data = JSON.parse(document.getElementById("summary-data").textContent);
  // Ten distinct colours, then hues a golden angle apart: no colour repeats however many series.
  const palette = ["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac"];
  const OTHER = "#9e9e9e";
  const color = (i, alpha) => {
    const a = alpha === undefined ? 1 : alpha;
    if (i < palette.length) { const n = parseInt(palette[i].slice(1), 16); return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")"; }
    const j = i - palette.length;
    return "hsla(" + ((j * 137.508 + 15) % 360).toFixed(1) + "," + (j % 2 ? 55 : 75) + "%," + (j % 3 === 0 ? 38 : j % 3 === 1 ? 52 : 64) + "%," + a + ")";
  };
  const TYPES_MAX = 20;
  const iso = (ms) => new Date(ms).toISOString();
  const SEC = 1000, MIN = 60 * SEC, HOUR = 60 * MIN, DAY = 24 * HOUR;
  const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, SEC, 2 * SEC, 5 * SEC, 10 * SEC, 15 * SEC, 30 * SEC, MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY];
  // A time label as precise as the step between ticks needs, and no more: ticks a step apart never read the same.
  const timeLabel = (ms, step) => {
    const s = iso(ms);
    if (step >= DAY) return s.slice(0, 10);
    if (step >= MIN) return s.slice(5, 16).replace("T", " ");
    if (step >= SEC) return s.slice(11, 19);
    return s.slice(11, 23);
  };
  const noRepeats = (label, index, ticks, format) => index > 0 && format(ticks[index - 1].value) === label ? "" : label;
  const first = data.timeline.starts[0];
  const last = data.timeline.starts.length ? data.timeline.starts[data.timeline.starts.length - 1] + data.timeline.bucketMs : undefined;
  // Ticks on round UTC times (Chart.js's own steps are round decimals of milliseconds), as many as
  // fit the axis at about 120 px each, labelled as precisely as their step needs.
  const timeAxis = () => ({
    type: "linear",
    min: first,
    max: last,
    title: { display: true, text: "time (UTC)" },
    afterBuildTicks: (scale) => {
      const fit = Math.max(2, Math.floor(scale.width / 120));
      const step = STEPS.find((st) => (scale.max - scale.min) / st <= fit) || STEPS[STEPS.length - 1];
      const ticks = [];
      for (let v = Math.ceil(scale.min / step) * step; v <= scale.max; v += step) ticks.push({ value: v });
      scale.ticks = ticks;
    },
    ticks: {
      maxRotation: 0,
      autoSkipPadding: 20,
      callback: (v, i, ticks) => {
        const fmt = (x) => timeLabel(x, ticks.length > 1 ? ticks[1].value - ticks[0].value : DAY);
        return noRepeats(fmt(v), i, ticks, fmt);
      },
    },
  });
  const seqAxis = () => ({ type: "linear", min: data.firstSeq, max: data.lastSeq, title: { display: true, text: "record seq (position in the log)" }, ticks: { precision: 0, maxRotation: 0, autoSkipPadding: 20, callback: (v, i, ticks) => noRepeats(String(v), i, ticks, String) } });
  Chart.defaults.animation = false;
  Chart.defaults.responsive = false;

  // The timeline's series: the TYPES_MAX - 1 most frequent types, the rest summed as one "other" series the legend names.
  const allTypes = Object.keys(data.countsByType);
  const shownTypes = allTypes.length > TYPES_MAX ? allTypes.slice(0, TYPES_MAX - 1) : allTypes;
  const otherTypes = allTypes.slice(shownTypes.length);
  const timelineSeries = (counts, n) => {
    const series = shownTypes.map((t, i) => ({ label: t, data: counts[t], backgroundColor: color(i) }));
    if (otherTypes.length) {
      const sum = new Array(n).fill(0);
      for (const t of otherTypes) counts[t].forEach((c, i) => { sum[i] += c; });
      series.push({ label: "other (" + otherTypes.length + " less frequent types)", data: sum, backgroundColor: OTHER });
    }
    return series;
  };
  const plural = (n, one, many) => n + " " + (n === 1 ? one : many);

  // The confidence band: the area between the upper (dataset 1) and lower (dataset 0) bounds, painted
  // as one polygon under the lines. Chart.js's own fill between datasets drew a wedge across the
  // whole chart for one series drawn by time (seen at 100,000 records); a polygon of the points cannot.
  const band = {
    id: "band",
    beforeDatasetsDraw(chart) {
      const ds = chart.data.datasets;
      if (!ds[1] || !ds[1].band || !ds[1].data.length) return;
      const xs = chart.scales.x, ys = chart.scales.y, ctx = chart.ctx, area = chart.chartArea;
      const hi = ds[1].data, lo = ds[0].data, stepped = ds[1].stepped;
      const px = (p) => xs.getPixelForValue(p.x), py = (p) => ys.getPixelForValue(p.y);
      ctx.save();
      ctx.beginPath();
      ctx.rect(area.left, area.top, area.right - area.left, area.bottom - area.top);
      ctx.clip();
      ctx.beginPath();
      ctx.moveTo(px(hi[0]), py(hi[0]));
      for (let j = 1; j < hi.length; j++) {
        if (stepped) ctx.lineTo(px(hi[j]), py(hi[j - 1]));
        ctx.lineTo(px(hi[j]), py(hi[j]));
      }
      ctx.lineTo(px(lo[lo.length - 1]), py(lo[lo.length - 1]));
      for (let j = lo.length - 1; j > 0; j--) {
        if (stepped) ctx.lineTo(px(lo[j]), py(lo[j - 1]));
        ctx.lineTo(px(lo[j - 1]), py(lo[j - 1]));
      }
      ctx.closePath();
      ctx.fillStyle = ds[1].backgroundColor;
      ctx.fill();
      ctx.restore();
    },
  };

  let charts = [];
  const draw = (mode) => {
    for (const c of charts) c.chart.destroy();
    charts = [];
    const make = (id, config) => {
      const canvas = document.getElementById(id);
      if (canvas) charts.push({ id: id, type: config.type, chart: new Chart(canvas, config) });
    };
    const byTime = mode === "time";
    const x = byTime ? timeAxis : seqAxis;
    const xOf = (p) => (byTime ? p.t : p.s);

    if (byTime) {
      const tl = data.timeline;
      const min = Math.round(tl.bucketMs / MIN);
      const span = tl.starts.length ? tl.starts[tl.starts.length - 1] - tl.starts[0] : 0;
      const label = (ms) => (span >= 300 * DAY ? iso(ms).slice(0, 16) : iso(ms).slice(5, 16)).replace("T", " ");
      make("chart-timeline", {
        type: "bar",
        data: { labels: tl.starts.map(label), datasets: timelineSeries(tl.counts, tl.starts.length) },
        options: { scales: { x: { stacked: true, title: { display: true, text: "time (UTC), start of each " + plural(min, "minute", "minutes") + " bar" }, ticks: { maxRotation: 0, autoSkipPadding: 20 } }, y: { stacked: true, ticks: { precision: 0 }, title: { display: true, text: "events per " + plural(min, "minute", "minutes") } } } },
      });
    } else {
      const st = data.seqTimeline;
      make("chart-timeline", {
        type: "bar",
        data: { labels: st.starts.map(String), datasets: timelineSeries(st.counts, st.starts.length) },
        options: { scales: { x: { stacked: true, title: { display: true, text: "record seq, first of each bar of " + plural(st.bucketSize, "record", "records") }, ticks: { maxRotation: 0, autoSkipPadding: 20 } }, y: { stacked: true, ticks: { precision: 0 }, title: { display: true, text: "events per " + plural(st.bucketSize, "record", "records") + " (by type)" } } } },
      });
    }

    make("chart-weights", {
      type: "line",
      data: { datasets: data.variables.map((v, i) => ({ label: v.variable, data: v.points.map((p) => ({ x: xOf(p), y: p.y })), borderColor: color(i), backgroundColor: color(i), pointRadius: v.points.length > 200 ? 0 : 2, stepped: true })) },
      options: { parsing: false, scales: { x: x(), y: { title: { display: true, text: "weight (data.to, unitless)" } } } },
    });

    data.trust.forEach((k, i) => {
      const pts = (f) => k.points.map((p) => ({ x: xOf(p), y: p[f] }));
      // The tracker's trust is a step function of its updates: its band steps with it.
      const stepped = k.source === "trust_updated";
      const what = k.source === "trust_updated" ? plural(k.samples, "update", "updates") + ", tracker" : plural(k.samples, "measurement", "measurements") + ", reported";
      make("chart-trust-" + i, {
        type: "line",
        data: { datasets: [
          { label: "lower bound", data: pts("lo"), borderColor: "transparent", pointRadius: 0, fill: false, stepped: stepped },
          { label: "95% confidence interval", data: pts("hi"), borderColor: "transparent", backgroundColor: color(i, 0.25), pointRadius: 0, fill: false, stepped: stepped, band: true },
          { label: "trust", data: pts("trust"), borderColor: color(i), backgroundColor: color(i), pointRadius: k.points.length > 200 ? 0 : 2, stepped: stepped },
        ] },
        plugins: [band],
        options: { parsing: false, plugins: { title: { display: true, text: k.key + " (" + what + ")" }, legend: { labels: { filter: (item) => item.text !== "lower bound" } } }, scales: { x: x(), y: { min: 0, max: 1, title: { display: true, text: "trust (probability, 0 to 1)" } } } },
      });
    });

    make("chart-rules", {
      type: "bar",
      data: { labels: data.rules.map((r) => r.ruleId), datasets: [
        { label: "effectiveness (success rate x impact)", data: data.rules.map((r) => r.effectiveness), backgroundColor: color(0) },
        { label: "success rate", data: data.rules.map((r) => r.successRate), backgroundColor: color(1) },
        { label: "impact score", data: data.rules.map((r) => r.impactScore), backgroundColor: color(2) },
      ] },
      options: { indexAxis: "y", scales: { x: { title: { display: true, text: "score (success rate: fraction 0 to 1; impact as logged; effectiveness: their product)" } }, y: { title: { display: true, text: "rule id" } } } },
    });

    const ticksOf = (scale) => scale.ticks.map((t) => (Array.isArray(t.label) ? t.label.join(" ") : String(t.label === undefined ? "" : t.label)));
    const axes = (c) => Object.fromEntries(Object.entries(c.chart.scales).map(([id, s]) => [id, { title: s.options.title && s.options.title.display ? s.options.title.text : "", ticks: ticksOf(s) }]));
    window.__summary = {
      ready: true,
      mode: mode,
      charts: charts.map((c) => ({ id: c.id, type: c.type, title: c.chart.options.plugins.title && c.chart.options.plugins.title.display ? c.chart.options.plugins.title.text : "", series: c.chart.data.datasets.map((d) => ({ label: d.label, points: d.data.length, color: d.backgroundColor })), axes: axes(c) })),
    };
  };

  // By seq first when one time bar would hold most of the records: the burst is what the reader came to see.
  const tl = data.timeline;
  const biggest = tl.starts.reduce((m, _, i) => Math.max(m, Object.values(tl.counts).reduce((s, c) => s + c[i], 0)), 0);
  const initial = data.records > 0 && biggest * 2 > data.records && data.seqTimeline.starts.length > 1 ? "seq" : "time";
  for (const input of document.querySelectorAll("input[name=xmode]")) {
    input.checked = input.value === initial;
    input.addEventListener("change", () => { if (input.checked) draw(input.value); });
  }
  draw(initial);
})();
`;

function section(title: string, body: string, empty: boolean, what: string): string {
  return `<section><h2>${escapeHtml(title)}</h2>${empty ? `<p class="empty">No ${escapeHtml(what)} records in this range.</p>` : body}</section>`;
}

/** "6 of 15 keys shown, the most updated", or "3 of 3 keys shown" when none is left out. */
export function shownOf(shown: number, total: number, noun: string, nouns: string, criterion: string): string {
  return `${shown} of ${total} ${total === 1 ? noun : nouns} shown${shown < total ? `, ${criterion}` : ""}`;
}

/** What the page covers, in words: its first line. */
function coverage(s: SummaryData, info: PageInfo): string {
  const rows: Array<[string, string]> = [["Log", info.source]];
  if (s.records === 0) rows.push(["Records", "none"]);
  else {
    rows.push(["Records", `${s.records.toLocaleString("en-US")} (seq ${s.firstSeq} to ${s.lastSeq})`]);
    rows.push(["Time range", `${s.firstTime ?? "?"} to ${s.lastTime ?? "?"} (UTC)`]);
  }
  if (info.since || info.until) rows.push(["Asked for", `${info.since ?? "start"} to ${info.until ?? "end"}`]);
  rows.push(["Generated", info.generatedAt]);
  return `<dl class="meta" id="coverage">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>`;
}

/**
 * One self-contained HTML page (Chart.js and the data inlined, nothing
 * fetched): what it covers (log, seq range, time range), events over time
 * or by seq by type, weight trajectories of the most changed variables,
 * trust per key with its confidence band (the tracker's own updates
 * replayed, and trust clients reported), and the rules ranked by
 * effectiveness.
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
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Pulse learning log summary</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#444;display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}.meta dt{font-weight:600}.meta dd{margin:0}
section{margin-bottom:16px}canvas{max-width:100%;border:1px solid #eee;margin:4px}
table{border-collapse:collapse}td{padding:2px 12px 2px 0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#888;font-style:italic}.grid{display:flex;flex-wrap:wrap}.shown,.note{color:#555;margin:4px 0}
fieldset{display:inline-block;border:1px solid #ddd;padding:4px 10px}fieldset label{margin-right:12px}
</style></head><body>
<h1>Pulse learning log summary</h1>
${coverage(s, info)}
${s.records ? toggle : ""}
${section("Events by type, over time or by record seq", `<canvas id="chart-timeline" width="1100" height="320"></canvas><table>${counts}</table>`, s.records === 0, "")}
${section("Weight trajectories of the most changed variables", `${variablesShown}<canvas id="chart-weights" width="1100" height="340"></canvas>`, s.variables.length === 0, "variable_weight_update")}
${section("Trust per key, with its confidence interval", `${trustShown}<div class="grid">${trustCanvases}</div>`, s.trust.length === 0, "trust_updated or bayesian_trust_metrics")}
${section("Rules ranked by effectiveness", `<canvas id="chart-rules" width="1100" height="${rulesHeight}"></canvas>`, s.rules.length === 0, "rule_effectiveness")}
<script id="summary-data" type="application/json">${scriptJson(s)}</script>
<script>${chartLibrary().replace(/<\/script/gi, "<\\/script")}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
