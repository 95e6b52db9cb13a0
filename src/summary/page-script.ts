/**
 * The summary page's script (browser code, inlined into the page as text).
 * It draws every chart from the embedded data with Chart.js (animations off,
 * so drawing is done when the script ends), and lists what it drew (series,
 * axis titles, tick labels, marks) in window.__summary for tests and for
 * people poking in the console.
 *
 * Two views, named by the data element's data-view attribute:
 * - "summary": one log or one run. The x-axis toggle redraws every chart by
 *   time or by record seq: a burst that is a sliver of the time axis spans
 *   its share of the records by seq.
 * - "compare": two runs overlaid. The x axis is the event index within each
 *   run, or the time since each run's start, so runs made at different times
 *   and places in the log line up.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  const element = document.getElementById("summary-data");
  const data = JSON.parse(element.textContent);
  const view = element.getAttribute("data-view");
  // Ten distinct colours, then hues a golden angle apart: no colour repeats however many series.
  const palette = ["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac"];
  const OTHER = "#9e9e9e";
  const color = (i, alpha) => {
    const a = alpha === undefined ? 1 : alpha;
    if (i < palette.length) { const n = parseInt(palette[i].slice(1), 16); return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")"; }
    const j = i - palette.length;
    return "hsla(" + ((j * 137.508 + 15) % 360).toFixed(1) + "," + (j % 2 ? 55 : 75) + "%," + (j % 3 === 0 ? 38 : j % 3 === 1 ? 52 : 64) + "%," + a + ")";
  };
  const MARK_COLORS = { revision: "#d62728", upgrade: "#2ca02c" };
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
  // A duration since a run's start, as precise as the step between ticks needs: "1d 02:00", "1:05:00", "12:30", "4.25 s".
  const pad = (n) => String(n).padStart(2, "0");
  const durationLabel = (ms, step) => {
    const neg = ms < 0 ? "-" : "";
    const a = Math.abs(ms);
    if (step < SEC && a < MIN) return neg + (a / SEC).toFixed(step < 10 ? 3 : step < 100 ? 2 : 1) + " s";
    const d = Math.floor(a / DAY), h = Math.floor((a % DAY) / HOUR), m = Math.floor((a % HOUR) / MIN), s = Math.floor((a % MIN) / SEC);
    if (d > 0) return neg + d + "d " + pad(h) + ":" + pad(m);
    if (h > 0) return neg + h + ":" + pad(m) + ":" + pad(s);
    return neg + m + ":" + pad(s);
  };
  const noRepeats = (label, index, ticks, format) => index > 0 && format(ticks[index - 1].value) === label ? "" : label;
  // Ticks on round steps of time (Chart.js's own steps are round decimals of milliseconds), as many as
  // fit the axis at about 120 px each, labelled as precisely as their step needs.
  const roundTimeAxis = (min, max, title, label) => ({
    type: "linear",
    min: min,
    max: max,
    title: { display: true, text: title },
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
        const fmt = (x) => label(x, ticks.length > 1 ? ticks[1].value - ticks[0].value : DAY);
        return noRepeats(fmt(v), i, ticks, fmt);
      },
    },
  });
  const countAxis = (min, max, title) => ({ type: "linear", min: min, max: max, title: { display: true, text: title }, ticks: { precision: 0, maxRotation: 0, autoSkipPadding: 20, callback: (v, i, ticks) => noRepeats(String(v), i, ticks, String) } });
  const plural = (n, one, many) => n + " " + (n === 1 ? one : many);
  Chart.defaults.animation = false;
  Chart.defaults.responsive = false;

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

  // Revision triggers and upgrades: a full-height vertical line at each mark's x, counted as drawn
  // (only those inside the chart area) for window.__summary.
  const marksById = {};
  const marks = {
    id: "marks",
    afterDatasetsDraw(chart) {
      const items = marksById[chart.canvas.id] || [];
      const xs = chart.scales.x, ctx = chart.ctx, area = chart.chartArea;
      const drawn = { revision: 0, upgrade: 0 };
      ctx.save();
      ctx.lineWidth = 1;
      for (const m of items) {
        const px = xs.getPixelForValue(m.x);
        if (!(px >= area.left && px <= area.right)) continue;
        ctx.strokeStyle = MARK_COLORS[m.kind];
        ctx.globalAlpha = 0.6;
        ctx.setLineDash(m.dashed ? [4, 3] : []);
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        drawn[m.kind]++;
      }
      ctx.restore();
      chart.$marksDrawn = drawn;
    },
  };

  let charts = [];
  const make = (id, config, markItems) => {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    marksById[id] = markItems || [];
    if (markItems) config.plugins = (config.plugins || []).concat([marks]);
    charts.push({ id: id, type: config.type, chart: new Chart(canvas, config) });
  };
  const clear = () => {
    for (const c of charts) c.chart.destroy();
    charts = [];
  };
  const report = (mode) => {
    const ticksOf = (scale) => scale.ticks.map((t) => (Array.isArray(t.label) ? t.label.join(" ") : String(t.label === undefined ? "" : t.label)));
    const axes = (c) => Object.fromEntries(Object.entries(c.chart.scales).map(([id, s]) => [id, { title: s.options.title && s.options.title.display ? s.options.title.text : "", ticks: ticksOf(s) }]));
    window.__summary = {
      ready: true,
      view: view,
      mode: mode,
      charts: charts.map((c) => ({
        id: c.id,
        type: c.type,
        title: c.chart.options.plugins.title && c.chart.options.plugins.title.display ? c.chart.options.plugins.title.text : "",
        series: c.chart.data.datasets.map((d) => ({ label: d.label, points: d.data.filter((p) => p !== null && p !== undefined).length, color: d.backgroundColor, values: c.type === "bar" ? d.data : undefined })),
        labels: c.chart.data.labels || [],
        axes: axes(c),
        marks: c.chart.$marksDrawn || null,
      })),
    };
  };
  const lineOptions = (x, yTitle, extra) => Object.assign({ parsing: false, scales: { x: x, y: { title: { display: true, text: yTitle } } } }, extra || {});
  const rateAxis = (title) => ({ min: 0, max: 1, title: { display: true, text: title } });

  // ---- One log or one run ----
  const summaryView = () => {
    const first = data.timeline.starts[0];
    const last = data.timeline.starts.length ? data.timeline.starts[data.timeline.starts.length - 1] + data.timeline.bucketMs : undefined;
    const timeAxis = () => roundTimeAxis(first, last, "time (UTC)", timeLabel);
    const seqAxis = () => countAxis(data.firstSeq, data.lastSeq, "record seq (position in the log)");

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

    const draw = (mode) => {
      clear();
      const byTime = mode === "time";
      const x = byTime ? timeAxis : seqAxis;
      const xOf = (p) => (byTime ? p.t : p.s);
      const markItems = data.marks.map((m) => ({ x: xOf(m), kind: m.kind }));

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
        options: lineOptions(x(), "weight (data.to, unitless)"),
      }, markItems);

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

      const acts = data.ruleActivations;
      make("chart-activations", {
        type: "bar",
        data: { labels: acts.map((r) => r.ruleId + " (" + plural(r.activations, "activation", "activations") + ")"), datasets: [
          { label: "success rate (successes / activations that said)", data: acts.map((r) => r.successRate), backgroundColor: color(4) },
        ] },
        options: { indexAxis: "y", scales: { x: { min: 0, max: 1, title: { display: true, text: "success rate (fraction 0 to 1, of activations with success true or false)" } }, y: { title: { display: true, text: "rule id (activations)" } } } },
      });

      make("chart-rule-rates", {
        type: "line",
        data: { datasets: data.ruleSeries.map((r, i) => ({ label: r.ruleId, data: r.points.map((p) => ({ x: xOf(p), y: p.y })), borderColor: color(i), backgroundColor: color(i), pointRadius: r.points.length > 200 ? 0 : 2, stepped: true })) },
        options: { parsing: false, scales: { x: x(), y: rateAxis("success rate so far (fraction 0 to 1)") } },
      }, markItems);

      make("chart-regret", {
        type: "line",
        data: { datasets: data.arcs.map((a, i) => ({ label: a.arc, data: a.points.map((p) => ({ x: xOf(p), y: p.y })), borderColor: color(i), backgroundColor: color(i), pointRadius: a.points.length > 200 ? 0 : 2 })) },
        options: lineOptions(x(), "regret (data.regret_scores, as logged)"),
      }, markItems);

      make("chart-rules", {
        type: "bar",
        data: { labels: data.rules.map((r) => r.ruleId), datasets: [
          { label: "effectiveness (success rate x impact)", data: data.rules.map((r) => r.effectiveness), backgroundColor: color(0) },
          { label: "success rate", data: data.rules.map((r) => r.successRate), backgroundColor: color(1) },
          { label: "impact score", data: data.rules.map((r) => r.impactScore), backgroundColor: color(2) },
        ] },
        options: { indexAxis: "y", scales: { x: { title: { display: true, text: "score (success rate: fraction 0 to 1; impact as logged; effectiveness: their product)" } }, y: { title: { display: true, text: "rule id" } } } },
      });
      report(mode);
    };

    // By seq first when one time bar would hold most of the records: the burst is what the reader came to see.
    const tl = data.timeline;
    const biggest = tl.starts.reduce((m, _, i) => Math.max(m, Object.values(tl.counts).reduce((s, c) => s + c[i], 0)), 0);
    const initial = data.records > 0 && biggest * 2 > data.records && data.seqTimeline.starts.length > 1 ? "seq" : "time";
    return { draw: draw, initial: initial };
  };

  // ---- Two runs overlaid ----
  const compareView = () => {
    const runs = data.runs, a = data.a, b = data.b;
    const sides = [{ run: runs[0], s: a, dashed: false }, { run: runs[1], s: b, dashed: true }];
    const elapsed = (s, p) => p.t - s.firstMs;
    const extent = (f) => {
      let max = 0;
      for (const side of sides) if (side.s.records > 0) max = Math.max(max, f(side.s));
      return max;
    };
    const draw = (mode) => {
      clear();
      const byIndex = mode === "index";
      const xOf = (s, p) => (byIndex ? p.i : elapsed(s, p));
      const x = () => byIndex
        ? countAxis(1, Math.max(2, extent((s) => s.records)), "event index within the run")
        : roundTimeAxis(0, Math.max(SEC, extent((s) => s.lastMs - s.firstMs)), "time since the run's start (h:mm:ss)", durationLabel);
      const markItems = [];
      for (const side of sides) for (const m of side.s.marks) markItems.push({ x: xOf(side.s, m), kind: m.kind, dashed: side.dashed });
      // One colour per name, the same in both runs; the second run dashed.
      const overlay = (names, seriesOf, stepped) => {
        const sets = [];
        names.forEach((name, i) => {
          for (const side of sides) {
            const pts = seriesOf(side.s, name);
            if (!pts) continue;
            sets.push({ label: name + " \u00b7 " + side.run, data: pts.map((p) => ({ x: xOf(side.s, p), y: p.y })), borderColor: color(i), backgroundColor: color(i), borderDash: side.dashed ? [6, 4] : [], pointRadius: pts.length > 200 ? 0 : 2, stepped: stepped });
          }
        });
        return sets;
      };
      const namesOf = (f) => { const out = []; for (const side of sides) for (const n of f(side.s)) if (!out.includes(n)) out.push(n); return out; };

      const variables = namesOf((s) => s.variables.map((v) => v.variable));
      make("chart-cmp-weights", {
        type: "line",
        data: { datasets: overlay(variables, (s, n) => { const v = s.variables.find((w) => w.variable === n); return v && v.points; }, true) },
        options: lineOptions(x(), "weight (data.to, unitless)"),
      }, markItems);

      const keys = namesOf((s) => s.trust.map((k) => k.key + "\u0000" + k.source));
      keys.forEach((id, i) => {
        const [key, source] = id.split("\u0000");
        const sets = [];
        sides.forEach((side, j) => {
          const k = side.s.trust.find((t) => t.key === key && t.source === source);
          if (!k) return;
          sets.push({ label: "trust \u00b7 " + side.run + " (" + plural(k.samples, source === "trust_updated" ? "update" : "measurement", source === "trust_updated" ? "updates" : "measurements") + ")", data: k.points.map((p) => ({ x: xOf(side.s, p), y: p.trust })), borderColor: color(j), backgroundColor: color(j), borderDash: side.dashed ? [6, 4] : [], pointRadius: k.points.length > 200 ? 0 : 2, stepped: source === "trust_updated" });
        });
        make("chart-cmp-trust-" + i, {
          type: "line",
          data: { datasets: sets },
          options: { parsing: false, plugins: { title: { display: true, text: key + (source === "trust_updated" ? " (tracker)" : " (reported)") } }, scales: { x: x(), y: rateAxis("trust (probability, 0 to 1)") } },
        });
      });

      const rows = data.diff.ruleActivations;
      make("chart-cmp-activations", {
        type: "bar",
        data: { labels: rows.map((r) => r.ruleId), datasets: sides.map((side, j) => ({ label: "success rate \u00b7 " + side.run, data: rows.map((r) => { const x = j === 0 ? r.a : r.b; return x === null ? null : x.successRate; }), backgroundColor: color(j) })) },
        options: { indexAxis: "y", scales: { x: { min: 0, max: 1, title: { display: true, text: "success rate (fraction 0 to 1, of activations with success true or false)" } }, y: { title: { display: true, text: "rule id" } } } },
      });

      const rules = namesOf((s) => s.ruleSeries.map((r) => r.ruleId));
      make("chart-cmp-rule-rates", {
        type: "line",
        data: { datasets: overlay(rules, (s, n) => { const r = s.ruleSeries.find((q) => q.ruleId === n); return r && r.points; }, true) },
        options: { parsing: false, scales: { x: x(), y: rateAxis("success rate so far (fraction 0 to 1)") } },
      }, markItems);

      const arcs = namesOf((s) => s.arcs.map((q) => q.arc));
      make("chart-cmp-regret", {
        type: "line",
        data: { datasets: overlay(arcs, (s, n) => { const q = s.arcs.find((r) => r.arc === n); return q && q.points; }, false) },
        options: lineOptions(x(), "regret (data.regret_scores, as logged)"),
      }, markItems);
      report(mode);
    };
    return { draw: draw, initial: "index" };
  };

  const v = view === "compare" ? compareView() : summaryView();
  for (const input of document.querySelectorAll("input[name=xmode]")) {
    input.checked = input.value === v.initial;
    input.addEventListener("change", () => { if (input.checked) v.draw(input.value); });
  }
  v.draw(v.initial);
})();
`;
