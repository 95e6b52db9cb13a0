import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { SummaryBuilder } from "../../src/summary/aggregate.js";
import { comparisonHtml } from "../../src/summary/compare-html.js";
import { compareRuns } from "../../src/summary/compare.js";
import { summaryHtml } from "../../src/summary/html.js";
import { runOfRecordText } from "../../src/record/line.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { assertReadableAxes, launchBrowser, renderPage, type DrawnChart } from "./browser.js";
import { activationCounts, logOfRecords, RUN_A, RUN_B, runRecords } from "./synthetic-log.js";

const view = (line: string) => {
  const r = JSON.parse(line) as { seq: number; timestamp: string; event_type: string };
  return { seq: r.seq, timestamp: r.timestamp, eventType: r.event_type, json: line };
};

/** Builders fed the records of each run named (all records when none is). */
function builders(lines: string[], runs: string[]): SummaryBuilder[] {
  const out = runs.length === 0 ? [new SummaryBuilder()] : runs.map(() => new SummaryBuilder());
  for (const line of lines) {
    const i = runs.length === 0 ? 0 : runs.indexOf(runOfRecordText(line) ?? "");
    if (i >= 0) out[i].add(view(line));
  }
  return out;
}

const rate = (c: [number, number, number, number] | undefined) => (c === undefined ? null : c[1] / (c[1] + c[2]));
const chart = (charts: DrawnChart[], id: string) => {
  const c = charts.find((x) => x.id === id);
  assert.ok(c, `${id} drawn (drawn: ${charts.map((x) => x.id).join(", ")})`);
  return c;
};
const info = { source: "runs.jsonl", generatedAt: "2026-12-07T00:00:00Z" };

