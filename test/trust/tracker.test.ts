import assert from "node:assert/strict";
import { BayesianTrustTracker, confidenceInterval, confidenceStrength, sampleSize, trustOf } from "../../src/trust/tracker.js";

// Every expected number below was worked out by hand from the formulas of
// the original module (DESIGN.md), not read back from the code:
//   trust = a/(a+b); CI = p ± z·sqrt(p(1-p)/n), n = a+b, clamped to [0,1];
//   sample_size = int(a+b-2); strength = 1/(1+exp(-0.1·(n_obs-10))), n_obs = a+b-2.
const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-7, `${what}: ${actual} is not ${expected}`);

describe("trust formulas (hand-computed)", () => {
  it("trust is alpha / (alpha + beta)", () => {
    assert.equal(trustOf(1, 1), 0.5);
    assert.equal(trustOf(8, 2), 0.8);
    assert.equal(trustOf(3, 1), 0.75);
    close(trustOf(31, 71), 0.3039216, "31/102");
  });

  it("the interval at the prior (1,1) is clamped on both sides", () => {
    // p = .5, n = 2: margin = 1.96·sqrt(.25/2) = 1.96·0.3535534 = 0.6929646; .5 ± that leaves [0, 1].
    const [lo, hi] = confidenceInterval(1, 1);
    assert.equal(lo, 0);
    assert.equal(hi, 1);
  });

  it("the interval of Beta(8,2) is clamped above only", () => {
    // p = .8, n = 10: margin = 1.96·sqrt(.16/10) = 1.96·0.1264911 = 0.2479226 -> [0.5520774, 1.0479226 -> 1].
    const [lo, hi] = confidenceInterval(8, 2);
    close(lo, 0.5520774, "lower");
    assert.equal(hi, 1);
  });

  it("the interval of Beta(1,9) is clamped below only", () => {
    // p = .1, n = 10: margin = 1.96·sqrt(.09/10) = 1.96·0.0948683 = 0.1859419 -> [-0.0859419 -> 0, 0.2859419].
    const [lo, hi] = confidenceInterval(1, 9);
    assert.equal(lo, 0);
    close(hi, 0.2859419, "upper");
  });

  it("the interval of Beta(31,71) is not clamped", () => {
    // p = 31/102 = 0.3039216, p(1-p) = 0.2115533, /102 = 0.0020741, sqrt = 0.0455417, ·1.96 = 0.0892618.
    const [lo, hi] = confidenceInterval(31, 71);
    close(lo, 0.2146597, "lower");
    close(hi, 0.3931834, "upper");
  });

  it("z changes the width: z = 1 on Beta(8,2)", () => {
    // margin = 1·0.1264911 -> [0.6735089, 0.9264911].
    const [lo, hi] = confidenceInterval(8, 2, 1);
    close(lo, 0.6735089, "lower");
    close(hi, 0.9264911, "upper");
  });

  it("sample size truncates alpha + beta - 2 like Python's int()", () => {
    assert.equal(sampleSize(1, 1), 0);
    assert.equal(sampleSize(8, 2), 8);
    assert.equal(sampleSize(31, 71), 100);
    assert.equal(sampleSize(1.5, 1.9), 1); // 1.4
    assert.equal(sampleSize(1.25, 1.25), 0); // 0.5
  });

  it("strength is the logistic of the observation count around 10", () => {
    close(confidenceStrength(1, 1), 0.2689414, "n_obs 0: 1/(1+e)");
    close(confidenceStrength(8, 2), 0.450166, "n_obs 8: 1/(1+e^0.2)");
    assert.equal(confidenceStrength(6, 6), 0.5); // n_obs 10
    close(confidenceStrength(31, 71), 0.9998766, "n_obs 100: 1/(1+e^-9)");
  });
});

