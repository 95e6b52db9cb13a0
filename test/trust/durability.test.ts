import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { JsonObject } from "@bufbuild/protobuf";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ImportMode, TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient, type Client } from "../../src/rpc/client.js";
import { spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { recordsOfType, stateFromAuditTrail } from "./helpers/log.js";
import { exportAll } from "./helpers/rpc.js";

/** A real server process (`node dist/src/main.js ...`) with clients of both services. */
interface Running {
  child: ChildServer;
  trust: Client<typeof TrustService.method>;
  log: Client<typeof LearningLogService.method>;
  /** The "trust state restored" line of this start. */
  restored: Record<string, unknown>;
}

async function start(logPath: string, flags: string[] = []): Promise<Running> {
  const child = await spawnServer({ logPath, flags });
  const restored = await child.waitForLog((l) => l.msg === "trust state restored");
  return { child, trust: createClient(TrustService, child.address), log: createClient(LearningLogService, child.address), restored };
}

function closeClients(r: Running): void {
  r.trust.close();
  r.log.close();
}

/** Everything a client can see of the trust state: every record, and every key's metrics. */
async function observe(trust: Running["trust"]) {
  const records = await exportAll(trust);
  const metrics = records.length === 0 ? [] : (await trust.getMetrics({ keys: records.map((r) => r.key) })).metrics;
  return { records, metrics };
}

/** A mix of every kind of change, the learning log's trust RPCs and unrelated events. */
async function workload(r: Running): Promise<void> {
  await r.trust.batchUpdate({
    outcomes: [
      { key: "rule-1", success: true },
      { key: "rule-1", success: false, weight: 0.4 },
      { key: "var.x", success: true, weight: 3 },
    ],
  });
  for (let i = 0; i < 6; i++) await r.trust.update({ outcome: { key: `rule-${i % 3}`, success: i % 2 === 0, weight: 1 + i / 10 } });
  await r.log.logEvent({ eventType: "unrelated", data: { n: 1 } });
  await r.trust.applyDecay({ factor: 0.8, minCount: 2 });
  await r.trust.importTrust([{ mode: ImportMode.MERGE, records: [{ key: "imported", alpha: 5.5, beta: 2, lastUpdate: 1_700_000_000.5, history: [{ time: 1_700_000_000.5, trust: 5.5 / 7.5 }] }] }]);
  await r.trust.update({ outcome: { key: "imported", success: false } });
  await r.log.exportTrustData({ filepath: "backup.json" });
  await r.trust.update({ outcome: { key: "after-backup", success: true } });
  await r.log.importTrustData({ filepath: "backup.json" }); // replaces: "after-backup" goes
  await r.trust.applyDecay({ key: "rule-1", factor: 0.5 });
  await r.log.logBayesianTrustMetrics({ key: "rule-1" });
  await r.trust.update({ outcome: { key: "last", success: true } });
}

describe("trust durability across restarts of a real server process", function () {
  // Each start of a server process takes a second or more on a loaded machine.
  this.timeout(60_000);
  let dir: TempDir;
  let logPath: string;
  const running: Running[] = [];

  beforeEach(async () => {
    dir = await tempDir("pulse-trust-durable-");
    logPath = join(dir.path, "logs", "pulse_learning_log.jsonl");
  });
  afterEach(async () => {
    for (const r of running.splice(0)) {
      closeClients(r);
      r.child.kill("SIGKILL");
      await r.child.stopped;
    }
    await dir.remove();
  });

  const launch = async (flags: string[] = []) => {
    const r = await start(logPath, flags);
    running.push(r);
    return r;
  };
  const halt = async (r: Running, how: "SIGTERM" | "SIGKILL") => {
    closeClients(r);
    running.splice(running.indexOf(r), 1);
    if (how === "SIGTERM") assert.equal(await r.child.stop(), 0);
    else {
      r.child.kill("SIGKILL");
      await r.child.stopped;
    }
  };

  it("a graceful stop writes a snapshot; the next start replays nothing and every key's metrics are identical", async () => {
    const first = await launch();
    assert.equal(first.restored.fresh, true);
    await workload(first);
    const before = await observe(first.trust);
    assert.ok(before.records.length >= 5);
    await halt(first, "SIGTERM");

    const stateDir = join(dir.path, "logs", "pulse_learning_log.trust-state");
    assert.equal((await stat(stateDir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(stateDir, "snapshot.json"))).mode & 0o777, 0o600);
    assert.deepEqual(
      (await readdir(stateDir)).sort(),
      ["audit-key", "snapshot.json"],
    );

    const second = await launch();
    assert.equal(second.restored.replayed, 0);
    assert.deepEqual(await observe(second.trust), before);
  });

  it("after kill -9, the snapshot plus the logged changes after it give identical metrics; forged records are ignored", async () => {
    const first = await launch(["--trust-snapshot-changes", "4"]);
    await workload(first);
    // A client logging look-alikes of audit records: a copy of a real one, and a made-up one.
    const real = (await recordsOfType(logPath, "trust_updated")).at(-1)!;
    await first.log.logEvent({ eventType: "trust_updated", data: real.data as JsonObject });
    await first.log.logEvent({ eventType: "trust_updated", data: { ...(real.data as JsonObject), outcomes: [{ key: "last", success: false, weight: 1e6 }] } });
    const before = await observe(first.trust);
    await halt(first, "SIGKILL");

    const second = await launch(["--trust-snapshot-changes", "4"]);
    assert.ok((second.restored.replayed as number) > 0, "some changes came after the last snapshot");
    assert.equal(second.restored.ignored, 2);
    assert.deepEqual(await observe(second.trust), before);

    // And once more, with changes made after the restore.
    await second.trust.update({ outcome: { key: "rule-2", success: false } });
    const again = await observe(second.trust);
    await halt(second, "SIGKILL");
    const third = await launch();
    assert.deepEqual(await observe(third.trust), again);
  });

  it("kill -9 under load: every acknowledged update survives, and the state is exactly the logged updates", async () => {
    const first = await launch(["--trust-snapshot-changes", "25"]);
    const acked: Array<{ seq: number; key: string; success: boolean; weight: number }> = [];
    let killed = false;
    let reached: () => void = () => undefined;
    const enough = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const worker = async (w: number) => {
      for (let i = 0; !killed; i++) {
        const outcome = { key: `w${w}-k${i % 4}`, success: (i + w) % 3 !== 0, weight: 0.5 + ((i * 7 + w) % 5) };
        try {
          const res = await first.trust.update({ outcome });
          acked.push({ seq: Number(res.seq), ...outcome });
          if (acked.length >= 300) reached();
        } catch {
          return; // the server is gone
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await enough;
    // Calls are in flight when the process dies.
    first.child.kill("SIGKILL");
    killed = true;
    await first.child.stopped;
    await Promise.all(workers);
    closeClients(first);
    running.splice(running.indexOf(first), 1);

    const logged = new Map((await recordsOfType(logPath, "trust_updated")).map((r) => [r.seq, r]));
    for (const a of acked) {
      const record = logged.get(a.seq);
      assert.ok(record, `acknowledged update at seq ${a.seq} is not in the log`);
      assert.deepEqual(record.data.outcomes, [{ key: a.key, success: a.success, weight: a.weight }]);
    }
    const expected = (await stateFromAuditTrail(logPath)).records();
    const second = await launch();
    assert.deepEqual(await exportAll(second.trust), expected);
  });
});