describe("run summary and comparison pages (headless Chromium)", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let browser: Browser;
  const lines = logOfRecords(runRecords(RUN_A), runRecords(RUN_B), [{ micros: RUN_A.startMicros + 5, type: "custom_event", data: {} }]);

  before(async () => {
    browser = await launchBrowser();
    dir = await tempDir();
  });
  after(async () => {
    await browser?.close();
    await dir?.remove();
  });

  it("shows one run: its params and status, each rule's activations and success rate, arc regret, and the marks", async () => {
    const [b] = builders(lines, ["exp-41"]);
    const data = b.build();
    const html = summaryHtml(data, { ...info, run: "exp-41" });
    const r = await renderPage(browser, dir.path, html, "run-one", { texts: ["run-info", "coverage", "marks-count", "activations-shown"], tables: ["rule-activations"] });
    assert.deepEqual(r.errors, []);
    assert.match(r.texts.coverage, /Runexp-41Records3,348 \(seq 1 to \d+\)/);
    assert.match(r.texts["run-info"], /^Runexp-41StatusfinishedParams\{"lr":0\.01,"layers":\[64,64\]\} pid 4242 host trainer-1Started2026-11-24T12:00:00\.000000\+00:00 \(seq 1\)Finished/);
    assert.deepEqual(r.charts.map((c) => c.id), ["chart-timeline", "chart-weights", "chart-activations", "chart-rule-rates", "chart-regret"]);
    for (const c of r.charts) assert.ok(c.inked > 5000, `${c.id} drew only ${c.inked} pixels`);
    assertReadableAxes(r.charts);

    // Success rates as the records say, bar by bar and row by row.
    const counts = activationCounts(lines, "exp-41");
    const bars = chart(r.charts, "chart-activations");
    const rules = data.ruleActivations.map((x) => x.ruleId);
    assert.deepEqual(rules.sort(), [...counts.keys()].sort());
    assert.deepEqual(bars.labels, data.ruleActivations.map((x) => `${x.ruleId} (${counts.get(x.ruleId)![0]} activations)`));
    assert.deepEqual(bars.series[0].values, data.ruleActivations.map((x) => rate(counts.get(x.ruleId))));
    assert.deepEqual(
      r.tables["rule-activations"].slice(1),
      data.ruleActivations.map((x) => {
        const [n, ok, failed, unsaid] = counts.get(x.ruleId)!;
        return [x.ruleId, String(n), String(ok), String(failed), String(unsaid), `${((ok / (ok + failed)) * 100).toFixed(1)}%`];
      }),
    );
    assert.match(r.texts["activations-shown"], /^3 of 3 rules shown/);
    // The rate so far over the run, one line per rule; regret, one line per arc with every report.
    assert.deepEqual(chart(r.charts, "chart-rule-rates").series.map((s) => [s.label, s.points]), data.ruleSeries.map((s) => [s.ruleId, counts.get(s.ruleId)![1] + counts.get(s.ruleId)![2]]));
    assert.deepEqual(chart(r.charts, "chart-regret").series.map((s) => [s.label, s.points]), [["arc_a", 30], ["arc_b", 30], ["arc_c", 30]]);
    // Every revision and upgrade is a mark on each timeline chart.
    for (const id of ["chart-weights", "chart-rule-rates", "chart-regret"]) assert.deepEqual(chart(r.charts, id).marks, { revision: 12, upgrade: 4 }, id);
    assert.match(r.texts["marks-count"], /^12 revision triggers, 4 symbolic upgrades; the first 16:/);

    // By seq, the same marks.
    const bySeq = await renderPage(browser, dir.path, html, "run-one-seq", { xMode: "seq" });
    assert.deepEqual(bySeq.errors, []);
    assert.deepEqual(chart(bySeq.charts, "chart-regret").marks, { revision: 12, upgrade: 4 });
    assertReadableAxes(bySeq.charts);
  });

  it("shows what a log of weight changes, rule activations and arc regret holds, with its runs, though it has no rule_effectiveness record", async () => {
    const [b] = builders(lines, []);
    const data = b.build();
    const html = summaryHtml(data, info);
    const r = await renderPage(browser, dir.path, html, "run-whole-log", { tables: ["runs"], texts: ["runs-shown"] });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.tables.runs.slice(1).map((row) => [row[0], row[1], row[5], row[6]]),
      [
        ["exp-41", "3348", "finished", '{"lr":0.01,"layers":[64,64]} pid 4242 host trainer-1'],
        ["exp-42", "2269", "failed: ValueError: loss is NaN", '{"lr":0.02} pid 4242 host trainer-1'],
      ],
    );
    assert.match(html, /1 record names no run/);
    assert.match(html, /No rule_effectiveness records in this range; the rule activations above are what the log holds of its rules\./);
    const bars = chart(r.charts, "chart-activations");
    const counts = new Map([...activationCounts(lines, "exp-41")]);
    for (const [rule, c] of activationCounts(lines, "exp-42")) {
      const prev = counts.get(rule) ?? [0, 0, 0, 0];
      counts.set(rule, [prev[0] + c[0], prev[1] + c[1], prev[2] + c[2], prev[3] + c[3]]);
    }
    assert.deepEqual(bars.series[0].values, data.ruleActivations.map((x) => rate(counts.get(x.ruleId))));
    assert.deepEqual(chart(r.charts, "chart-regret").series.map((s) => s.label), ["arc_a", "arc_b", "arc_c", "arc_d"]);
    assert.deepEqual(chart(r.charts, "chart-weights").marks, { revision: 17, upgrade: 6 });
  });

  it("compares two runs: both overlaid by event index or by time since each start, the differences named, success rates side by side", async () => {
    const [a, b] = builders(lines, ["exp-41", "exp-42"]);
    const c = compareRuns(["exp-41", "exp-42"], a, b);
    const html = comparisonHtml(c, info);
    const r = await renderPage(browser, dir.path, html, "run-compare", { texts: ["run-0", "run-1"], tables: ["counts", "rule-rates", "weights"] });
    assert.deepEqual(r.errors, []);
    assert.equal(r.view, "compare");
    assert.equal(r.mode, "index");
    assert.match(r.texts["run-0"], /^Runexp-41Statusfinished/);
    assert.match(r.texts["run-1"], /^Runexp-42Statusfailed: ValueError: loss is NaNParams\{"lr":0\.02\}/);

    // What differs, named.
    const diff = Object.fromEntries(r.differences.map((d) => [`${d.kind}/${d.only}`, d.text]));
    assert.deepEqual(diff, {
      "event-types/a": "Event types only in exp-41 (0): none",
      "event-types/b": "Event types only in exp-42 (0): none",
      "variables/a": "Variables only in exp-41 (1): v_only_a",
      "variables/b": "Variables only in exp-42 (1): v_only_b",
      "rules/a": "Rules only in exp-41 (1): rule_z",
      "rules/b": "Rules only in exp-42 (1): rule_w",
    });
    assert.deepEqual(r.tables.counts[0], ["event type", "exp-41", "exp-42"]);
    assert.deepEqual(r.tables.counts.find((row) => row[0] === "symbolic_arc_regret"), ["symbolic_arc_regret", "30", "20"]);
    assert.deepEqual(r.tables.counts.find((row) => row[0] === "custom_event"), undefined, "a record of no run is in neither run");

    // Success rates side by side, as each run's records say; a rule a run never fired has no bar for it.
    const ca = activationCounts(lines, "exp-41");
    const cb = activationCounts(lines, "exp-42");
    const bars = chart(r.charts, "chart-cmp-activations");
    assert.deepEqual(bars.labels.slice().sort(), ["rule_w", "rule_x", "rule_y", "rule_z"]);
    assert.deepEqual(bars.series.map((s) => s.label), ["success rate \u00b7 exp-41", "success rate \u00b7 exp-42"]);
    assert.deepEqual(bars.series[0].values, bars.labels.map((rule) => rate(ca.get(rule))));
    assert.deepEqual(bars.series[1].values, bars.labels.map((rule) => rate(cb.get(rule))));
    assert.deepEqual(
      r.tables["rule-rates"].find((row) => row[0] === "rule_x"),
      ["rule_x", `${(rate(ca.get("rule_x"))! * 100).toFixed(1)}% of 100`, `${(rate(cb.get("rule_x"))! * 100).toFixed(1)}% of 80`],
    );

    // Both runs overlaid: every shared variable twice, each run's own once.
    const weights = chart(r.charts, "chart-cmp-weights");
    const labels = weights.series.map((s) => s.label);
    for (const v of ["v1", "v2", "v3"]) for (const run of ["exp-41", "exp-42"]) assert.ok(labels.includes(`${v} \u00b7 ${run}`), `${v} of ${run}`);
    assert.ok(labels.includes("v_only_a \u00b7 exp-41") && !labels.includes("v_only_a \u00b7 exp-42"));
    assert.ok(labels.includes("v_only_b \u00b7 exp-42") && !labels.includes("v_only_b \u00b7 exp-41"));
    assert.deepEqual(chart(r.charts, "chart-cmp-regret").series.map((s) => [s.label, s.points]), [
      ["arc_a \u00b7 exp-41", 30],
      ["arc_a \u00b7 exp-42", 20],
      ["arc_b \u00b7 exp-41", 30],
      ["arc_c \u00b7 exp-41", 30],
      ["arc_d \u00b7 exp-42", 20],
    ]);
    for (const id of ["chart-cmp-weights", "chart-cmp-rule-rates", "chart-cmp-regret"]) assert.deepEqual(chart(r.charts, id).marks, { revision: 12 + 5, upgrade: 4 + 2 }, id);
    assert.equal(weights.axes.x.title, "event index within the run");
    for (const ch of r.charts) assert.ok(ch.inked > 5000, `${ch.id} drew only ${ch.inked} pixels`);
    assertReadableAxes(r.charts);

    // By time since each run's start: the same series, on a duration axis from 0.
    const elapsed = await renderPage(browser, dir.path, html, "run-compare-elapsed", { xMode: "elapsed" });
    assert.deepEqual(elapsed.errors, []);
    assert.equal(elapsed.mode, "elapsed");
    const w2 = chart(elapsed.charts, "chart-cmp-weights");
    assert.equal(w2.axes.x.title, "time since the run's start (h:mm:ss)");
    assert.equal(w2.axes.x.ticks[0], "0:00");
    // The longer run lasts an hour.
    assert.equal(w2.axes.x.ticks[w2.axes.x.ticks.length - 1], "1:00:00");
    assert.deepEqual(w2.series.map((s) => [s.label, s.points]), weights.series.map((s) => [s.label, s.points]));
    assert.deepEqual(chart(elapsed.charts, "chart-cmp-regret").marks, { revision: 17, upgrade: 6 });
    assertReadableAxes(elapsed.charts);
  });

  it("overlays the trust each run measured, key by key, one line per run", async () => {
    const metric = (run: string, k: number, key: string) => ({ micros: RUN_A.startMicros + k * 1_000_000, type: "bayesian_trust_metrics", data: { key, kind: "rule", trust: 0.5 + k / 100, confidence_interval: [0.4, 0.9], confidence_strength: 0.5, sample_size: k }, run });
    const trustLines = logOfRecords(
      Array.from({ length: 30 }, (_, k) => metric("t-a", k, "rule_x")),
      Array.from({ length: 20 }, (_, k) => metric("t-b", k, "rule_x")),
      Array.from({ length: 10 }, (_, k) => metric("t-b", k, "rule_only_b")),
    );
    const [a, b] = builders(trustLines, ["t-a", "t-b"]);
    const r = await renderPage(browser, dir.path, comparisonHtml(compareRuns(["t-a", "t-b"], a, b), info), "run-compare-trust");
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.charts.filter((c) => c.id.startsWith("chart-cmp-trust-")).map((c) => [c.title, c.series.map((x) => [x.label, x.points])]),
      [
        ["rule_x (reported)", [["trust \u00b7 t-a (30 measurements)", 30], ["trust \u00b7 t-b (20 measurements)", 20]]],
        ["rule_only_b (reported)", [["trust \u00b7 t-b (10 measurements)", 10]]],
      ],
    );
    assert.deepEqual(r.differences.filter((d) => d.kind === "event-types").map((d) => d.text), ["Event types only in t-a (0): none", "Event types only in t-b (0): none"]);
    assertReadableAxes(r.charts);
  });

  it("compares a run with one that has no records, saying so", async () => {
    const [a, b] = builders(lines, ["exp-41", "exp-missing"]);
    const c = compareRuns(["exp-41", "exp-missing"], a, b);
    const r = await renderPage(browser, dir.path, comparisonHtml(c, info), "run-compare-missing", { texts: ["run-1"] });
    assert.deepEqual(r.errors, []);
    assert.equal(r.texts["run-1"], "Runexp-missingRecordsnone");
    assert.deepEqual(
      r.differences.filter((d) => d.kind === "variables").map((d) => d.text.replace(/: .*/, "")),
      ["Variables only in exp-41 (4)", "Variables only in exp-missing (0)"],
    );
    // Nothing is drawn for the run without records (its bar series is in the legend, empty).
    for (const ch of r.charts) for (const s of ch.series) assert.ok(s.label.endsWith("exp-41") || s.points === 0, `${ch.id}: ${s.label}`);
    assert.ok(r.charts.some((ch) => ch.series.some((s) => s.points > 0)));
  });
});