describe("BayesianTrustTracker", () => {
  it("adds weight to alpha on success and to beta on failure, recording time and history", () => {
    const t = new BayesianTrustTracker();
    t.update("r", true, 1, 100);
    t.update("r", true, 2.5, 101);
    t.update("r", false, 0.5, 102);
    const m = t.metrics("r");
    assert.equal(m.alpha, 4.5);
    assert.equal(m.beta, 1.5);
    assert.equal(m.trust, 0.75); // 4.5 / 6
    assert.equal(m.sampleSize, 4);
    assert.equal(m.lastUpdate, 102);
    assert.deepEqual(t.records()[0].history, [
      { time: 100, trust: 2 / 3 },
      { time: 101, trust: 4.5 / 5.5 },
      { time: 102, trust: 0.75 },
    ]);
  });

  it("answers the prior for a key never seen, without creating it", () => {
    const t = new BayesianTrustTracker();
    const m = t.metrics("nobody");
    assert.deepEqual([m.alpha, m.beta, m.trust, m.sampleSize, m.lastUpdate], [1, 1, 0.5, 0, undefined]);
    assert.equal(t.size, 0);
  });

  it("keeps the newest history points up to the limit", () => {
    const t = new BayesianTrustTracker({ historyPointsMax: 3 });
    for (let i = 0; i < 5; i++) t.update("k", true, 1, i);
    assert.deepEqual(
      t.records()[0].history.map((p) => p.time),
      [2, 3, 4],
    );
  });

  describe("decay", () => {
    it("multiplies alpha and beta by the factor, never below 1", () => {
      const t = new BayesianTrustTracker();
      t.load([{ key: "k", alpha: 10, beta: 4, history: [] }], "replace");
      assert.deepEqual(t.decay("k", 0.5, 0), ["k"]);
      assert.deepEqual([t.metrics("k").alpha, t.metrics("k").beta], [5, 2]);
      t.decay("k", 0.1, 0); // 0.5 and 0.2, both raised to the prior
      assert.deepEqual([t.metrics("k").alpha, t.metrics("k").beta], [1, 1]);
    });

    it("touches only keys with alpha + beta > min_count", () => {
      const t = new BayesianTrustTracker();
      t.load(
        [
          { key: "a", alpha: 10, beta: 4, history: [] }, // 14
          { key: "b", alpha: 3, beta: 3, history: [] }, // 6
        ],
        "replace",
      );
      assert.deepEqual(t.decay(undefined, 0.5, 14), []); // 14 is not > 14
      assert.deepEqual(t.decay(undefined, 0.5, 13.9), ["a"]);
      assert.deepEqual([t.metrics("a").alpha, t.metrics("a").beta], [5, 2]);
      assert.deepEqual([t.metrics("b").alpha, t.metrics("b").beta], [3, 3]);
      assert.deepEqual(t.decay(undefined, 0.5, 0).sort(), ["a", "b"]);
      assert.deepEqual([t.metrics("b").alpha, t.metrics("b").beta], [1.5, 1.5]);
    });

    it("does not count keys already at the prior or unknown keys", () => {
      const t = new BayesianTrustTracker();
      t.update("k", true, 1, 1);
      t.decay("k", 0.1, 0); // 2·0.1 -> 1
      assert.deepEqual(t.decay("k", 0.5, 0), []);
      assert.deepEqual(t.decay("unknown", 0.5, 0), []);
      assert.equal(t.size, 1);
    });
  });

  describe("report", () => {
    const tracker = () => {
      const t = new BayesianTrustTracker();
      t.load(
        [
          { key: "high-b", alpha: 9, beta: 1, history: [] }, // 0.9, n 8
          { key: "high-a", alpha: 9, beta: 1, history: [] }, // 0.9, n 8: ties sort by key
          { key: "top", alpha: 19, beta: 1, history: [] }, // 0.95, n 18
          { key: "edge-high", alpha: 8, beta: 2, history: [] }, // 0.8 exactly: high (>=)
          { key: "mid", alpha: 5, beta: 5, history: [] }, // 0.5
          { key: "low", alpha: 1, beta: 9, history: [] }, // 0.1
          { key: "edge-low", alpha: 2, beta: 8, history: [] }, // 0.2 exactly: low (<=)
          { key: "bottom", alpha: 1, beta: 19, history: [] }, // 0.05
          { key: "few", alpha: 4, beta: 1, history: [] }, // 0.8 but sample size 3 < 5
        ],
        "replace",
      );
      return t;
    };

    it("lists high trust highest first and low trust lowest first, ties by key", () => {
      const r = tracker().report();
      assert.deepEqual(
        r.highTrust.map((m) => m.key),
        ["top", "high-a", "high-b", "edge-high"],
      );
      assert.deepEqual(
        r.lowTrust.map((m) => m.key),
        ["bottom", "low", "edge-low"],
      );
    });

    it("summarises the keys with enough samples", () => {
      const r = tracker().report();
      // Reported: all but "few" (8 keys); mean = (0.9+0.9+0.95+0.8+0.5+0.1+0.2+0.05)/8 = 4.4/8 = 0.55.
      assert.equal(r.summary.totalKeys, 9);
      assert.equal(r.summary.reportedKeys, 8);
      close(r.summary.meanTrust, 0.55, "mean");
      assert.deepEqual(
        [r.summary.highTrustCount, r.summary.lowTrustCount, r.summary.minSamples, r.summary.highThreshold, r.summary.lowThreshold],
        [4, 3, 5, 0.8, 0.2],
      );
    });

    it("applies min_samples and thresholds", () => {
      const r = tracker().report({ minSamples: 10, highThreshold: 0.9, lowThreshold: 0.05 });
      // Sample size >= 10: top (18), bottom (18) only.
      assert.equal(r.summary.reportedKeys, 2);
      assert.deepEqual(
        r.highTrust.map((m) => m.key),
        ["top"],
      );
      assert.deepEqual(
        r.lowTrust.map((m) => m.key),
        ["bottom"],
      );
      const all = tracker().report({ minSamples: 0 });
      assert.equal(all.summary.reportedKeys, 9);
    });

    it("has a mean of 0 when no key is reported", () => {
      const r = new BayesianTrustTracker().report();
      assert.deepEqual([r.summary.totalKeys, r.summary.reportedKeys, r.summary.meanTrust], [0, 0, 0]);
    });
  });

  it("loads records in replace and merge mode", () => {
    const t = new BayesianTrustTracker();
    t.update("a", true, 1, 1);
    t.update("b", true, 1, 1);
    t.load([{ key: "b", alpha: 5, beta: 5, lastUpdate: 9, history: [{ time: 9, trust: 0.5 }] }], "merge");
    assert.deepEqual(
      t.records().map((r) => [r.key, r.alpha, r.beta]),
      [
        ["a", 2, 1],
        ["b", 5, 5],
      ],
    );
    t.load([{ key: "c", alpha: 3, beta: 1, history: [] }], "replace");
    assert.deepEqual(
      t.records().map((r) => r.key),
      ["c"],
    );
  });
});
