import assert from "node:assert/strict";
import fc from "fast-check";
import { LocalTrustTracker } from "../../src/trust/local-tracker.js";
import { decodeSnapshot, TrustStateStore } from "../../src/trust/state-store.js";
import { BayesianTrustTracker, confidenceInterval } from "../../src/trust/tracker.js";
import { decodeTrustFile, encodeTrustFile } from "../../src/trust/trust-file.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { opArb, recordsArb, timeArb } from "./helpers/arbitraries.js";
import { arrangements, type TrustSetup } from "./helpers/arrangements.js";
import { exportAll } from "./helpers/rpc.js";

const alphaBeta = fc.double({ min: 1, max: 1e12, noNaN: true, noDefaultInfinity: true });

/** A tracker after a run of random changes, applied to the pure tracker. */
function run(ops: fc.Arbitrary<Array<import("./helpers/arbitraries.js").Op>>) {
  return ops.map((list) => {
    const t = new BayesianTrustTracker();
    let time = 1_700_000_000;
    for (const op of list) {
      time += 1.5;
      if (op.kind === "update") for (const o of op.outcomes) t.update(o.key, o.success, o.weight ?? 1, time);
      else t.decay(op.key, op.factor, op.minCount);
    }
    return t;
  });
}

describe("trust properties (fast-check)", () => {
  it("trust stays in [0, 1] whatever the updates and decays", () => {
    fc.assert(
      fc.property(run(fc.array(opArb, { maxLength: 30 })), (t) => {
        for (const r of t.records()) {
          const m = t.metrics(r.key);
          assert.ok(m.trust >= 0 && m.trust <= 1, `trust ${m.trust}`);
          for (const p of r.history) assert.ok(p.trust >= 0 && p.trust <= 1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the confidence interval lies in [0, 1] and contains the trust", () => {
    fc.assert(
      fc.property(alphaBeta, alphaBeta, fc.double({ min: 1e-6, max: 100, noNaN: true }), (alpha, beta, z) => {
        const [lo, hi] = confidenceInterval(alpha, beta, z);
        const trust = alpha / (alpha + beta);
        assert.ok(lo >= 0 && hi <= 1, `[${lo}, ${hi}]`);
        assert.ok(lo <= trust && trust <= hi, `${trust} not in [${lo}, ${hi}]`);
      }),
      { numRuns: 2000 },
    );
  });

  it("decay never takes alpha or beta below the prior, and never raises them", () => {
    fc.assert(
      fc.property(recordsArb, fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }), fc.double({ min: 0, max: 1e6, noNaN: true }), (records, factor, minCount) => {
        const t = new BayesianTrustTracker();
        t.load(records, "replace");
        t.decay(undefined, factor, minCount);
        for (const before of records) {
          const after = t.metrics(before.key);
          assert.ok(after.alpha >= 1 && after.beta >= 1, `${after.alpha}, ${after.beta}`);
          assert.ok(after.alpha <= before.alpha && after.beta <= before.beta);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("export to the original's file format then import is the identity", () => {
    fc.assert(
      fc.property(recordsArb, timeArb, (records, exportTime) => {
        assert.deepEqual(decodeTrustFile(encodeTrustFile(records, exportTime), "p.json"), records);
      }),
      { numRuns: 500 },
    );
  });

  it("a snapshot encodes and decodes to the same records", async () => {
    await fc.assert(
      fc.asyncProperty(recordsArb, fc.nat(), async (records, seq) => {
        const back = decodeSnapshot(await TrustStateStore.encodeSnapshot({ seq: seq + 1, trustSeq: seq, records }, 1), "test");
        assert.deepEqual(back, { seq: seq + 1, trustSeq: seq, records });
      }),
      { numRuns: 300 },
    );
  });

  describe("through the in-process tracker", () => {
    let dir: TempDir;
    beforeEach(async () => {
      dir = await tempDir("pulse-trust-prop-");
    });
    afterEach(async () => {
      await dir.remove();
    });

    it("ExportRecords then ImportRecords (replace) is the identity, as is a file round trip", async () => {
      let seq = 0;
      const audit = async () => ++seq;
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { maxLength: 20 }), recordsArb, async (ops, noise) => {
          const t = new LocalTrustTracker({ audit, trustDir: dir.path });
          for (const op of ops) {
            if (op.kind === "update") await t.update(op.outcomes);
            else await t.applyDecay(op.key, op.factor, op.minCount);
          }
          const exported = await t.exportRecords();
          await t.exportToFile("prop.json");
          // Scramble the state, then import the export: exactly as before.
          await t.importRecords(noise, "merge");
          await t.importRecords(exported, "replace");
          assert.deepEqual(await t.exportRecords(), exported);
          await t.importRecords(noise, "replace");
          assert.equal((await t.importFromFile("prop.json", "replace")).found, true);
          assert.deepEqual(await t.exportRecords(), exported);
          await t.close();
        }),
        { numRuns: 60 },
      );
    });
  });

  for (const arrangement of arrangements) {
    describe(`over RPC, ${arrangement.name}`, () => {
      let dir: TempDir;
      let s: TrustSetup;
      before(async () => {
        dir = await tempDir("pulse-trust-prop-rpc-");
        s = await arrangement.start(dir.path);
      });
      after(async () => {
        await s.stop();
        await dir.remove();
      });

      it("ImportTrust then ExportTrust is the identity, and so is ExportTrustToFile then ImportTrustFromFile", async () => {
        await fc.assert(
          fc.asyncProperty(recordsArb, async (records) => {
            await s.trust.importTrust([{ records }]);
            assert.deepEqual(await exportAll(s.trust), records);
            await s.trust.exportTrustToFile({ path: "p.json" });
            await s.trust.importTrust([{ records: [] }]);
            await s.trust.importTrustFromFile({ path: "p.json" });
            assert.deepEqual(await exportAll(s.trust), records);
          }),
          { numRuns: 25 },
        );
      });
    });
  }
});
