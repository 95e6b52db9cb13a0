import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ImportMode, type KeyMetrics } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { arrangements, type TrustSetup } from "./helpers/arrangements.js";
import { recordsOfType } from "./helpers/log.js";
import { exportAll } from "./helpers/rpc.js";

// Debian's interpreter (the one with the project's Python packages); override with PYTHON.
const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./fixtures/original_tracker.py", import.meta.url));

async function python(command: "export" | "check", path: string): Promise<unknown> {
  const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, command, path], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout);
}

interface PythonMetrics {
  trust: number;
  confidence_interval: [number, number];
  confidence_strength: number;
  sample_size: number;
  alpha: number;
  beta: number;
}

/** Python's and our metrics agree (exp may differ in the last bit between libms). */
function sameMetrics(ours: KeyMetrics, theirs: PythonMetrics): void {
  assert.equal(ours.alpha, theirs.alpha);
  assert.equal(ours.beta, theirs.beta);
  assert.equal(ours.trust, theirs.trust);
  assert.equal(ours.confidenceLower, theirs.confidence_interval[0]);
  assert.equal(ours.confidenceUpper, theirs.confidence_interval[1]);
  assert.ok(Math.abs(ours.confidenceStrength - theirs.confidence_strength) < 1e-15);
  assert.equal(Number(ours.sampleSize), theirs.sample_size);
}

// Both directions with the original module's file format, checked by Python's own json module.
for (const arrangement of arrangements) {
  describe(`trust file interop with the original (Python), ${arrangement.name}`, () => {
    let dir: TempDir;
    let s: TrustSetup;
    beforeEach(async () => {
      dir = await tempDir("pulse-trust-interop-");
      s = await arrangement.start(dir.path);
    });
    afterEach(async () => {
      await s.stop();
      await dir.remove();
    });

    it("imports a file exported by the original tracker, with the same metrics and history", async () => {
      const expected = (await python("export", join(s.trustDir, "from_original.json"))) as Record<string, PythonMetrics & { last_update: number; history: { times: number[]; values: number[] } }>;
      const res = await s.trust.importTrustFromFile({ path: "from_original.json" });
      assert.deepEqual([res.found, res.keyCount], [true, 4]);
      const keys = Object.keys(expected).sort();
      // "only-read-never-updated" was in "timestamps" only: no Beta state, not imported.
      assert.deepEqual(
        (await exportAll(s.trust)).map((r) => r.key),
        keys,
      );
      const { metrics } = await s.trust.getMetrics({ keys });
      metrics.forEach((m, i) => sameMetrics(m, expected[keys[i]]));
      for (const record of await exportAll(s.trust)) {
        const theirs = expected[record.key];
        assert.equal(record.lastUpdate, theirs.last_update);
        assert.deepEqual(
          record.history.map((p) => p.time),
          theirs.history.times,
        );
        assert.deepEqual(
          record.history.map((p) => p.trust),
          theirs.history.values,
        );
      }
    });

    it("ImportTrustData of the original's file logs trust_data_imported", async () => {
      await python("export", join(s.trustDir, "legacy.json"));
      const res = await s.log.importTrustData({ filepath: "legacy.json" });
      assert.equal(res.success, true);
      const [event] = await recordsOfType(s.frontLogPath, "trust_data_imported");
      assert.deepEqual(event.data, { filepath: "legacy.json" });
    });

    it("writes files that Python's json loads with the original's structure, floats and all", async () => {
      await s.trust.batchUpdate({
        outcomes: [
          { key: "r1", success: true },
          { key: "r1", success: true, weight: 2 },
          { key: "r2", success: false, weight: 0.1 },
          { key: 'we"ird\\key ü', success: true },
          { key: "__proto__", success: false },
        ],
      });
      await s.trust.applyDecay({ key: "r1", factor: 0.5 });
      await s.trust.importTrust([{ mode: ImportMode.MERGE, records: [{ key: "never-updated", alpha: 3, beta: 1 }] }]);
      const ours = await exportAll(s.trust);
      await s.trust.exportTrustToFile({ path: "for_python.json" });
      const checked = (await python("check", join(s.trustDir, "for_python.json"))) as {
        problems: string[];
        found: boolean;
        metrics: Record<string, PythonMetrics>;
        data: { stats: Record<string, [number, number]>; last_update: Record<string, number>; timestamps: Record<string, { times: number[]; values: number[] }> };
      };
      assert.deepEqual(checked.problems, []);
      assert.equal(checked.found, true);
      const keys = ours.map((r) => r.key);
      assert.deepEqual(Object.keys(checked.metrics), keys);
      const { metrics } = await s.trust.getMetrics({ keys });
      metrics.forEach((m, i) => sameMetrics(m, checked.metrics[keys[i]]));
      for (const r of ours) {
        assert.deepEqual(checked.data.stats[r.key], [r.alpha, r.beta]);
        assert.equal(checked.data.last_update[r.key], r.lastUpdate);
        assert.deepEqual(checked.data.timestamps[r.key], { times: r.history.map((p) => p.time), values: r.history.map((p) => p.trust) });
      }
      // A key without a last update has no "last_update" entry, as in the original.
      assert.equal(Object.hasOwn(checked.data.last_update, "never-updated"), false);
      // Written the way Python's json.dump writes: integral floats keep their ".0".
      assert.match(await readFile(join(s.trustDir, "for_python.json"), "utf8"), /"never-updated": \[3\.0, 1\.0\]/);
    });
  });
}
