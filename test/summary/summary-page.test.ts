import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { v4 as uuidv4 } from "uuid";
import { formatTimestamp } from "../../src/clock.js";
import { LogReader } from "../../src/store/file/reader.js";
import { SummaryBuilder, type SummaryData } from "../../src/summary/aggregate.js";
import { summaryHtml } from "../../src/summary/html.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { assertReadableAxes, launchBrowser, renderPage, type DrawnChart } from "./browser.js";
import { syntheticSummary, T0 } from "./synthetic-log.js";

/** A log of three hours of learning: weight changes, trust metrics, rule effectiveness and other events. */
function learningLog(): string {
  let text = "";
  let seq = 0;
  const line = (minute: number, type: string, data: unknown) =>
    (text += `{"event_id":"${uuidv4()}","timestamp":"${formatTimestamp(T0 + minute * 60_000_000 + seq)}","event_type":"${type}","data":${JSON.stringify(data)},"seq":${++seq}}\n`);
  const weights = new Map<string, number>();
  for (let minute = 0; minute < 180; minute++) {
    for (let v = 0; v < 10; v++) {
      if ((minute + v) % (v + 1) !== 0) continue;
      const variable = `var_${v}`;
      const from = weights.get(variable) ?? 1;
      const to = from + Math.sin(minute / 10 + v) * (v + 1) * 0.05;
      weights.set(variable, to);
      line(minute, "variable_weight_update", { variable, from, to });
    }
    for (const [k, key] of ["rule_a", "rule_b", "var_x"].entries()) {
      if (minute % (k + 2) !== 0) continue;
      const n = minute / (k + 2) + 2;
      const trust = 0.5 + 0.4 * Math.sin(minute / 40 + k);
      const half = 1.96 * Math.sqrt((trust * (1 - trust)) / n);
      line(minute, "bayesian_trust_metrics", { key, kind: "rule", trust, confidence_interval: [Math.max(0, trust - half), Math.min(1, trust + half)], confidence_strength: 0.5, sample_size: n });
    }
    // The tracker's own audit records: key_t0 updated every minute, key_t1 every other one.
    for (const [k, key] of ["key_t0", "key_t1"].entries()) {
      if (minute % (k + 1) !== 0) continue;
      line(minute, "trust_updated", { time: (T0 + minute * 60_000_000) / 1e6, outcomes: [{ key, success: minute % 5 !== 0, weight: 1 }], prev_seq: seq, mac: "unchecked" });
    }
    if (minute % 15 === 0) for (let r = 0; r < 5; r++) line(minute, "rule_effectiveness", { rule_id: `rule_${r}`, activation_count: minute + r, success_rate: (r + 1) / 6, impact_score: 1 - r / 10 + minute / 1000, timestamp: "x" });
    if (minute % 7 === 0) line(minute, "symbolic_revision_triggered", { reason: `drift ${minute}` });
  }
  return text;
}

async function summarize(logPath: string, sinceMicros?: number, untilMicros?: number): Promise<SummaryData> {
  const builder = new SummaryBuilder();
  for await (const batch of new LogReader(logPath).batches({ sinceMicros, untilMicros })) for (const r of batch) builder.add(r);
  return builder.build();
}

interface Rendered {
  charts: DrawnChart[];
  errors: string[];
  instances: number;
  mode: string;
  /** Texts of the coverage list and the "N of M shown" lines. */
  coverage: string;
  trustShown: string;
  variablesShown: string;
}

