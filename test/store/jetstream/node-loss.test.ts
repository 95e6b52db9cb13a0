import assert from "node:assert/strict";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { v4 as uuidv4 } from "uuid";
import type { EventAck, LearningEventSchema, LogRecord } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../../helpers/server.js";
import { startNats, type NatsCluster } from "./nats-servers.js";

type Event = MessageInitShape<typeof LearningEventSchema>;

describe("JetStream store on a three-node cluster", function () {
  this.timeout(90_000);
  let natsDir: TempDir;
  let dir: TempDir;
  let nats: NatsCluster | undefined;
  let ts: TestServer | undefined;
  before(async () => {
    natsDir = await tempDir("pulse-nats-");
    dir = await tempDir();
  });
  after(async () => {
    // Always, even when the test failed: no nats-server is left running.
    await ts?.stop().catch(() => undefined);
    await nats?.stop();
    await natsDir?.remove();
    await dir?.remove();
  });

  it("keeps taking writes with replicas 3 when the stream leader is killed mid-ingest: nothing acked is lost, nothing is duplicated", async () => {
    nats = await startNats(natsDir.path, 3);
    const stream = "NODE_LOSS";
    const server = await startServer(dir.path, ["--store", nats.storeUrl, "--nats-stream", stream, "--nats-replicas", "3"], { logger: pino({ level: "error" }) } /* a failure names its cause */);
    ts = server;
    const nc = await connect({ servers: nats.servers });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    assert.equal(info.config.num_replicas, 3);
    const leader = info.cluster?.leader;
    const victim = nats.nodes.find((n) => n.name === leader);
    assert.ok(victim, `the stream has a leader among the test's nodes (got ${leader})`);
    await nc.close();

    // Batches of client-chosen event_ids; a failed batch is sent again as is, as a client's retry would be.
    const acked = new Map<string, EventAck>();
    let retries = 0;
    let ackedAfterKill = 0;
    let killed = false;
    const batches = 60;
    for (let b = 0; b < batches; b++) {
      const events: Event[] = Array.from({ length: 100 }, (_, i) => ({ event: { case: "revisionTrigger", value: { reason: `b${b}-${i}`, eventId: uuidv4() } } }));
      // Mid-ingest: the leader dies while batch 20 is on its way (SIGKILL, no goodbye); later batches need the new leader.
      const killing = b === 20 ? victim.kill() : undefined;
      if (killing) killed = true;
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await server.client.logBatch({ events });
          assert.equal(res.errors.length, 0);
          for (const ack of res.acks) {
            assert.ok(!acked.has(ack.eventId) || ack.duplicate, "a fresh ack for an event_id only once");
            if (!acked.has(ack.eventId)) acked.set(ack.eventId, ack);
            if (killed) ackedAfterKill++;
          }
          await killing;
          break;
        } catch (err) {
          retries++;
          assert.ok(attempt < 5, `batch ${b} still failing after ${attempt + 1} tries: ${(err as Error).message}`);
        }
      }
    }
    assert.ok(!victim.alive);
    assert.equal(acked.size, batches * 100);
    assert.ok(ackedAfterKill >= 40 * 100, "writes continued after the node was lost");

    const records: LogRecord[] = [];
    for await (const m of server.client.readEvents({})) records.push(...m.records);
    const ids = records.map((r) => r.eventId);
    assert.equal(new Set(ids).size, ids.length, "no event stored twice");
    assert.equal(records.length, acked.size, `every acked event stored once (client retries: ${retries})`);
    for (let i = 1; i < records.length; i++) assert.ok(records[i].seq > records[i - 1].seq);
    for (const r of records) assert.equal(r.seq, acked.get(r.eventId)?.seq, "each record at the seq its ack named");
  });
});
