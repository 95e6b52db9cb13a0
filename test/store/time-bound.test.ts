import assert from "node:assert/strict";
import fc from "fast-check";
import { formatTimestamp } from "../../src/clock.js";
import { parseTimeBound, TimeBound } from "../../src/store/time-bound.js";

const T0 = Date.UTC(2026, 10, 24, 19, 0, 0) * 1000; // microseconds

/** compareBytes of a timestamp placed in the middle of other bytes (as in a chunk read). */
function compareInChunk(bound: TimeBound, timestamp: string): number {
  const chunk = Buffer.from(`{"timestamp":"${timestamp}","x":1}`);
  const start = chunk.indexOf(timestamp);
  return bound.compareBytes(chunk, start, start + Buffer.byteLength(timestamp));
}

describe("TimeBound", () => {
  it("orders canonical timestamps, as text and as bytes, like their microseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 1e12 }), fc.integer({ min: -1e12, max: 1e12 }), (b, t) => {
        const bound = new TimeBound(T0 + b);
        const ts = formatTimestamp(T0 + t);
        const want = Math.sign(t - b);
        assert.equal(bound.compare(ts), want);
        assert.equal(compareInChunk(bound, ts), want);
      }),
      { numRuns: 300 },
    );
  });

  it("compares other offsets and fractions by the instant they name", () => {
    const bound = new TimeBound(T0); // 2026-11-24T19:00:00.000000+00:00
    for (const [ts, want] of [
      ["2026-11-24T19:00:00+00:00", 0],
      ["2026-11-24T19:00:00Z", 0],
      ["2026-11-24T21:00:00.000001+02:00", 1],
      ["2026-11-24T18:59:59.9Z", -1],
      ["2026-11-24T14:00:00-05:00", 0],
    ] as const) {
      assert.equal(bound.compare(ts), want, ts);
      assert.equal(compareInChunk(bound, ts), want, ts);
    }
  });

  it("says NaN for a timestamp that does not parse", () => {
    const bound = new TimeBound(T0);
    for (const ts of ["", "yesterday", "2026-11-24T19:00:00", "2026-11-24T19:00:00.000000+00:0x"]) {
      assert.ok(Number.isNaN(bound.compare(ts)), ts);
      assert.ok(Number.isNaN(compareInChunk(bound, ts)), ts);
    }
  });
});

describe("parseTimeBound", () => {
  it("accepts record timestamps and ISO 8601 times with an offset", () => {
    assert.equal(parseTimeBound("2026-11-24T19:05:53.700123+00:00"), Date.UTC(2026, 10, 24, 19, 5, 53, 700) * 1000 + 123);
    assert.equal(parseTimeBound("2026-11-24T19:05Z"), Date.UTC(2026, 10, 24, 19, 5) * 1000);
    assert.equal(parseTimeBound("2026-11-24T21:05:00+02:00"), Date.UTC(2026, 10, 24, 19, 5) * 1000);
    assert.equal(parseTimeBound("2026-11-24T19:05:53.1234567Z"), Date.UTC(2026, 10, 24, 19, 5, 53, 123) * 1000 + 456);
  });
  it("rejects times without an offset or that are not times", () => {
    for (const bad of ["", "yesterday", "2026-11-24", "2026-11-24T19:05:53", "2026-13-45T99:99Z", "1700000000"]) {
      assert.equal(parseTimeBound(bad), undefined, bad);
    }
  });
});
