import assert from "node:assert/strict";
import { join } from "node:path";
import { v4 as uuidv4 } from "uuid";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../../src/rpc/client.js";
import { listSegments } from "../../src/store/file/segments.js";
import { verifyLog } from "../../src/store/file/verify.js";
import { spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";

describe("exactly once across a kill -9 when the log has rotated", function () {
  this.timeout(120_000);
  let dir: TempDir;
  let server: ChildServer | undefined;
  beforeEach(async () => {
    dir = await tempDir("pulse-dedup-restart-");
  });
  afterEach(async () => {
    if (server !== undefined) {
      server.kill("SIGKILL");
      await server.stopped;
      server = undefined;
    }
    await dir.remove();
  });

  it("answers every retried event_id of the window as a duplicate after a restart, whichever segment holds its record", async () => {
    const logPath = join(dir.path, "pulse_learning_log.jsonl");
    const flags = ["--segment-bytes-max", "5000"];
    server = await spawnServer({ logPath, flags });
    let client = createClient(LearningLogService, server.address);
    const ids = Array.from({ length: 100 }, () => uuidv4());
    const seqs = new Map<string, bigint>();
    for (const id of ids) {
      const { ack } = await client.logEvent({ eventType: "probe", data: { id }, eventId: id });
      seqs.set(id, ack!.seq);
    }
    client.close();
    server.kill("SIGKILL");
    await server.stopped;
    const segments = await listSegments(logPath);
    assert.ok(segments.filter((s) => !s.active).length >= 3, `the records span closed segments (${segments.length} files)`);

    server = await spawnServer({ logPath, flags });
    const opened = await server.waitForLog((l) => l.msg === "log opened");
    assert.equal(opened.dedupWindowRecords, 100);
    client = createClient(LearningLogService, server.address);
    for (const id of ids) {
      const { ack } = await client.logEvent({ eventType: "probe", data: { id, retry: true }, eventId: id });
      assert.equal(ack!.duplicate, true, `retry of ${id} is answered as a duplicate`);
      assert.equal(ack!.seq, seqs.get(id), "with its original seq");
    }
    // A batch of retries too (another write path through the same window).
    const { acks } = await client.logBatch({ events: ids.slice(0, 10).map((id) => ({ event: { case: "generic", value: { eventType: "probe", data: {}, eventId: id } } })) });
    assert.ok(acks.every((a) => a.duplicate));
    client.close();
    assert.equal(await server.stop(), 0);
    server = undefined;
    const report = await verifyLog(logPath);
    assert.ok(report.ok, JSON.stringify(report.broken));
    assert.equal(report.records, 100, "nothing written twice");
  });
});
