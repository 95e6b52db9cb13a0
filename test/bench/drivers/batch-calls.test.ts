import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { setImmediate as tick } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { IngestEventsRequestSchema, LearningEventSchema } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { driveBatchCalls, driveIngestBatches } from "../../../bench/drivers/batch-calls.js";
import { prebuiltBatches } from "../../../bench/drivers/fixtures.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../../helpers/server.js";

describe("bench/drivers/batch-calls: drivers of batches of the caller's making", function () {
  this.timeout(60_000);

  it("driveBatchCalls keeps exactly inFlight calls open and counts the events they return", async () => {
    let open = 0;
    let most = 0;
    let calls = 0;
    const result = await driveBatchCalls(
      async () => {
        open++;
        calls++;
        most = Math.max(most, open);
        await tick();
        open--;
        return 10;
      },
      { warmupS: 0, measureS: 0.05, inFlight: 4 },
    );
    assert.equal(most, 4);
    assert.equal(open, 0, "every call answered before the driver returns");
    assert.ok(result.events > 0 && result.events <= calls * 10, `${result.events} events of ${calls} calls`);
    assert.equal(result.seconds, 0.05);
  });

  it("driveBatchCalls rejects when a call fails", async () => {
    await assert.rejects(
      driveBatchCalls(() => Promise.reject(new Error("refused")), { warmupS: 0, measureS: 10, inFlight: 2 }),
      /refused/,
    );
  });

  describe("driveIngestBatches, against a real server", () => {
    let dir: TempDir;
    let ts: TestServer;
    beforeEach(async () => {
      dir = await tempDir();
      ts = await startServer(dir.path);
    });
    afterEach(async () => {
      await ts.stop();
      await dir.remove();
    });

    it("sends the given batches on one stream; every event it counts is in the log", async () => {
      const batches = prebuiltBatches("seed", 100, 3);
      const result = await driveIngestBatches(ts.client, batches, { warmupS: 0, measureS: 0.2, inFlight: 4 });
      const records = (await readFile(ts.logPath, "utf8")).trim().split("\n");
      assert.ok(records.length > 0 && records.length % 100 === 0, `${records.length} records`);
      assert.ok(result.events > 0 && result.events <= records.length, `${result.events} counted, ${records.length} written`);
      assert.deepEqual(
        records.slice(0, 3).map((r) => (JSON.parse(r) as { event_type: string }).event_type),
        ["variable_weight_update", "rule_activation", "forecast_evaluated"],
      );
    });

    it("rejects when the server refuses an event", async () => {
      const bad = create(IngestEventsRequestSchema, { events: [create(LearningEventSchema, {})] });
      await assert.rejects(driveIngestBatches(ts.client, [bad], { warmupS: 0, measureS: 10, inFlight: 1 }), /1 events refused, first: .*no event set/);
    });
  });
});
