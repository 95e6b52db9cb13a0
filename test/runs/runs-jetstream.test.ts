import assert from "node:assert/strict";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { LearningLogService, type LearningEventSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../../src/rpc/client.js";
import { spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { requireNatsServer, startNats, type NatsCluster } from "../store/jetstream/nats-servers.js";

const inRun = (run: string) => {
  const metadata = new Metadata();
  metadata.set("pulse-run", run);
  return { metadata };
};
const weight = (n: number, run?: string): MessageInitShape<typeof LearningEventSchema> => ({ event: { case: "variableWeightChange", value: { variable: `v${n % 5}`, oldWeight: n, newWeight: n + 1 } }, run });

describe("runs over a JetStream store: two front ends answer the same queries", function () {
  this.timeout(180_000);
  let dir: TempDir;
  let nats: NatsCluster;
  const fronts: ChildServer[] = [];
  before(async function () {
    if (requireNatsServer() === undefined) this.skip();
    dir = await tempDir("pulse-runs-js-");
    nats = await startNats(dir.path, 1);
  });
  after(async () => {
    for (const f of fronts) await f.stop();
    await nats?.stop();
    await dir?.remove();
  });

  it("lists and replays each run from either front end, whichever front end wrote its records, and after a restart", async () => {
    const flags = ["--store", nats.storeUrl];
    for (const name of ["a", "b"]) fronts.push(await spawnServer({ logPath: join(dir.path, name, "pulse_learning_log.jsonl"), flags }));
    const clients = fronts.map((f) => createClient(LearningLogService, f.address));
    try {
      // Run "shared" is written through both front ends, "only-a" through a, "only-b" through b, plus events of no run.
      for (let i = 0; i < 10; i++) {
        await clients[i % 2].logBatch({ events: [weight(i, "shared"), weight(i), weight(i, i % 2 === 0 ? "only-a" : "only-b")] });
      }
      await clients[1].logEvent({ eventType: "run_finished", data: { status: "finished" } }, inRun("only-b"));
      const expected = { shared: 10, "only-a": 5, "only-b": 6 };
      const counts = async (c: (typeof clients)[number]) => Object.fromEntries((await c.listRuns({})).runs.map((r) => [r.run, Number(r.eventCount)]));
      const readRun = async (c: (typeof clients)[number], run: string) => {
        const seqs: bigint[] = [];
        for await (const m of c.readEvents({ runs: [run] })) seqs.push(...m.records.map((r) => r.seq));
        return seqs;
      };
      for (const c of clients) {
        assert.deepEqual(await counts(c), expected);
        const shared = await readRun(c, "shared");
        assert.equal(shared.length, 10);
        assert.ok(shared.every((s, i) => i === 0 || s > shared[i - 1]));
      }
      assert.deepEqual(await readRun(clients[0], "only-b"), await readRun(clients[1], "only-b"));
      const status = (await clients[0].listRuns({ runs: ["only-b"] })).runs[0].status;
      assert.equal(status, 2 /* FINISHED */);
      // A front end restarted (after kill -9) rebuilds its index from the stream.
      clients[0].close();
      fronts[0].kill("SIGKILL");
      await fronts[0].stopped;
      fronts[0] = await spawnServer({ logPath: join(dir.path, "a", "pulse_learning_log.jsonl"), flags });
      clients[0] = createClient(LearningLogService, fronts[0].address);
      assert.deepEqual(await counts(clients[0]), expected);
    } finally {
      for (const c of clients) c.close();
    }
  });
});
