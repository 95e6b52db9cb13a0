import assert from "node:assert/strict";
import { join } from "node:path";
import { LearningLogService } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../../../src/rpc/client.js";
import { spawnServer, type ChildServer } from "../../helpers/child-server.js";
import { cli } from "../../helpers/cli.js";
import { tempDir, type TempDir } from "../../helpers/server.js";
import { requireNatsServer, startNats, type NatsCluster } from "./nats-servers.js";



describe("the CLI and the visual summary over a JetStream store", function () {
  this.timeout(120_000);
  let dir: TempDir;
  let nats: NatsCluster;
  let server: ChildServer;
  before(async () => {
    requireNatsServer();
    dir = await tempDir("pulse-tools-js-");
    nats = await startNats(dir.path, 1);
    server = await spawnServer({ logPath: join(dir.path, "front", "pulse_learning_log.jsonl"), flags: ["--store", nats.storeUrl] });
  });
  after(async () => {
    server?.kill("SIGTERM");
    await server?.stopped;
    await nats?.stop();
    await dir?.remove();
  });

  it("replays, counts and summarises the stream's records through the server", async () => {
    const c = createClient(LearningLogService, server.address);
    for (let i = 0; i < 12; i++) await c.logVariableWeightChange({ variable: `v${i % 3}`, oldWeight: i, newWeight: i + 1 });
    await c.logRuleEffectiveness({ ruleId: "r1", activationCount: 4n, successRate: 0.5, impactScore: 0.25 });
    c.close();
    const replay = await cli(["replay", "--json", "--addr", server.address], dir.path);
    assert.equal(replay.code, 0, replay.stderr);
    const lines = replay.stdout.split("\n").filter((l) => l).map((l) => JSON.parse(l) as { seq: number; event_type: string });
    assert.deepEqual(lines.map((l) => l.seq), Array.from({ length: 13 }, (_, i) => i + 1));
    const stats = await cli(["stats", "--json", "--server", server.address], dir.path);
    assert.equal(stats.code, 0, stats.stderr);
    assert.deepEqual(JSON.parse(stats.stdout).countsByType, { variable_weight_update: 12, rule_effectiveness: 1 });
    const html = join(dir.path, "summary.html");
    const summary = await cli(["summary", "--json", "--html", html, "--server", server.address], dir.path);
    assert.equal(summary.code, 0, summary.stderr);
    assert.equal(JSON.parse(summary.stdout).records, 13);
  });

  it("verifies the stream's hash chain through the server: intact, with the last hash", async () => {
    const verify = await cli(["verify", "--json", "--addr", server.address], dir.path);
    assert.equal(verify.code, 0, verify.stderr);
    const report = JSON.parse(verify.stdout) as { ok: boolean; records: number; hashedRecords: number; firstSeq: number; lastSeq: number; lastHash: string };
    assert.equal(report.ok, true);
    assert.equal(report.hashedRecords, report.records, "every record carries the chain's hash");
    assert.ok(report.records >= 13);
    assert.equal(report.firstSeq, 1);
    assert.match(report.lastHash, /^[0-9a-f]{64}$/);
    const text = await cli(["verify", "--addr", server.address], dir.path);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`intact: the hash chain holds over ${report.records} records, seq 1\\.\\.${report.lastSeq} read from ${server.address.replace(/\./g, "\\.")}`));
  });
});