describe("visual summary page (headless Chromium)", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let browser: Browser;
  let logPath: string;

  before(async function () {
    browser = await launchBrowser();
    dir = await tempDir();
    logPath = join(dir.path, "pulse_learning_log.jsonl");
    await writeFile(logPath, learningLog());
  });
  after(async () => {
    await browser?.close();
    await dir?.remove();
  });

  /** Opens the page (see renderPage) and reads the coverage list and the "N of M shown" lines. */
  async function render(html: string, name: string, xMode?: "time" | "seq"): Promise<Rendered> {
    const r = await renderPage(browser, dir.path, html, name, { xMode, texts: ["coverage", "trust-shown", "variables-shown"] });
    return { charts: r.charts, errors: r.errors, instances: r.instances, mode: r.mode, coverage: r.texts.coverage, trustShown: r.texts["trust-shown"], variablesShown: r.texts["variables-shown"] };
  }

  it("draws every chart with all its series, offline, without console errors", async () => {
    const data = await summarize(logPath);
    const { charts, errors, instances, mode, coverage, trustShown, variablesShown } = await render(summaryHtml(data, { source: logPath, generatedAt: new Date().toISOString() }), "summary");
    assert.deepEqual(errors, []);
    // Steady events: the page opens by time.
    assert.equal(mode, "time");
    const byId = new Map(charts.map((c) => [c.id, c]));
    assert.deepEqual([...byId.keys()], ["chart-timeline", "chart-weights", "chart-trust-0", "chart-trust-1", "chart-trust-2", "chart-trust-3", "chart-trust-4", "chart-rules"]);
    // What the page covers, in words.
    assert.match(coverage, new RegExp(`Log${logPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.match(coverage, new RegExp(`Records${data.records.toLocaleString("en-US")} \\(seq 1 to ${data.lastSeq}\\)`));
    assert.match(coverage, /Time range2026-11-24T12:00:00\.\d+\+00:00 to 2026-11-24T14:59:00\.\d+\+00:00 \(UTC\)/);
    assert.equal(variablesShown, "8 of 10 variables shown, the most changed");
    assert.equal(trustShown, "5 of 5 keys shown");
    assertReadableAxes(charts);
    assert.match(byId.get("chart-timeline")!.axes.x.title, /^time \(UTC\)/);
    assert.equal(byId.get("chart-timeline")!.axes.y.title, "events per 3 minutes");
    assert.equal(byId.get("chart-weights")!.axes.x.title, "time (UTC)");
    // Three hours on 1,100 px: ticks every half hour, on the half hour.
    assert.deepEqual(byId.get("chart-weights")!.axes.x.ticks, ["11-24 12:00", "11-24 12:30", "11-24 13:00", "11-24 13:30", "11-24 14:00", "11-24 14:30", "11-24 15:00"]);
    assert.equal(instances, charts.length);
    for (const c of charts) {
      assert.ok(c.series.length > 0, `${c.id} has series`);
      for (const s of c.series) assert.ok(s.points > 0, `${c.id} series ${s.label} has points`);
      // A drawn chart inks a good part of its canvas (axes alone are a few thousand pixels).
      assert.ok(c.inked > 5000, `${c.id} drew only ${c.inked} pixels`);
    }
    // Each chart shows what the data holds.
    assert.deepEqual(byId.get("chart-timeline")!.series.map((s) => s.label).sort(), Object.keys(data.countsByType).sort());
    assert.ok(byId.get("chart-timeline")!.series.every((s) => s.points === data.timeline.starts.length));
    assert.deepEqual(
      byId.get("chart-weights")!.series.map((s) => [s.label, s.points]),
      data.variables.map((v) => [v.variable, v.points.length]),
    );
    assert.equal(data.variables.length, 8, "the 8 most changed of 10 variables");
    for (const [i, k] of data.trust.entries()) {
      // Lower bound, upper bound (the band) and the trust line, one point per measurement.
      assert.deepEqual(byId.get(`chart-trust-${i}`)!.series.map((s) => s.points), [k.points.length, k.points.length, k.points.length]);
    }
    // The tracker's own updates are replayed: each key has its trajectory, one point per update, most updated first.
    assert.deepEqual(
      data.trust.map((k) => [k.key, k.source, k.points.length]),
      [
        ["key_t0", "trust_updated", 180],
        ["key_t1", "trust_updated", 90],
        ["rule_a", "bayesian_trust_metrics", 90],
        ["rule_b", "bayesian_trust_metrics", 60],
        ["var_x", "bayesian_trust_metrics", 45],
      ],
    );
    assert.equal(byId.get("chart-trust-0")!.title, "key_t0 (180 updates, tracker)");
    assert.equal(byId.get("chart-trust-2")!.title, "rule_a (90 measurements, reported)");
    // Revision triggers (every 7th minute of 180) are marks on the weights.
    assert.deepEqual(byId.get("chart-weights")!.marks, { revision: 26, upgrade: 0 });
    assert.deepEqual(data.rules.map((r) => r.ruleId), ["rule_4", "rule_3", "rule_2", "rule_1", "rule_0"]);
    assert.ok(byId.get("chart-rules")!.series.every((s) => s.points === 5));
  });

  it("limits the page to a time range", async () => {
    const since = T0 + 60 * 60_000_000;
    const until = T0 + 90 * 60_000_000;
    const data = await summarize(logPath, since, until);
    const all = await summarize(logPath);
    assert.ok(data.records > 0 && data.records < all.records / 3);
    assert.ok(data.firstTime! >= formatTimestamp(since) && data.lastTime! < formatTimestamp(until));
    const { charts, errors } = await render(summaryHtml(data, { source: logPath, since: formatTimestamp(since), until: formatTimestamp(until), generatedAt: new Date().toISOString() }), "summary-range");
    assert.deepEqual(errors, []);
    assert.ok(charts.every((c) => c.inked > 5000 && c.series.every((s) => s.points > 0)));
  });

  it("says so instead of drawing an empty chart when a kind of record is absent", async () => {
    const only = join(dir.path, "only-revisions.jsonl");
    await writeFile(only, `{"event_id":"${uuidv4()}","timestamp":"${formatTimestamp(T0)}","event_type":"symbolic_revision_triggered","data":{"reason":"x"},"seq":1}\n`);
    const data = await summarize(only);
    const html = summaryHtml(data, { source: only, generatedAt: new Date().toISOString() });
    const { charts, errors } = await render(html, "summary-sparse");
    assert.deepEqual(errors, []);
    assert.deepEqual(charts.map((c) => c.id), ["chart-timeline"]);
    assert.match(html, /No variable_weight_update records in this range/);
    assert.match(html, /No trust_updated or bayesian_trust_metrics records in this range/);
    assert.match(html, /No rule_effectiveness records in this range/);
  });

  const page = (data: SummaryData, name: string) => summaryHtml(data, { source: `${name}.jsonl`, generatedAt: "2026-11-30T00:00:00Z" });

  it("opens a burst by seq, where it is not a sliver, and redraws by time on the toggle", async () => {
    // Two hours of 2,000 quiet records, then 8,000 in one second.
    const data = syntheticSummary({ records: 10_000, minutes: 120, keys: 4, extraTypes: 2, burst: 8_000 });
    const bySeq = await render(page(data, "burst"), "summary-burst");
    assert.deepEqual(bySeq.errors, []);
    assert.equal(bySeq.mode, "seq");
    assertReadableAxes(bySeq.charts);
    const timeline = bySeq.charts.find((c) => c.id === "chart-timeline")!;
    assert.equal(timeline.axes.x.title, `record seq, first of each bar of ${data.seqTimeline.bucketSize} records`);
    assert.ok(timeline.series.every((s) => s.points === data.seqTimeline.starts.length));
    // The burst is 80% of the records, so about 80% of the bars (by time it is one bar of 121).
    const burstBars = data.seqTimeline.starts.filter((s) => s > 2_000).length;
    assert.ok(data.seqTimeline.starts.length >= 60 && burstBars / data.seqTimeline.starts.length > 0.75, `${burstBars} of ${data.seqTimeline.starts.length} bars`);
    assert.equal(bySeq.charts.find((c) => c.id === "chart-weights")!.axes.x.title, "record seq (position in the log)");

    const byTime = await render(page(data, "burst"), "summary-burst-time", "time");
    assert.deepEqual(byTime.errors, []);
    assert.equal(byTime.mode, "time");
    assertReadableAxes(byTime.charts);
    const timelineByTime = byTime.charts.find((c) => c.id === "chart-timeline")!;
    assert.ok(timelineByTime.series.every((s) => s.points === data.timeline.starts.length));
    assert.equal(byTime.charts.find((c) => c.id === "chart-weights")!.axes.x.title, "time (UTC)");
    // The same charts, with the same series, either way.
    assert.deepEqual(byTime.charts.map((c) => [c.id, c.series.length]), bySeq.charts.map((c) => [c.id, c.series.length]));
  });

  it("shows the most updated of 50 keys and says how many are left out", async () => {
    const data = syntheticSummary({ records: 20_000, minutes: 600, keys: 50, extraTypes: 0 });
    assert.equal(data.trustTotal, 50);
    const r = await render(page(data, "keys50"), "summary-keys50");
    assert.deepEqual(r.errors, []);
    assert.equal(r.trustShown, "6 of 50 keys shown, the most updated");
    const trustCharts = r.charts.filter((c) => c.id.startsWith("chart-trust-"));
    assert.equal(trustCharts.length, 6);
    // Most updated first; each a trajectory with one point per update, not one dot.
    const samples = data.trust.map((k) => k.samples);
    assert.deepEqual(samples, [...samples].sort((a, b) => b - a));
    for (const [i, k] of data.trust.entries()) {
      assert.equal(k.points.length, k.samples);
      assert.ok(k.samples > 100, `${k.key}: ${k.samples} updates`);
      assert.equal(trustCharts[i].title, `${k.key} (${k.samples} updates, tracker)`);
      assert.deepEqual(trustCharts[i].series.map((s) => s.points), [k.samples, k.samples, k.samples]);
    }
    assertReadableAxes(r.charts);
  });

  it("draws one key's trajectory and says it is all there is", async () => {
    const data = syntheticSummary({ records: 100, minutes: 30, keys: 1, extraTypes: 1 });
    const r = await render(page(data, "key1"), "summary-key1");
    assert.deepEqual(r.errors, []);
    assert.equal(r.trustShown, "1 of 1 key shown");
    const trust = r.charts.filter((c) => c.id.startsWith("chart-trust-"));
    assert.equal(trust.length, 1);
    assert.ok(trust[0].series[2].points > 10, "a trajectory, not one dot");
    assert.match(r.coverage, /Logkey1\.jsonlRecords100 \(seq 1 to 100\)Time range2026-11-24T12:00:00\.000000\+00:00 to 2026-11-24T12:29:42\.000000\+00:00 \(UTC\)/);
    assertReadableAxes(r.charts);
  });

  it("keeps 19 event types apart in colours of their own and groups the rest as other", async () => {
    const data = syntheticSummary({ records: 30_000, minutes: 240, keys: 3, extraTypes: 40 });
    assert.equal(Object.keys(data.countsByType).length, 43);
    const r = await render(page(data, "types43"), "summary-types43");
    assert.deepEqual(r.errors, []);
    const timeline = r.charts.find((c) => c.id === "chart-timeline")!;
    assert.equal(timeline.series.length, 20);
    assert.deepEqual(timeline.series.slice(0, 19).map((s) => s.label), Object.keys(data.countsByType).slice(0, 19));
    assert.equal(timeline.series[19].label, "other (24 less frequent types)");
    assert.equal(new Set(timeline.series.map((s) => s.color)).size, 20, "no colour repeats");
    assertReadableAxes(r.charts);
  });
});
