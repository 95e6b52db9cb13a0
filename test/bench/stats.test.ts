import assert from "node:assert/strict";
import { LatencyRecorder } from "../../bench/stats.js";

function summaryOf(values: readonly number[]) {
  const recorder = new LatencyRecorder();
  for (const v of values) recorder.add(v);
  return recorder.summary();
}

describe("bench/stats: ack latency percentiles", () => {
  it("gives nearest-rank p50 and p99 of 1..100 whatever the order they came in", () => {
    const values = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    assert.deepEqual(summaryOf(values), { count: 100, p50Ms: 50, p99Ms: 99 });
  });

  it("takes the rank above when p% of the count is not whole", () => {
    // ceil(0.5 * 7) = 4th, ceil(0.99 * 7) = 7th
    assert.deepEqual(summaryOf([7, 1, 6, 2, 5, 3, 4]), { count: 7, p50Ms: 4, p99Ms: 7 });
    // ceil(0.99 * 1000) = 990th: the 10 slowest are above p99
    const thousand = Array.from({ length: 1000 }, (_, i) => i + 0.5);
    assert.deepEqual(summaryOf(thousand), { count: 1000, p50Ms: 499.5, p99Ms: 989.5 });
  });

  it("sorts numerically, not as text", () => {
    assert.deepEqual(summaryOf([10, 9, 100, 2]), { count: 4, p50Ms: 9, p99Ms: 100 });
  });

  it("gives the one value for one sample, and NaN for none", () => {
    assert.deepEqual(summaryOf([3.25]), { count: 1, p50Ms: 3.25, p99Ms: 3.25 });
    const none = summaryOf([]);
    assert.equal(none.count, 0);
    assert.ok(Number.isNaN(none.p50Ms) && Number.isNaN(none.p99Ms));
  });
});
