import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { ImportMode, TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient } from "../../src/rpc/client.js";
import { startServer, tempDir, type TempDir } from "../helpers/server.js";
import { arrangements, type TrustSetup } from "./helpers/arrangements.js";
import { readLog, recordsOfType, stateFromAuditTrail } from "./helpers/log.js";
import { exportAll, rejectsWith } from "./helpers/rpc.js";

// The RPC-level trust suite. It runs once per arrangement: the tracker in
// process, and a front server reaching a second server's tracker through
// --trust-tracker (the generated gRPC stub). Every assertion holds for both.
for (const arrangement of arrangements) {
  describe(`trust service, ${arrangement.name}`, () => {
    let dir: TempDir;
    let s: TrustSetup;

    beforeEach(async () => {
      dir = await tempDir("pulse-trust-");
      s = await arrangement.start(dir.path);
    });
    afterEach(async () => {
      await s.stop();
      await dir.remove();
    });

    describe("updates", () => {
      it("Update adds the weight and answers with the metrics and the seq of its audit record", async () => {
        const first = await s.trust.update({ outcome: { key: "rule-1", success: true } });
        const second = await s.trust.update({ outcome: { key: "rule-1", success: false, weight: 2 } });
        assert.deepEqual([first.metrics!.alpha, first.metrics!.beta, first.metrics!.trust, first.metrics!.sampleSize], [2, 1, 2 / 3, 1n]);
        // Beta(2, 3): trust 0.4, n_obs 3.
        assert.deepEqual([second.metrics!.alpha, second.metrics!.beta, second.metrics!.trust, second.metrics!.sampleSize], [2, 3, 0.4, 3n]);
        const audit = await recordsOfType(s.trackerLogPath, "trust_updated");
        assert.equal(audit.length, 2);
        assert.equal(audit[0].seq, Number(first.seq));
        assert.equal(audit[1].seq, Number(second.seq));
        assert.deepEqual(audit[1].data.outcomes, [{ key: "rule-1", success: false, weight: 2 }]);
        // The record carries the update time: the key's last_update is that time.
        assert.equal(audit[1].data.time, second.metrics!.lastUpdate);
      });

      it("BatchUpdate applies outcomes in order in one audit record and answers the touched keys sorted", async () => {
        const res = await s.trust.batchUpdate({
          outcomes: [
            { key: "b", success: true },
            { key: "a", success: false, weight: 2 },
            { key: "b", success: true, weight: 0.5 },
            { key: "c", success: false },
          ],
        });
        assert.deepEqual(
          res.metrics.map((m) => [m.key, m.alpha, m.beta]),
          [
            ["a", 1, 3],
            ["b", 2.5, 1],
            ["c", 1, 2],
          ],
        );
        const audit = await recordsOfType(s.trackerLogPath, "trust_updated");
        assert.equal(audit.length, 1);
        assert.equal(audit[0].seq, Number(res.seq));
        assert.equal((audit[0].data.outcomes as unknown[]).length, 4);
        // History: "b" got two points at the same time, the second after both successes.
        const b = (await exportAll(s.trust)).find((r) => r.key === "b")!;
        assert.deepEqual(
          b.history.map((p) => p.trust),
          [2 / 3, 2.5 / 3.5],
        );
      });

      it("BatchUpdate is all or nothing: one bad outcome rejects the batch and writes nothing", async () => {
        await s.trust.update({ outcome: { key: "a", success: true } });
        const before = await exportAll(s.trust);
        const auditBefore = (await readLog(s.trackerLogPath)).length;
        await rejectsWith(
          s.trust.batchUpdate({
            outcomes: [
              { key: "a", success: true },
              { key: "b", success: false },
              { key: "c", success: true, weight: -1 },
            ],
          }),
          status.INVALID_ARGUMENT,
          "outcomes[2].weight",
        );
        assert.deepEqual(await exportAll(s.trust), before);
        assert.equal((await readLog(s.trackerLogPath)).length, auditBefore);
      });

      it("refuses an update that would take alpha + beta past 2^53 - 1", async () => {
        await rejectsWith(s.trust.update({ outcome: { key: "huge", success: true, weight: 1e300 } }), status.INVALID_ARGUMENT, "outcome.weight");
        await rejectsWith(
          s.trust.batchUpdate({
            outcomes: [
              { key: "k", success: true, weight: 2 ** 52 },
              { key: "k", success: false, weight: 2 ** 52 },
            ],
          }),
          status.INVALID_ARGUMENT,
          "outcomes[1].weight",
        );
        assert.deepEqual(await exportAll(s.trust), []);
      });
    });

    describe("validation", () => {
      const long = "k".repeat(513);
      const cases: Array<[string, (t: TrustSetup["trust"]) => Promise<unknown>, string]> = [
        ["empty key", (t) => t.update({ outcome: { key: "", success: true } }), "outcome.key"],
        ["key of 513 characters", (t) => t.update({ outcome: { key: long, success: true } }), "outcome.key"],
        ["key with a newline", (t) => t.update({ outcome: { key: "a\nb", success: true } }), "outcome.key"],
        ["key with a NUL", (t) => t.update({ outcome: { key: "a\u0000b", success: true } }), "outcome.key"],
        ["key with U+2028", (t) => t.update({ outcome: { key: "a\u2028b", success: true } }), "outcome.key"],
        ["weight NaN", (t) => t.update({ outcome: { key: "a", success: true, weight: NaN } }), "outcome.weight"],
        ["weight 0", (t) => t.update({ outcome: { key: "a", success: true, weight: 0 } }), "outcome.weight"],
        ["weight -1", (t) => t.update({ outcome: { key: "a", success: true, weight: -1 } }), "outcome.weight"],
        ["weight Infinity", (t) => t.update({ outcome: { key: "a", success: true, weight: Infinity } }), "outcome.weight"],
        ["no outcome", (t) => t.update({}), "outcome"],
        ["empty batch", (t) => t.batchUpdate({ outcomes: [] }), "outcomes"],
        ["10,001 outcomes", (t) => t.batchUpdate({ outcomes: Array.from({ length: 10_001 }, () => ({ key: "a", success: true })) }), "outcomes"],
        ["bad key in a batch", (t) => t.batchUpdate({ outcomes: [{ key: "a", success: true }, { key: "", success: true }] }), "outcomes[1].key"],
        ["GetMetrics without keys", (t) => t.getMetrics({ keys: [] }), "keys"],
        ["GetMetrics with an empty key", (t) => t.getMetrics({ keys: ["a", ""] }), "keys[1]"],
        ["z 0", (t) => t.getMetrics({ keys: ["a"], z: 0 }), "z"],
        ["z NaN", (t) => t.getMetrics({ keys: ["a"], z: NaN }), "z"],
        ["z -1", (t) => t.getMetrics({ keys: ["a"], z: -1 }), "z"],
        ["factor 0", (t) => t.applyDecay({ factor: 0 }), "factor"],
        ["factor 1.5", (t) => t.applyDecay({ factor: 1.5 }), "factor"],
        ["factor NaN", (t) => t.applyDecay({ factor: NaN }), "factor"],
        ["min_count -1", (t) => t.applyDecay({ factor: 0.5, minCount: -1 }), "min_count"],
        ["min_count Infinity", (t) => t.applyDecay({ factor: 0.5, minCount: Infinity }), "min_count"],
        ["decay of an empty key", (t) => t.applyDecay({ key: "", factor: 0.5 }), "key"],
        ["high threshold 1.5", (t) => t.generateReport({ highThreshold: 1.5 }), "high_threshold"],
        ["low threshold -0.1", (t) => t.generateReport({ lowThreshold: -0.1 }), "low_threshold"],
        ["low threshold NaN", (t) => t.generateReport({ lowThreshold: NaN }), "low_threshold"],
        ["low above high", (t) => t.generateReport({ lowThreshold: 0.9, highThreshold: 0.5 }), "low_threshold"],
        ["imported alpha below the prior", (t) => t.importTrust([{ records: [{ key: "x", alpha: 0.5, beta: 1 }] }]), "records[0].alpha"],
        ["imported beta NaN", (t) => t.importTrust([{ records: [{ key: "x", alpha: 1, beta: NaN }] }]), "records[0].beta"],
        ["imported empty key", (t) => t.importTrust([{ records: [{ key: "", alpha: 1, beta: 1 }] }]), "records[0].key"],
        ["imported infinite history time", (t) => t.importTrust([{ records: [{ key: "x", alpha: 2, beta: 1, history: [{ time: Infinity, trust: 0.5 }] }] }]), "records[0].history[0].time"],
        ["imported NaN history trust", (t) => t.importTrust([{ records: [{ key: "x", alpha: 2, beta: 1, history: [{ time: 1, trust: NaN }] }] }]), "records[0].history[0].trust"],
        ["imported infinite last_update", (t) => t.importTrust([{ records: [{ key: "x", alpha: 2, beta: 1, lastUpdate: -Infinity }] }]), "records[0].last_update"],
        [
          "a key imported twice, across messages",
          (t) => t.importTrust([{ records: [{ key: "x", alpha: 1, beta: 1 }] }, { records: [{ key: "x", alpha: 2, beta: 1 }] }]),
          "records[1].key",
        ],
        ["an unknown import mode", (t) => t.importTrust([{ mode: 7 as ImportMode, records: [] }]), "mode"],
        [
          "a later message changing the mode",
          (t) => t.importTrust([{ mode: ImportMode.MERGE, records: [] }, { mode: ImportMode.REPLACE, records: [] }]),
          "mode",
        ],
        ["ImportTrustFromFile with an unknown mode", (t) => t.importTrustFromFile({ path: "x.json", mode: 9 as ImportMode }), "mode"],
        // The PII guard is on by default; audit records keep keys verbatim, so personal data is refused.
        ["an e-mail address as key", (t) => t.update({ outcome: { key: "alice@example.com", success: true } }), "outcome.key"],
        ["a card number as key in a batch", (t) => t.batchUpdate({ outcomes: [{ key: "a", success: true }, { key: "4111 1111 1111 1111", success: true }] }), "outcomes[1].key"],
        ["an e-mail address as decay key", (t) => t.applyDecay({ key: "bob@example.org", factor: 0.5 }), "key"],
      ];

      it("answers INVALID_ARGUMENT naming the field, and changes nothing", async () => {
        await s.trust.batchUpdate({ outcomes: [{ key: "x", success: true }, { key: "y", success: false }] });
        const before = await exportAll(s.trust);
        const logBefore = (await readLog(s.trackerLogPath)).length;
        for (const [what, call, field] of cases) {
          try {
            await rejectsWith(call(s.trust), status.INVALID_ARGUMENT, field);
          } catch (err) {
            throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
          }
        }
        assert.deepEqual(await exportAll(s.trust), before);
        assert.equal((await readLog(s.trackerLogPath)).length, logBefore);
      });
    });

    describe("reads", () => {
      it("GetMetrics answers in request order, with the prior for unknown keys, and honours z", async () => {
        await s.trust.batchUpdate({
          outcomes: [
            ...Array.from({ length: 7 }, () => ({ key: "eight-two", success: true })),
            { key: "eight-two", success: false },
          ],
        });
        const res = await s.trust.getMetrics({ keys: ["unknown", "eight-two"], z: 1 });
        assert.deepEqual(
          res.metrics.map((m) => m.key),
          ["unknown", "eight-two"],
        );
        const [prior, known] = res.metrics;
        assert.deepEqual([prior.alpha, prior.beta, prior.trust, prior.sampleSize, prior.lastUpdate], [1, 1, 0.5, 0n, undefined]);
        // Beta(8,2), z = 1: 0.8 ± sqrt(0.16/10) = 0.8 ± 0.1264911.
        assert.ok(Math.abs(known.confidenceLower - 0.6735089) < 1e-7);
        assert.ok(Math.abs(known.confidenceUpper - 0.9264911) < 1e-7);
        assert.equal(known.sampleSize, 8n);
        // The prior was not stored.
        assert.deepEqual(
          (await exportAll(s.trust)).map((r) => r.key),
          ["eight-two"],
        );
      });

      it("GenerateReport lists high and low trust keys sorted, with the summary", async () => {
        const outcomes = (key: string, successes: number, failures: number) => [
          ...Array.from({ length: successes }, () => ({ key, success: true })),
          ...Array.from({ length: failures }, () => ({ key, success: false })),
        ];
        await s.trust.batchUpdate({
          outcomes: [...outcomes("h2", 8, 0), ...outcomes("h1", 8, 0), ...outcomes("top", 18, 0), ...outcomes("mid", 4, 4), ...outcomes("low", 0, 8), ...outcomes("few", 3, 0)],
        });
        const { report } = await s.trust.generateReport({});
        // h1, h2: Beta(9,1) = 0.9; top: Beta(19,1) = 0.95; mid: 0.5; low: Beta(1,9) = 0.1; few: sample size 3 < 5.
        assert.deepEqual(
          report!.highTrust.map((m) => m.key),
          ["top", "h1", "h2"],
        );
        assert.deepEqual(
          report!.lowTrust.map((m) => m.key),
          ["low"],
        );
        const sm = report!.summary!;
        assert.deepEqual([sm.totalKeys, sm.reportedKeys, sm.highTrustCount, sm.lowTrustCount, sm.minSamples, sm.highThreshold, sm.lowThreshold], [6, 5, 3, 1, 5, 0.8, 0.2]);
        assert.ok(Math.abs(sm.meanTrust - (0.9 + 0.9 + 0.95 + 0.5 + 0.1) / 5) < 1e-12);
        const strict = (await s.trust.generateReport({ minSamples: 10, highThreshold: 0.96, lowThreshold: 0 })).report!;
        assert.deepEqual([strict.summary!.reportedKeys, strict.highTrust.length, strict.lowTrust.length], [1, 0, 0]);
      });
    });

    describe("decay", () => {
      it("ApplyDecay decays one key or every key above min_count, and logs each decay", async () => {
        await s.trust.batchUpdate({
          outcomes: [
            ...Array.from({ length: 9 }, () => ({ key: "big", success: true })), // Beta(10, 1)
            { key: "big", success: false }, // Beta(10, 2)
            { key: "small", success: true }, // Beta(2, 1)
          ],
        });
        const one = await s.trust.applyDecay({ key: "big", factor: 0.5 });
        assert.equal(one.keysDecayed, 1);
        let m = (await s.trust.getMetrics({ keys: ["big", "small"] })).metrics;
        assert.deepEqual(
          m.map((x) => [x.alpha, x.beta]),
          [
            [5, 1],
            [2, 1],
          ],
        );
        // Only keys with alpha + beta > 4: "big" (6), not "small" (3).
        const all = await s.trust.applyDecay({ factor: 0.5, minCount: 4 });
        assert.equal(all.keysDecayed, 1);
        m = (await s.trust.getMetrics({ keys: ["big", "small"] })).metrics;
        assert.deepEqual(
          m.map((x) => [x.alpha, x.beta]),
          [
            [2.5, 1],
            [2, 1],
          ],
        );
        const none = await s.trust.applyDecay({ key: "unknown", factor: 0.5 });
        assert.equal(none.keysDecayed, 0);
        const audit = await recordsOfType(s.trackerLogPath, "trust_decayed");
        assert.deepEqual(
          audit.map((r) => [r.seq, r.data.key, r.data.factor, r.data.min_count]),
          [
            [Number(one.seq), "big", 0.5, 0],
            [Number(all.seq), null, 0.5, 4],
            [Number(none.seq), "unknown", 0.5, 0],
          ],
        );
      });
    });

    describe("export and import", () => {
      const seed = async () => {
        await s.trust.batchUpdate({
          outcomes: [
            { key: "a", success: true },
            { key: "b", success: false, weight: 3 },
            { key: "a", success: false, weight: 0.25 },
          ],
        });
        await s.trust.update({ outcome: { key: "c/with spaces ü", success: true } });
      };

      it("ExportTrust streams every key sorted, with its history; ImportTrust of that is the identity", async () => {
        await seed();
        const exported = await exportAll(s.trust);
        assert.deepEqual(
          exported.map((r) => r.key),
          ["a", "b", "c/with spaces ü"],
        );
        assert.equal(exported[0].history.length, 2);
        assert.equal(exported[0].lastUpdate, exported[0].history[1].time);
        // Change the state, then import the export: back to it exactly.
        await s.trust.update({ outcome: { key: "d", success: true } });
        await s.trust.applyDecay({ factor: 0.5 });
        const res = await s.trust.importTrust([{ mode: ImportMode.REPLACE, records: exported.slice(0, 2) }, { records: exported.slice(2) }]);
        assert.equal(res.keyCount, 3);
        assert.deepEqual(await exportAll(s.trust), exported);
        const loaded = await recordsOfType(s.trackerLogPath, "trust_state_loaded");
        assert.equal(loaded.length, 1);
        assert.deepEqual([loaded[0].seq, loaded[0].data.mode, loaded[0].data.key_count, loaded[0].data.source], [Number(res.seq), "replace", 3, "stream"]);
      });

      it("ImportTrust in merge mode keeps other keys; unspecified mode replaces, like the original", async () => {
        await seed();
        await s.trust.importTrust([{ mode: ImportMode.MERGE, records: [{ key: "b", alpha: 7, beta: 2 }, { key: "z", alpha: 1, beta: 4 }] }]);
        assert.deepEqual(
          (await exportAll(s.trust)).map((r) => [r.key, r.alpha, r.beta]),
          [
            ["a", 2, 1.25],
            ["b", 7, 2],
            ["c/with spaces ü", 2, 1],
            ["z", 1, 4],
          ],
        );
        await s.trust.importTrust([{ records: [{ key: "only", alpha: 3, beta: 3 }] }]);
        assert.deepEqual(
          (await exportAll(s.trust)).map((r) => r.key),
          ["only"],
        );
      });

      it("ImportTrust is all or nothing: a bad record in a later message rejects the whole stream", async () => {
        await seed();
        const before = await exportAll(s.trust);
        const logBefore = (await readLog(s.trackerLogPath)).length;
        await rejectsWith(
          s.trust.importTrust([
            { mode: ImportMode.REPLACE, records: [{ key: "n1", alpha: 2, beta: 2 }, { key: "n2", alpha: 3, beta: 1 }] },
            { records: [{ key: "n3", alpha: 1, beta: 0 }] },
          ]),
          status.INVALID_ARGUMENT,
          "records[2].beta",
        );
        assert.deepEqual(await exportAll(s.trust), before);
        assert.equal((await readLog(s.trackerLogPath)).length, logBefore);
      });

      it("ExportTrustToFile writes the original's format atomically with mode 0600; ImportTrustFromFile reads it back", async () => {
        await seed();
        const exported = await exportAll(s.trust);
        const res = await s.trust.exportTrustToFile({ path: "backups/./nightly.json" });
        assert.deepEqual([res.path, res.keyCount], ["backups/nightly.json", 3]);
        const file = join(s.trustDir, "backups", "nightly.json");
        assert.equal((await stat(file)).mode & 0o777, 0o600);
        assert.equal((await stat(s.trustDir)).mode & 0o777, 0o700);
        assert.equal((await stat(join(s.trustDir, "backups"))).mode & 0o777, 0o700);
        const json = JSON.parse(await readFile(file, "utf8")) as { stats: Record<string, number[]>; export_time: number };
        assert.deepEqual(json.stats.a, [2, 1.25]);
        assert.equal(typeof json.export_time, "number");
        await s.trust.importTrust([{ records: [] }]);
        assert.deepEqual(await exportAll(s.trust), []);
        const back = await s.trust.importTrustFromFile({ path: "backups/nightly.json" });
        assert.deepEqual([back.found, back.keyCount], [true, 3]);
        assert.deepEqual(await exportAll(s.trust), exported);
        const loaded = await recordsOfType(s.trackerLogPath, "trust_state_loaded");
        assert.equal(loaded.at(-1)!.data.source, "file:backups/nightly.json");
      });

      it("ImportTrustFromFile of a missing file answers found=false and changes nothing", async () => {
        await seed();
        const before = await exportAll(s.trust);
        const res = await s.trust.importTrustFromFile({ path: "nope.json", mode: ImportMode.REPLACE });
        assert.deepEqual([res.found, res.keyCount], [false, 0]);
        assert.deepEqual(await exportAll(s.trust), before);
      });

      it("ImportTrustFromFile of a file that is not a trust export answers FAILED_PRECONDITION naming the entry, and changes nothing", async () => {
        await seed();
        const before = await exportAll(s.trust);
        await mkdir(s.trustDir, { recursive: true });
        await writeFile(join(s.trustDir, "bad.json"), JSON.stringify({ stats: { ok: [2, 1], bad: [0.5, 1] } }));
        await writeFile(join(s.trustDir, "nan.json"), '{"stats": {"k": [NaN, 1.0]}}');
        await writeFile(join(s.trustDir, "ragged.json"), JSON.stringify({ stats: { k: [2, 1] }, timestamps: { k: { times: [1, 2], values: [0.5] } } }));
        let details = await rejectsWith(s.trust.importTrustFromFile({ path: "bad.json" }), status.FAILED_PRECONDITION, 'file "bad.json"');
        assert.match(details, /stats\["bad"\]\.alpha/);
        details = await rejectsWith(s.trust.importTrustFromFile({ path: "nan.json" }), status.FAILED_PRECONDITION, 'file "nan.json"');
        assert.match(details, /not valid JSON/);
        details = await rejectsWith(s.trust.importTrustFromFile({ path: "ragged.json" }), status.FAILED_PRECONDITION, 'file "ragged.json"');
        assert.match(details, /timestamps\["k"\]/);
        assert.deepEqual(await exportAll(s.trust), before);
      });
    });

    describe("logged trust events of the learning log", () => {
      it("LogBayesianTrustMetrics writes the tracker's metrics as bayesian_trust_metrics", async () => {
        await s.trust.batchUpdate({ outcomes: [{ key: "v", success: true }, { key: "v", success: true }, { key: "v", success: false }] });
        const res = await s.log.logBayesianTrustMetrics({ key: "v" });
        const [m] = (await s.trust.getMetrics({ keys: ["v"] })).metrics;
        const [event] = await recordsOfType(s.frontLogPath, "bayesian_trust_metrics");
        assert.equal(event.seq, Number(res.ack!.seq));
        assert.deepEqual(event.data, {
          key: "v",
          kind: "variable",
          trust: m.trust,
          confidence_interval: [m.confidenceLower, m.confidenceUpper],
          confidence_strength: m.confidenceStrength,
          sample_size: 3, // int(3 + 2 - 2)
        });
        assert.deepEqual(res.metrics!.trust, 0.6); // Beta(3, 2)
      });

      it("LogBayesianTrustMetrics checks the key like the tracker does", async () => {
        await rejectsWith(s.log.logBayesianTrustMetrics({ key: "" }), status.INVALID_ARGUMENT, "key");
        await rejectsWith(s.log.logBayesianTrustMetrics({ key: "k".repeat(513) }), status.INVALID_ARGUMENT, "key");
        assert.deepEqual(await recordsOfType(s.frontLogPath, "bayesian_trust_metrics"), []);
      });

      it("GenerateTrustReport writes trust_report_generated with the summary and counts", async () => {
        await s.trust.batchUpdate({
          outcomes: [...Array.from({ length: 6 }, () => ({ key: "good", success: true })), ...Array.from({ length: 6 }, () => ({ key: "bad", success: false }))],
        });
        const res = await s.log.generateTrustReport({ minSamples: 5 });
        assert.deepEqual(
          res.report!.highTrust.map((m) => m.key),
          ["good"],
        );
        const [event] = await recordsOfType(s.frontLogPath, "trust_report_generated");
        assert.equal(event.seq, Number(res.ack!.seq));
        assert.deepEqual(event.data, {
          summary: {
            total_keys: 2,
            reported_keys: 2,
            mean_trust: 0.5, // (7/8 + 1/8) / 2
            high_trust_count: 1,
            low_trust_count: 1,
            min_samples: 5,
            high_threshold: 0.8,
            low_threshold: 0.2,
          },
          high_trust_count: 1,
          low_trust_count: 1,
        });
        await rejectsWith(s.log.generateTrustReport({ highThreshold: 2 }), status.INVALID_ARGUMENT, "high_threshold");
      });

      it("ExportTrustData writes the file and trust_data_exported; a failed export logs trust_data_export_failed", async () => {
        await s.trust.update({ outcome: { key: "k", success: true } });
        const ok = await s.log.exportTrustData({ filepath: "out.json" });
        assert.equal(ok.success, true);
        assert.ok(JSON.parse(await readFile(join(s.trustDir, "out.json"), "utf8")).stats.k);
        // A folder where the file should go: the export fails, and says so in the log.
        await mkdir(join(s.trustDir, "taken"));
        const failed = await s.log.exportTrustData({ filepath: "taken" });
        assert.equal(failed.success, false);
        assert.match(failed.error, /folder/);
        const events = (await readLog(s.frontLogPath)).filter((r) => r.event_type.startsWith("trust_data_export"));
        assert.deepEqual(
          events.map((e) => [e.event_type, e.seq]),
          [
            ["trust_data_exported", Number(ok.ack!.seq)],
            ["trust_data_export_failed", Number(failed.ack!.seq)],
          ],
        );
        assert.deepEqual(events[0].data, { filepath: "out.json" });
        assert.deepEqual(events[1].data, { error: failed.error });
      });

      it("ImportTrustData replaces the state and writes trust_data_imported; a missing or bad file logs trust_data_import_failed", async () => {
        await s.trust.update({ outcome: { key: "k", success: true } });
        await s.log.exportTrustData({ filepath: "snap.json" });
        await s.trust.update({ outcome: { key: "other", success: true } });
        const ok = await s.log.importTrustData({ filepath: "snap.json" });
        assert.equal(ok.success, true);
        assert.deepEqual(
          (await exportAll(s.trust)).map((r) => r.key),
          ["k"],
        );
        const missing = await s.log.importTrustData({ filepath: "missing.json" });
        assert.deepEqual([missing.success, missing.error], [false, "file not found"]);
        await writeFile(join(s.trustDir, "garbage.json"), "{not json");
        const bad = await s.log.importTrustData({ filepath: "garbage.json" });
        assert.equal(bad.success, false);
        assert.match(bad.error, /not valid JSON/);
        const events = (await readLog(s.frontLogPath)).filter((r) => r.event_type.startsWith("trust_data_import"));
        assert.deepEqual(
          events.map((e) => [e.event_type, e.data, e.seq]),
          [
            ["trust_data_imported", { filepath: "snap.json" }, Number(ok.ack!.seq)],
            ["trust_data_import_failed", { filepath: "missing.json" }, Number(missing.ack!.seq)],
            ["trust_data_import_failed", { filepath: "garbage.json" }, Number(bad.ack!.seq)],
          ],
        );
      });

      it("a refused file path is answered with a status naming filepath, and no event is logged", async () => {
        const before = (await readLog(s.frontLogPath)).length;
        await rejectsWith(s.log.exportTrustData({ filepath: "../escape.json" }), status.INVALID_ARGUMENT, "filepath");
        await rejectsWith(s.log.importTrustData({ filepath: "/etc/passwd" }), status.INVALID_ARGUMENT, "filepath");
        assert.equal((await readLog(s.frontLogPath)).length, before);
      });
    });

    it("the audit trail explains every number: replaying it by hand gives the exported state", async () => {
      await s.trust.batchUpdate({
        outcomes: [
          { key: "r1", success: true, weight: 0.7 },
          { key: "r2", success: false },
          { key: "r1", success: false, weight: 1.3 },
        ],
      });
      await s.trust.applyDecay({ factor: 0.9, minCount: 2.5 });
      await s.trust.update({ outcome: { key: "r2", success: true, weight: 4 } });
      await s.trust.applyDecay({ key: "r2", factor: 0.3 });
      await s.trust.update({ outcome: { key: "r3", success: true } });
      const replayed = (await stateFromAuditTrail(s.trackerLogPath)).records();
      assert.deepEqual(await exportAll(s.trust), replayed);
    });
  });
}

describe("trust service, remote tracker unreachable", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir("pulse-trust-down-");
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("answers UNAVAILABLE naming the tracker, and logs a failed export as the original did", async () => {
    // A port that was just free: nothing listens there now.
    const gone = await startServer(join(dir.path, "gone"));
    const address = gone.address;
    await gone.stop();
    const front = await startServer(dir.path, ["--trust-tracker", address]);
    const trust = createClient(TrustService, front.address);
    try {
      const details = await rejectsWith(trust.update({ outcome: { key: "k", success: true } }), status.UNAVAILABLE, `trust tracker at ${address}`);
      assert.ok(details.length > 0);
      const res = await front.client.exportTrustData({ filepath: "x.json" });
      assert.equal(res.success, false);
      const [event] = await recordsOfType(front.logPath, "trust_data_export_failed");
      assert.match(event.data.error as string, new RegExp(`trust tracker at ${address}`));
    } finally {
      trust.close();
      await front.stop();
    }
  });
});
