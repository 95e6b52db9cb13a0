import assert from "node:assert/strict";
import { median, rateOf, spread, usOf, type Measured } from "../../bench/scenarios.js";

const measured = (usPerEvent: number, eventsPerSecond?: number): Measured => ({
  usPerEvent,
  loadAverage: 1,
  peakRssBytes: 0,
  result: eventsPerSecond === undefined ? undefined : { events: eventsPerSecond, seconds: 1, eventsPerSecond, latency: { count: 0, p50Ms: Number.NaN, p99Ms: Number.NaN } },
});

describe("bench/scenarios: medians and spreads of repeated runs", () => {
  it("median of an odd and of an even count, in any order", () => {
    assert.equal(median([9, 1, 5]), 5);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([2, 10, 100]), 10, "numeric order, not text");
  });

  it("median leaves out runs without a figure (NaN), and is NaN when none has one", () => {
    assert.equal(median([Number.NaN, 7, 3, Number.POSITIVE_INFINITY]), 5);
    assert.ok(Number.isNaN(median([])));
    assert.ok(Number.isNaN(median([Number.NaN])));
  });

  it("spread gives min, median and max of the finite values", () => {
    assert.deepEqual(spread([12, 9.5, Number.NaN, 10]), { min: 9.5, median: 10, max: 12 });
    assert.deepEqual(spread([4]), { min: 4, median: 4, max: 4 });
    const none = spread([Number.NaN]);
    assert.ok(Number.isNaN(none.min) && Number.isNaN(none.median) && Number.isNaN(none.max));
  });

  it("usOf and rateOf are the medians of a server's runs; a failed run counts as no figure", () => {
    const runs = [measured(10, 100_000), measured(8, 120_000), measured(Number.NaN), measured(30, 50_000)];
    assert.equal(usOf(runs), 10);
    assert.equal(rateOf(runs), 100_000);
    assert.ok(Number.isNaN(usOf(undefined)));
    assert.ok(Number.isNaN(rateOf([])));
  });
});
