import assert from "node:assert/strict";
import fc from "fast-check";
import { DedupWindow } from "../../src/store/dedup-window.js";

describe("DedupWindow", () => {
  it("remembers at least the last `capacity` ids with their seq and commit timestamp", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 40 }), (capacity, commitSizes) => {
        const w = new DedupWindow(capacity);
        const written: Array<{ id: string; seq: number; timestamp: string }> = [];
        let seq = 0;
        commitSizes.forEach((size, c) => {
          const timestamp = `t${c}`;
          const ids = Array.from({ length: size }, (_, i) => `c${c}-e${i}`);
          const seqs = ids.map(() => ++seq);
          w.addCommit(timestamp, ids, seqs);
          ids.forEach((id, i) => written.push({ id, seq: seqs[i], timestamp }));
        });
        for (const r of written.slice(-capacity)) assert.deepEqual(w.get(r.id), { seq: r.seq, timestamp: r.timestamp });
        // Never more than twice the capacity.
        const remembered = written.filter((r) => w.get(r.id) !== undefined).length;
        assert.ok(remembered <= 2 * capacity);
      }),
    );
  });

  it("loads records read from the log's tail", () => {
    const w = new DedupWindow(10);
    w.load([
      { eventId: "a", seq: 5, timestamp: "t1" },
      { eventId: "b", seq: 6, timestamp: "t1" },
      { eventId: "c", seq: 7, timestamp: "t2" },
    ]);
    assert.deepEqual(w.get("b"), { seq: 6, timestamp: "t1" });
    assert.deepEqual(w.get("c"), { seq: 7, timestamp: "t2" });
    assert.equal(w.get("z"), undefined);
  });
});
