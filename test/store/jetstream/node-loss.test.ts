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

async function readAll(ts: TestServer): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for await (const m of ts.client.readEvents({})) records.push(...m.records);
  return records;
}

/** Fails with `message()` if `work` has not settled within `ms`: a bound for an event that may never come, not a timing assertion. */
async function within<T>(work: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)));
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

describe("JetStream store on a three-node cluster", function () {
  // Generous: on a loaded machine the election, the retried publishes and the replays below take a while.
  this.timeout(240_000);
  let natsDir: TempDir;
  const dirs: TempDir[] = [];
  let nats: NatsCluster | undefined;
  const servers: TestServer[] = [];
  before(async () => {
    natsDir = await tempDir("pulse-nats-");
  });
  after(async () => {
    // Always, even when the test failed: no nats-server is left running.
    for (const ts of servers) await ts.stop().catch(() => undefined);
    await nats?.stop();
    await natsDir?.remove();
    for (const d of dirs) await d.remove();
  });

  it("keeps taking writes with replicas 3 when the stream leader is killed mid-ingest: nothing acked is lost or duplicated, a follower on another front end sees it all, and every replay after the loss reads it all", async () => {
    nats = await startNats(natsDir.path, 3);
    const stream = "NODE_LOSS";
    const flags = ["--store", nats.storeUrl, "--nats-stream", stream, "--nats-replicas", "3"];
    // Logger at error level: an INTERNAL names its cause in the test output.
    const frontEnd = async () => {
      const dir = await tempDir();
      dirs.push(dir);
      const ts = await startServer(dir.path, flags, { logger: pino({ level: "error" }) });
      servers.push(ts);
      return ts;
    };
    const server = await frontEnd();
    const other = await frontEnd();
    const nc = await connect({ servers: nats.servers });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    assert.equal(info.config.num_replicas, 3);
    const leader = info.cluster?.leader;
    const victim = nats.nodes.find((n) => n.name === leader);
    assert.ok(victim, `the stream has a leader among the test's nodes (got ${leader})`);
    await nc.close();

    const batches = 60;
    const total = batches * 100;
    // A follower on the other front end, from before the loss: it learns of the writes through that front end's watcher of the stream.
    const followed: LogRecord[] = [];
    const follow = other.client.readEvents({ follow: true });
    const following = (async () => {
      for await (const m of follow) {
        followed.push(...m.records);
        if (followed.length >= total) break;
      }
    })();

    // Batches of client-chosen event_ids; a failed batch is sent again as is, as a client's retry would be.
    const acked = new Map<string, EventAck>();
    let retries = 0;
    let ackedAfterKill = 0;
    let killed = false;
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
    assert.equal(acked.size, total);
    assert.ok(ackedAfterKill >= 40 * 100, "writes continued after the node was lost");

    const check = (records: LogRecord[], who: string) => {
      const ids = records.map((r) => r.eventId);
      assert.equal(new Set(ids).size, ids.length, `${who}: no event stored twice`);
      assert.equal(records.length, acked.size, `${who}: every acked event stored once (client retries: ${retries})`);
      for (let i = 1; i < records.length; i++) assert.ok(records[i].seq > records[i - 1].seq, `${who}: in seq order`);
      for (const r of records) assert.equal(r.seq, acked.get(r.eventId)?.seq, `${who}: each record at the seq its ack named`);
    };
    check(await readAll(server), "replay");
    // The follower reads through the loss too (a consumer or watcher that was on the lost node is replaced).
    await within(following, 120_000, () => `the follower on the other front end saw ${followed.length} of ${total} records`);
    check(followed, "follower");
    // Each replay makes a new consumer, which JetStream may place on the lost node: every one must still read it all.
    for (let i = 0; i < 5; i++) {
      check(await readAll(server), `replay ${i + 2} (writing front end)`);
      check(await readAll(other), `replay ${i + 1} (other front end)`);
    }
  });

  it("two front ends writing at once through the loss of the stream leader: each acked event is stored once, seqs dense across both, and both replay it all", async () => {
    // A cluster of its own, in fresh store folders.
    await nats?.stop();
    const clusterDir = await tempDir("pulse-nats-");
    dirs.push(clusterDir);
    nats = await startNats(clusterDir.path, 3);
    const stream = "NODE_LOSS_TWO";
    const flags = ["--store", nats.storeUrl, "--nats-stream", stream, "--nats-replicas", "3"];
    const frontEnd = async () => {
      const dir = await tempDir();
      dirs.push(dir);
      const ts = await startServer(dir.path, flags, { logger: pino({ level: "error" }) });
      servers.push(ts);
      return ts;
    };
    const [a, b] = [await frontEnd(), await frontEnd()];
    const nc = await connect({ servers: nats.servers });
    const leader = (await (await jetstreamManager(nc)).streams.info(stream)).cluster?.leader;
    await nc.close();
    const victim = nats.nodes.find((n) => n.name === leader);
    assert.ok(victim, `the stream has a leader among the test's nodes (got ${leader})`);

    const batches = 40;
    const acked = new Map<string, EventAck>();
    let retries = 0;
    // Each front end's own client: batches of client-chosen ids, a failed batch sent again as is.
    const write = async (ts: TestServer, tag: string) => {
      for (let k = 0; k < batches; k++) {
        const events: Event[] = Array.from({ length: 100 }, (_, i) => ({ event: { case: "revisionTrigger", value: { reason: `${tag}${k}-${i}`, eventId: uuidv4() } } }));
        const killing = tag === "a" && k === 15 ? victim.kill() : undefined;
        for (let attempt = 0; ; attempt++) {
          try {
            const res = await ts.client.logBatch({ events });
            assert.equal(res.errors.length, 0);
            for (const ack of res.acks) {
              assert.ok(!acked.has(ack.eventId) || ack.duplicate, "a fresh ack for an event_id only once");
              if (!acked.has(ack.eventId)) acked.set(ack.eventId, ack);
            }
            await killing;
            break;
          } catch (err) {
            retries++;
            assert.ok(attempt < 5, `${tag}: batch ${k} still failing after ${attempt + 1} tries: ${(err as Error).message}`);
          }
        }
      }
    };
    await Promise.all([write(a, "a"), write(b, "b")]);
    assert.ok(!victim.alive);
    assert.equal(acked.size, 2 * batches * 100);
    for (const [who, ts] of [["a", a], ["b", b]] as const) {
      const records = await readAll(ts);
      assert.equal(records.length, acked.size, `${who}: every acked event stored once (client retries: ${retries})`);
      assert.deepEqual(records.map((r) => Number(r.seq)), Array.from({ length: records.length }, (_, i) => i + 1), `${who}: dense seqs`);
      for (const r of records) assert.equal(r.seq, acked.get(r.eventId)?.seq, `${who}: each record at the seq its ack named`);
    }
  });
});
