import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { LearningLogService } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient } from "../../../src/rpc/client.js";
import { spawnServer } from "../../helpers/child-server.js";
import { tempDir, type TempDir } from "../../helpers/server.js";
import { requireNatsServer, startNats, type NatsCluster } from "./nats-servers.js";

describe("trust state over a JetStream store", function () {
  this.timeout(120_000);
  let dir: TempDir;
  let nats: NatsCluster;
  before(async () => {
    requireNatsServer();
    dir = await tempDir("pulse-trust-js-");
    nats = await startNats(dir.path, 1);
  });
  after(async () => {
    await nats?.stop();
    await dir?.remove();
  });

  it("after kill -9, replays the trust changes logged in the stream after the snapshot", async () => {
    const flags = ["--store", nats.storeUrl, "--trust-snapshot-changes", "1000"];
    const logPath = join(dir.path, "front", "pulse_learning_log.jsonl");
    const first = await spawnServer({ logPath, flags });
    const trust = createClient(TrustService, first.address);
    for (let i = 0; i < 25; i++) await trust.update({ outcome: { key: `k${i % 4}`, success: i % 3 !== 0, weight: 1 + i / 10 } });
    const before = await trust.getMetrics({ keys: ["k0", "k1", "k2", "k3"] });
    trust.close();
    first.kill("SIGKILL");
    await first.stopped;
    const second = await spawnServer({ logPath, flags });
    const again = createClient(TrustService, second.address);
    const after = await again.getMetrics({ keys: ["k0", "k1", "k2", "k3"] });
    again.close();
    second.kill("SIGTERM");
    await second.stopped;
    // lastUpdate included: the state is the one logged, not re-derived.
    assert.deepEqual(after.metrics, before.metrics);
    assert.ok(before.metrics.every((m) => m.sampleSize > 0n));
  });
});

describe("a JetStream store that requires a token", function () {
  this.timeout(120_000);
  let dir: TempDir;
  let nats: NatsCluster;
  const token = "nats-token-0123456789abcdef";
  before(async () => {
    requireNatsServer();
    dir = await tempDir("pulse-nats-auth-");
    nats = await startNats(dir.path, 1, { token });
  });
  after(async () => {
    await nats?.stop();
    await dir?.remove();
  });

  it("connects with --nats-token-file, and a server without it does not start", async () => {
    const tokenFile = join(dir.path, "nats-token");
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const logPath = join(dir.path, "front", "pulse_learning_log.jsonl");
    const withToken = await spawnServer({ logPath, flags: ["--store", nats.storeUrl, "--nats-token-file", tokenFile] });
    const c = createClient(LearningLogService, withToken.address);
    const { ack } = await c.logRevisionTrigger({ reason: "over an authenticated NATS connection" });
    assert.equal(ack?.seq, 1n);
    c.close();
    withToken.kill("SIGTERM");
    await withToken.stopped;
    await assert.rejects(spawnServer({ logPath: join(dir.path, "other", "l.jsonl"), flags: ["--store", nats.storeUrl], startTimeoutMs: 15_000 }));
  });
});
