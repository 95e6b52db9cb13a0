import assert from "node:assert/strict";
import { SummaryBuilder, type SummaryData } from "../../src/summary/aggregate.js";
import { compareRuns } from "../../src/summary/compare.js";
import { runOfRecordText } from "../../src/record/line.js";
import { comparisonText, summaryText } from "../../src/summary/text.js";
import { activationCounts, logOfRecords, RUN_A, RUN_B, runRecords, T0 } from "./synthetic-log.js";

const view = (line: string) => {
  const r = JSON.parse(line) as { seq: number; timestamp: string; event_type: string };
  return { seq: r.seq, timestamp: r.timestamp, eventType: r.event_type, json: line };
};

/** The summary of one run's records (the CLI routes records to builders by their run the same way). */
function summaryOf(lines: string[], run?: string): SummaryData {
  const b = new SummaryBuilder();
  for (const line of lines) if (run === undefined || runOfRecordText(line) === run) b.add(view(line));
  return b.build();
}

describe("runs in the summary", () => {
  const lines = logOfRecords(runRecords(RUN_A), runRecords(RUN_B), [{ micros: T0 + 5, type: "custom_event", data: { run: "exp-41" } }]);

  it("reads a record's run from its top-level member, never from data", () => {
    assert.equal(runOfRecordText('{"event_id":"e","timestamp":"t","event_type":"x","data":{},"run":"exp-42","seq":7}'), "exp-42");
    assert.equal(runOfRecordText('{"event_id":"e","timestamp":"t","event_type":"x","data":{},"context":{"a":1},"run":"a b/c:1","seq":7,"hash":"ab12"}'), "a b/c:1");
    assert.equal(runOfRecordText('{"event_id":"e","timestamp":"t","event_type":"x","data":{"run":"no"},"seq":7}'), undefined);
    assert.equal(runOfRecordText('{"event_id":"e","timestamp":"t","event_type":"x","data":{"a":",\\"run\\":\\"no"},"seq":7}'), undefined);
    assert.equal(runOfRecordText('{"event_id":"e","timestamp":"t","event_type":"x","data":{"k":"x","run":"no"},"seq":7}'), undefined);
    assert.equal(runOfRecordText('{"event_id":"e","timestamp":"t","event_type":"x","data":"s","seq":7}'), undefined);
    assert.equal(runOfRecordText('{"event_id":"e","timestamp":"t","event_type":"x","data":{"seq":1,"run":"no"}}'), undefined);
    // The records the synthetic log writes: every run's record is found, the record of no run is not.
    assert.equal(lines.filter((l) => runOfRecordText(l) === "exp-41").length, 1 + 3_000 + 300 + 30 + 12 + 4 + 1);
    assert.equal(lines.filter((l) => runOfRecordText(l) === undefined).length, 1);
  });

  it("counts each rule's activations and success rate, the regret per arc, the marks and the run's lifecycle", () => {
    const s = summaryOf(lines, "exp-41");
    assert.equal(s.records, 3_348);
    const counts = activationCounts(lines, "exp-41");
    assert.deepEqual(
      s.ruleActivations.map((r) => [r.ruleId, r.activations, r.successes, r.failures, r.unknown]),
      [...counts].sort((a, b) => b[1][0] - a[1][0] || a[0].localeCompare(b[0])).map(([rule, c]) => [rule, ...c]),
    );
    for (const r of s.ruleActivations) {
      const [, ok, failed] = counts.get(r.ruleId)!;
      assert.equal(r.successRate, ok / (ok + failed));
      // The series ends at the final rate, one point per activation that said.
      const series = s.ruleSeries.find((x) => x.ruleId === r.ruleId)!;
      assert.equal(series.points.length, ok + failed);
      assert.equal(series.points[series.points.length - 1].y, r.successRate);
    }
    assert.deepEqual(s.arcs.map((a) => [a.arc, a.reports, a.points.length]), [["arc_a", 30, 30], ["arc_b", 30, 30], ["arc_c", 30, 30]]);
    const regrets = lines.map((l) => JSON.parse(l) as { run?: string; event_type: string; data: { regret_scores: Record<string, number> } }).filter((r) => r.run === "exp-41" && r.event_type === "symbolic_arc_regret");
    assert.deepEqual(s.arcs[0].points.map((p) => p.y), regrets.map((r) => r.data.regret_scores.arc_a));
    assert.deepEqual(s.marksTotal, { revision: 12, upgrade: 4 });
    assert.equal(s.marks.length, 16);
    assert.deepEqual(s.runs.map((r) => [r.run, r.records, r.started?.params, r.started?.pid, r.finished?.status]), [["exp-41", 3_348, { lr: 0.01, layers: [64, 64] }, 4242, "finished"]]);
    // Event indexes count the run's records from 1, whatever their seqs.
    const w = s.variables.find((v) => v.variable === "v1")!;
    assert.ok(w.points.every((p, i, ps) => p.i >= 2 && p.i <= s.records && (i === 0 || p.i > ps[i - 1].i)));
    assert.equal(s.firstMs, T0 / 1000);
    const text = summaryText(s);
    assert.match(text, /^run exp-41: finished\n {2}params \{"lr":0\.01,"layers":\[64,64\]\} pid 4242 host trainer-1$/m);
    const [x, ok, failed, unsaid] = counts.get("rule_x")!;
    assert.match(text, new RegExp(`^ {2}rule_x {2}${((ok / (ok + failed)) * 100).toFixed(1)}% {2}${x}x: ${ok} / ${failed} / ${unsaid}$`, "m"));
    assert.match(text, /^Revision triggers: 12, symbolic upgrades: 4$/m);
  });

  it("keeps the page's data bounded: series thinned, marks thinned, names counted", () => {
    const many = logOfRecords(runRecords({ ...RUN_A, weightChanges: 20_000, activations: 9_000, regrets: 5_000, revisions: 3_000, upgrades: 1_000 }));
    const s = summaryOf(many, "exp-41");
    assert.ok(s.variables.every((v) => v.points.length <= 2_000));
    assert.ok(s.ruleSeries.every((r) => r.points.length <= 2_000));
    assert.ok(s.arcs.every((a) => a.points.length <= 2_000 && a.reports === 5_000));
    assert.deepEqual(s.marksTotal, { revision: 3_000, upgrade: 1_000 });
    assert.ok(s.marks.length <= 500 && s.marks.length >= 250, `${s.marks.length} marks`);
    assert.ok(JSON.stringify(s).length < 1_000_000, `${JSON.stringify(s).length} bytes of data`);
  });

  it("lists the runs of a whole log with their status, and the records that name none", () => {
    const s = summaryOf(lines);
    assert.deepEqual(s.runs.map((r) => [r.run, r.finished?.status]), [["exp-41", "finished"], ["exp-42", "failed"]]);
    assert.equal(s.recordsWithoutRun, 1);
    assert.match(summaryText(s), /^ {2}exp-42 {2}2269 {2}seq \d+\.\.\d+ {2}failed: ValueError: loss is NaN$/m);
  });

  it("compares two runs: the names only one has, counts and success rates side by side, the same names drawn for both", () => {
    const builders = [new SummaryBuilder(), new SummaryBuilder()];
    for (const line of lines) {
      const i = ["exp-41", "exp-42"].indexOf(runOfRecordText(line) ?? "");
      if (i >= 0) builders[i].add(view(line));
    }
    const c = compareRuns(["exp-41", "exp-42"], builders[0], builders[1]);
    const d = c.diff;
    assert.deepEqual([d.variables.onlyA, d.variables.onlyB, d.variables.both], [["v_only_a"], ["v_only_b"], 3]);
    assert.deepEqual([d.rules.onlyA, d.rules.onlyB, d.rules.both], [["rule_z"], ["rule_w"], 2]);
    assert.deepEqual([d.eventTypes.onlyA, d.eventTypes.onlyB], [[], []]);
    assert.deepEqual(d.counts.find((r) => r.type === "variable_weight_update"), { type: "variable_weight_update", a: 3_000, b: 2_000 });
    assert.deepEqual(d.counts.find((r) => r.type === "rule_activation"), { type: "rule_activation", a: 300, b: 240 });
    const ca = activationCounts(lines, "exp-41");
    const cb = activationCounts(lines, "exp-42");
    for (const r of d.ruleActivations) {
      const expect = (c: [number, number, number, number] | undefined) => (c === undefined ? null : c[1] / (c[1] + c[2]));
      assert.equal(r.a?.successRate ?? null, expect(ca.get(r.ruleId)), r.ruleId);
      assert.equal(r.b?.successRate ?? null, expect(cb.get(r.ruleId)), r.ruleId);
    }
    assert.deepEqual(d.ruleActivations.map((r) => r.ruleId).sort(), ["rule_w", "rule_x", "rule_y", "rule_z"]);
    assert.deepEqual(d.weights.map((w) => w.variable).sort(), ["v1", "v2", "v3"]);
    // Both summaries draw from one list of names: each run's own variable is there, for its run only.
    assert.deepEqual(c.a.variables.map((v) => v.variable).sort(), ["v1", "v2", "v3", "v_only_a"]);
    assert.deepEqual(c.b.variables.map((v) => v.variable).sort(), ["v1", "v2", "v3", "v_only_b"]);
    assert.deepEqual(c.b.arcs.map((a) => a.arc), ["arc_a", "arc_d"]);
    const text = comparisonText(c);
    assert.match(text, /^ {2}variables only in exp-41 \(1\): v_only_a$/m);
    assert.match(text, /^ {2}variables only in exp-42 \(1\): v_only_b$/m);
    assert.match(text, /^ {2}rules only in exp-41 \(1\): rule_z$/m);
    assert.match(text, /^ {2}rules only in exp-42 \(1\): rule_w$/m);
    assert.match(text, /^ {2}event types only in exp-41 \(0\): none$/m);
    assert.match(text, /^ {2}variable_weight_update +3000 +2000$/m);
    assert.match(text, /^ {2}status failed: ValueError: loss is NaN$/m);
  });

  it("says how many names one run alone has when it lists only the first", () => {
    const a = new SummaryBuilder();
    const b = new SummaryBuilder();
    let seq = 0;
    const add = (builder: SummaryBuilder, variable: string) => builder.add(view(JSON.stringify({ event_id: "e", timestamp: "2026-11-24T12:00:00.000000+00:00", event_type: "variable_weight_update", data: { variable, from: 0, to: 1 }, seq: ++seq })));
    for (let i = 0; i < 150; i++) add(a, `only_a_${i}`);
    add(b, "shared");
    add(a, "shared");
    const c = compareRuns(["a", "b"], a, b);
    assert.equal(c.diff.variables.onlyA.length, 100);
    assert.equal(c.diff.variables.onlyATotal, 150);
    assert.match(comparisonText(c), /variables only in a \(150\): only_a_0, .*, and 50 more$/m);
  });
});
