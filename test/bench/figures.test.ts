import assert from "node:assert/strict";
import { minMedianMax, ratioOfMedians, textTable } from "../../bench/figures.js";

describe("bench/figures: repeated figures as the measurement scripts print them", () => {
  it("minMedianMax orders the repeats and leaves out those without a figure", () => {
    assert.equal(minMedianMax([3.5, 1.25, 2]), "1.25 / 2.00 / 3.50");
    assert.equal(minMedianMax([10, Number.NaN, 30], 1), "10.0 / 20.0 / 30.0");
    assert.equal(minMedianMax([]), "n/a");
  });

  it("ratioOfMedians divides medians, not means or first runs", () => {
    // medians 4 and 2; the means (5.33 and 2) would give 2.67x
    assert.equal(ratioOfMedians([4, 2, 10], [2, 1, 3]), "2.00x");
    assert.equal(ratioOfMedians([1], [3]), "0.33x");
    assert.equal(ratioOfMedians([1, 2, 3], [0]), "n/a");
    assert.equal(ratioOfMedians([1], [Number.NaN]), "n/a");
    assert.equal(ratioOfMedians([], [1]), "n/a");
  });

  it("textTable aligns the first column left and the figures right", () => {
    assert.equal(
      textTable([
        ["row", "us", "ratio"],
        ["reference", "10.50", "1.00x"],
        ["fast", "2.1", "0.20x"],
      ]),
      ["row           us  ratio", "reference  10.50  1.00x", "fast         2.1  0.20x"].join("\n"),
    );
  });
});
