import assert from "node:assert/strict";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { v4 as uuidv4 } from "uuid";
import type { LearningEventSchema, LogRecord, ReadEventsRequestSchema } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { chainHash, splitHashedLine } from "../../../src/store/hash-chain.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../../helpers/server.js";
import { startNats, type NatsCluster } from "./nats-servers.js";

type Event = MessageInitShape<typeof LearningEventSchema>;
const revision = (reason: string, eventId?: string): Event => ({ event: { case: "revisionTrigger", value: { reason, eventId } } });

async function readAll(ts: TestServer, request: MessageInitShape<typeof ReadEventsRequestSchema> = {}): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const m of ts.client.readEvents(request)) out.push(...m.records);
  return out;
}

describe("JetStream store behind the server: many front ends", function () {
  this.timeout(90_000);
  let natsDir: TempDir;
  let nats: NatsCluster;
  const dirs: TempDir[] = [];
  const servers: TestServer[] = [];
  let streamNo = 0;
  before(async () => {
    natsDir = await tempDir("pulse-nats-");
    nats = await startNats(natsDir.path, 1);
  });
  after(async () => {
    await nats?.stop();
    await natsDir?.remove();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop().catch(() => undefined);
    for (const d of dirs.splice(0)) await d.remove();
  });

  /** Starts `count` servers on one fresh stream, each with its own folder (trust state). */
  async function frontEnds(count: number): Promise<TestServer[]> {
    const flags = streamFlags(++streamNo);
    for (let i = 0; i < count; i++) servers.push(await frontEnd(flags));
    return servers;
  }

  const streamFlags = (n: number) => ["--store", nats.storeUrl, "--nats-stream", `FRONT_${n}`, "--nats-subject", `front.${n}.events`];

  /** One more server with the given flags, in a folder of its own. */
  async function frontEnd(flags: string[]): Promise<TestServer> {
    const dir = await tempDir();
    dirs.push(dir);
    return startServer(dir.path, flags);
  }

  it("takes writes on two servers at once with no seq given twice; a replay from either returns the same events in the same order", async () => {
    const [a, b] = await frontEnds(2);
    const write = async (ts: TestServer, tag: string) => {
      const acks = [];
      for (let i = 0; i < 20; i++) {
        const res = await ts.client.logBatch({ events: Array.from({ length: 50 }, (_, j) => revision(`${tag}-${i}-${j}`)) });
        assert.equal(res.errors.length, 0);
        acks.push(...res.acks);
      }
      return acks;
    };
    const [fromA, fromB] = await Promise.all([write(a, "a"), write(b, "b")]);
    const seqs = [...fromA, ...fromB].map((ack) => Number(ack.seq));
    assert.equal(new Set(seqs).size, 2000, "every ack has its own seq");
    // The two servers' writes interleave on the stream, and together fill 1..2000.
    assert.deepEqual([...seqs].sort((x, y) => x - y), Array.from({ length: 2000 }, (_, i) => i + 1));
    const [replayA, replayB] = await Promise.all([readAll(a), readAll(b)]);
    assert.equal(replayA.length, 2000);
    assert.deepEqual(replayB.map((r) => [r.seq, r.eventId, r.json]), replayA.map((r) => [r.seq, r.eventId, r.json]));
    const acked = new Map([...fromA, ...fromB].map((ack) => [ack.eventId, Number(ack.seq)]));
    // One hash chain across both front ends' messages, as the file store writes it.
    let previous = "";
    for (const r of replayA) {
      assert.equal(acked.get(r.eventId), Number(r.seq));
      const line = JSON.parse(r.json) as Record<string, unknown>;
      assert.deepEqual(Object.keys(line), ["event_id", "timestamp", "event_type", "data", "seq", "hash"]);
      assert.equal(line.event_type, "symbolic_revision_triggered");
      const hashed = splitHashedLine(Buffer.from(r.json));
      assert.ok(hashed !== undefined);
      assert.equal(hashed.hash, chainHash(previous, hashed.prefix), `seq ${r.seq} chains on the record before`);
      previous = hashed.hash;
    }
  });

  it("answers a retry sent to the other server as a duplicate with the original seq", async () => {
    const [a, b] = await frontEnds(2);
    const id = uuidv4();
    const first = await a.client.logBatch({ events: [revision("once", id)] });
    const retry = await b.client.logBatch({ events: [revision("once", id)] });
    assert.equal(retry.acks[0].duplicate, true);
    assert.equal(retry.acks[0].seq, first.acks[0].seq);
    assert.equal(retry.acks[0].timestamp, first.acks[0].timestamp);
    assert.equal((await readAll(b)).length, 1);
  });

  it("after every front end is restarted, retries of the last event_ids written through both are answered duplicate with the original seq and timestamp", async () => {
    // The window is JetStream's own (Nats-Msg-Id, kept by the stream, 2 minutes): no front end keeps or rebuilds one,
    // so it does not matter how the stream is laid out: two front ends' records interleaved, other messages between them.
    const [a, b] = await frontEnds(2);
    const flags = streamFlags(streamNo);
    const nc = await connect({ servers: nats.servers });
    const events = (tag: string) => Array.from({ length: 50 }, (_, j) => revision(`${tag}-${j}`, uuidv4()));
    const sent = new Map<string, Event>();
    const write = async (ts: TestServer, tag: string) => {
      const acks = [];
      for (let i = 0; i < 10; i++) {
        const batch = events(`${tag}-${i}`);
        for (const e of batch) sent.set((e.event!.value as { eventId: string }).eventId, e);
        const res = await ts.client.logBatch({ events: batch });
        assert.equal(res.errors.length, 0);
        acks.push(...res.acks);
        nc.publish(`front.${streamNo}.events`, `not a record ${tag}-${i}`); // another program's message on the subject
      }
      return acks;
    };
    const originals = (await Promise.all([write(a, "a"), write(b, "b")])).flat();
    await nc.flush();
    await nc.close();
    assert.equal(originals.length, 1000);
    for (const ts of servers.splice(0)) await ts.stop();
    const restarted = await frontEnd(flags);
    servers.push(restarted);
    const byId = new Map(originals.map((ack) => [ack.eventId, ack]));
    const ids = [...byId.keys()];
    for (let i = 0; i < ids.length; i += 100) {
      const res = await restarted.client.logBatch({ events: ids.slice(i, i + 100).map((id) => sent.get(id)!) });
      assert.equal(res.errors.length, 0);
      for (const ack of res.acks) {
        const original = byId.get(ack.eventId)!;
        assert.deepEqual([ack.duplicate, ack.seq, ack.timestamp], [true, original.seq, original.timestamp], `retry of ${ack.eventId}`);
      }
    }
    assert.equal((await readAll(restarted)).length, 1000, "nothing written twice");
  });

  it("exactly once across two front ends: the same event_ids sent to both at once, amid other writes, are each stored once, and both answer with the same seq and timestamp", async () => {
    // Each front end publishes group commits of many records; the two race for every turn, and
    // the one that loses reads the other's messages before it writes: a retry it finds there is a duplicate.
    const [a, b] = await frontEnds(2);
    const shared = Array.from({ length: 600 }, (_, i) => revision(`shared-${i}`, uuidv4()));
    const send = (ts: TestServer, events: Event[]) => Promise.all(Array.from({ length: events.length / 100 }, (_, k) => ts.client.logBatch({ events: events.slice(k * 100, k * 100 + 100) })));
    const others = (tag: string) => Array.from({ length: 300 }, (_, i) => revision(`${tag}-${i}`));
    const [viaA, viaB] = await Promise.all([send(a, [...shared].reverse()), send(b, shared), send(a, others("a")), send(b, others("b"))]);
    const acksA = new Map(viaA.flatMap((r) => r.acks).map((ack) => [ack.eventId, ack]));
    const acksB = new Map(viaB.flatMap((r) => r.acks).map((ack) => [ack.eventId, ack]));
    for (const e of shared) {
      const id = (e.event!.value as { eventId: string }).eventId;
      const [x, y] = [acksA.get(id)!, acksB.get(id)!];
      assert.deepEqual([x.seq, x.timestamp], [y.seq, y.timestamp], `both front ends name one record for ${id}`);
      assert.equal(Number(!x.duplicate) + Number(!y.duplicate), 1, `exactly one of the two stored ${id}`);
    }
    const replay = await readAll(a);
    assert.equal(replay.length, 600 + 600, "the shared events once, and both front ends' other events");
    assert.equal(new Set(replay.map((r) => r.eventId)).size, replay.length);
    assert.deepEqual(replay.map((r) => Number(r.seq)), Array.from({ length: 1200 }, (_, i) => i + 1), "dense seqs across both front ends");
  });

  it("follows from one server what another writes", async () => {
    const [a, b] = await frontEnds(2);
    const seen: LogRecord[] = [];
    const call = b.client.readEvents({ follow: true });
    const followed = (async () => {
      for await (const m of call) {
        seen.push(...m.records);
        if (seen.length >= 30) break;
      }
    })();
    for (let i = 0; i < 3; i++) await a.client.logBatch({ events: Array.from({ length: 10 }, (_, j) => revision(`f${i}-${j}`)) });
    await followed;
    assert.deepEqual(seen.map((r) => Number(r.seq)), Array.from({ length: 30 }, (_, i) => i + 1));
  });
});
