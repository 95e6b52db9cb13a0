import assert from "node:assert/strict";
import fc from "fast-check";
import { RunSpans, SPANS_MAX } from "../../src/runs/run-spans.js";

/** Checks the spans' invariants against the seqs added: sorted, disjoint, every seq inside one, each end a seq of the run. */
function checkSpans(flat: number[], seqs: ReadonlySet<number>, gap: number): void {
  for (let i = 0; i < flat.length; i += 2) {
    assert.ok(flat[i] <= flat[i + 1], "a span's first <= last");
    if (i > 0) assert.ok(flat[i] - flat[i - 1] > gap, "spans closer than the gap are one span");
    assert.ok(seqs.has(flat[i]) && seqs.has(flat[i + 1]), "a span starts and ends at the run's records");
  }
  for (const seq of seqs) {
    let inside = false;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] <= seq && seq <= flat[i + 1]) inside = true;
    assert.ok(inside, `seq ${seq} is in a span`);
  }
}

describe("run spans", () => {
  it("cover every seq added, in any order, sorted and disjoint, ending at the run's own records", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (seqs, gap) => {
        const spans = new RunSpans(gap);
        for (const s of seqs) spans.add(s);
        checkSpans(spans.toArray(), new Set(seqs), gap);
        // Added in seq order, the same spans.
        const ordered = new RunSpans(gap);
        for (const s of [...seqs].sort((a, b) => a - b)) ordered.add(s);
        assert.deepEqual(ordered.toArray(), spans.toArray());
      }),
    );
  });

  it("joins several runs' spans into sorted, disjoint spans covering all of them", () => {
    fc.assert(
      fc.property(fc.array(fc.uniqueArray(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 50 }), { minLength: 1, maxLength: 5 }), (runs) => {
        const spans = runs.map((seqs) => {
          const r = new RunSpans(8);
          for (const s of seqs) r.add(s);
          return r;
        });
        const union = RunSpans.union(spans);
        for (let i = 2; i < union.length; i += 2) assert.ok(union[i] > union[i - 1] + 1);
        for (const seq of runs.flat()) assert.ok(union.some((_, i) => i % 2 === 0 && union[i] <= seq && seq <= union[i + 1]));
      }),
    );
  });

  it("keeps its memory bounded: past the span limit the gap doubles and close spans merge", () => {
    const spans = new RunSpans(1);
    const seqs = new Set<number>();
    for (let i = 1; i <= SPANS_MAX + 10; i++) {
      spans.add(i * 3);
      seqs.add(i * 3);
    }
    assert.ok(spans.length <= SPANS_MAX, `${spans.length} spans`);
    const { gap } = spans.toJSON();
    assert.ok(gap > 1);
    checkSpans(spans.toArray(), seqs, gap);
    assert.deepEqual(RunSpans.fromJSON(spans.toJSON()).toArray(), spans.toArray());
  });
});
