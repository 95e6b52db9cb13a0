import assert from "node:assert/strict";
import { SummaryBuilder } from "../../src/summary/aggregate.js";
import { BayesianTrustTracker, confidenceInterval } from "../../src/trust/tracker.js";
import { syntheticLines, syntheticSummary } from "./synthetic-log.js";

const record = (seq: number, eventType: string, data: unknown) => ({
  seq,
  timestamp: `2026-11-24T12:00:${String(seq % 60).padStart(2, "0")}.000000+00:00`,
  eventType,
  json: JSON.stringify({ event_id: `e${seq}`, timestamp: "", event_type: eventType, data, seq }),
});

describe("SummaryBuilder", () => {
  it("replays the tracker's trust_updated records into the trust the tracker has", () => {
    const tracker = new BayesianTrustTracker();
    const builder = new SummaryBuilder({ trustKeysMax: 100 });
    for (const r of syntheticLines({ records: 5_000, minutes: 60, keys: 7, extraTypes: 1 })) {
      builder.add(r);
      if (r.eventType !== "trust_updated") continue;
      const d = (JSON.parse(r.json) as { data: { time: number; outcomes: Array<{ key: string; success: boolean; weight: number }> } }).data;
      for (const o of d.outcomes) tracker.update(o.key, o.success, o.weight, d.time);
    }
    const data = builder.build();
    assert.equal(data.trust.length, 7);
    for (const k of data.trust) {
      const m = tracker.metrics(k.key);
      const last = k.points[k.points.length - 1];
      assert.equal(k.source, "trust_updated");
      assert.equal(k.samples, m.sampleSize, k.key);
      assert.equal(last.trust, m.trust, k.key);
      assert.deepEqual([last.lo, last.hi], [m.confidenceLower, m.confidenceUpper]);
    }
  });

  it("applies trust_decayed to the replayed counts and notes trust_state_loaded", () => {
    const b = new SummaryBuilder();
    const audit = (seq: number, type: string, data: Record<string, unknown>) => record(seq, type, { ...data, prev_seq: seq - 1, mac: "m" });
    for (let seq = 1; seq <= 8; seq++) b.add(audit(seq, "trust_updated", { time: 1_795_521_600 + seq, outcomes: [{ key: "k", success: true, weight: 1 }] }));
    b.add(audit(9, "trust_decayed", { key: null, factor: 0.5, min_count: 0 }));
    b.add(audit(10, "trust_state_loaded", { mode: "merge", key_count: 3, source: "stream", import_id: "i", sha256: "s" }));
    // A look-alike without the audit fields is not the tracker's.
    b.add(record(11, "trust_updated", { time: 1, outcomes: [{ key: "k", success: false, weight: 100 }] }));
    const data = b.build();
    const k = data.trust[0];
    assert.equal(k.points.length, 9);
    // Beta(9, 1) halved: Beta(4.5, 1).
    const last = k.points[8];
    assert.equal(last.trust, 4.5 / 5.5);
    assert.deepEqual([last.lo, last.hi], confidenceInterval(4.5, 1));
    assert.equal(last.s, 9);
    assert.deepEqual(data.trustStateLoads, [10]);
  });

  it("counts every record once in the by-seq timeline, in between 60 and 120 buckets", () => {
    for (const records of [1, 59, 120, 121, 10_000, 100_000]) {
      const data = syntheticSummary({ records, minutes: 10, keys: 2, extraTypes: 3 });
      const n = data.seqTimeline.starts.length;
      assert.ok(n <= 120 && (records < 60 || n >= 60), `${records} records: ${n} buckets`);
      const total = Object.values(data.seqTimeline.counts).reduce((s, c) => s + c.reduce((a, x) => a + x, 0), 0);
      assert.equal(total, records);
      for (const [type, c] of Object.entries(data.seqTimeline.counts)) assert.equal(c.reduce((a, x) => a + x, 0), data.countsByType[type], type);
      assert.deepEqual(data.seqTimeline.starts.slice(0, 2), [1, 1 + data.seqTimeline.bucketSize].slice(0, n));
    }
  });

  it("counts the variables and trust series it leaves out", () => {
    const data = syntheticSummary({ records: 3_000, minutes: 10, keys: 20, extraTypes: 0 });
    assert.equal(data.variablesTotal, 12);
    assert.equal(data.variables.length, 8);
    assert.equal(data.trustTotal, 20);
    assert.equal(data.trust.length, 6);
  });
});
