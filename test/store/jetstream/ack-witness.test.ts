import assert from "node:assert/strict";
import { constants } from "node:fs";
import { open, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { v4 as uuidv4 } from "uuid";
import { ServiceError } from "../../../src/errors.js";
import type { AppendEntry } from "../../../src/store/store.js";
import { AckWitness } from "../../../src/store/jetstream/ack-witness.js";
import type { Divergence } from "../../../src/store/jetstream/divergence.js";
import { JetStreamStore } from "../../../src/store/jetstream/jetstream-store.js";
import { healthDefinition } from "../../../src/ops/health.js";
import { startServer, tempDir, type TempDir } from "../../helpers/server.js";
import { startNats, type NatsCluster } from "./nats-servers.js";

const HASH_A = "a".repeat(64);
const HASH_B = "b".repeat(64);
const entry = (n: number): AppendEntry => ({ eventId: uuidv4(), clientChosenId: true, body: `"event_type":"t","data":{"n":${n}}` });

describe("the ack witness file", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir("pulse-witness-");
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("keeps the newest record acked across a reopen, never going back", async () => {
    const path = join(dir.path, "w", "jetstream-S.witness");
    const w = await AckWitness.open(path, "S");
    assert.equal(w.acked, undefined);
    await w.record({ seq: 10, streamSeq: 2, hash: HASH_A });
    await w.record({ seq: 7, streamSeq: 1, hash: HASH_B });
    await w.record({ seq: 25, streamSeq: 5, hash: HASH_B });
    await w.close();
    const again = await AckWitness.open(path, "S");
    assert.deepEqual(again.acked, { seq: 25, streamSeq: 5, hash: HASH_B });
    await again.close();
    // Another stream's front end beside it does not take it for its own.
    const other = await AckWitness.open(path, "T");
    assert.equal(other.acked, undefined);
    await other.close();
  });

  it("writes every slot synchronously: the file is open with O_DSYNC, so a write (and the ack waiting on it) ends only once its bytes are on disk", async () => {
    const path = join(dir.path, "jetstream-S.witness");
    const w = await AckWitness.open(path, "S");
    try {
      const fds = await readdir("/proc/self/fd");
      const links = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).then((to) => [fd, to] as const, () => [fd, ""] as const)));
      const witnessFds = links.filter(([, to]) => to === path);
      assert.equal(witnessFds.length, 1, "the witness file is open once");
      const flags = /^flags:\s+([0-7]+)$/m.exec(await readFile(`/proc/self/fdinfo/${witnessFds[0][0]}`, "utf8"));
      assert.ok(flags, "fdinfo names the flags");
      assert.equal(Number.parseInt(flags[1], 8) & constants.O_DSYNC, constants.O_DSYNC, "opened with O_DSYNC");
      assert.equal(Number.parseInt(flags[1], 8) & constants.O_APPEND, 0, "not O_APPEND: each write goes to its slot");
    } finally {
      await w.close();
    }
  });

  it("survives a torn write of one slot: the other slot still holds the witness before it", async () => {
    const path = join(dir.path, "jetstream-S.witness");
    const w = await AckWitness.open(path, "S");
    await w.record({ seq: 10, streamSeq: 2, hash: HASH_A });
    await w.record({ seq: 20, streamSeq: 4, hash: HASH_B });
    await w.close();
    // The second write went to slot 1 (bytes 256..511): spoil it as a crash mid-write would.
    const fh = await open(path, "r+");
    await fh.write(Buffer.from("{\"w\":\"{\\\"stream\\\":\\\"S\\\",\\\"se"), 0, undefined, 256 + 3);
    await fh.close();
    const again = await AckWitness.open(path, "S");
    assert.deepEqual(again.acked, { seq: 10, streamSeq: 2, hash: HASH_A });
    await again.close();
  });

  it("ignores a file that is not a witness (the front end learns from the stream and the others)", async () => {
    const path = join(dir.path, "jetstream-S.witness");
    await writeFile(path, "not a witness\n");
    const w = await AckWitness.open(path, "S");
    assert.equal(w.acked, undefined);
    await w.record({ seq: 3, streamSeq: 1, hash: HASH_A });
    await w.close();
    assert.ok((await readFile(path)).length >= 256);
    const again = await AckWitness.open(path, "S");
    assert.deepEqual(again.acked, { seq: 3, streamSeq: 1, hash: HASH_A });
    await again.close();
  });
});

describe("a front end whose stream lost acknowledged records", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let nats: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let n = 0;
  before(async () => {
    dir = await tempDir("pulse-nats-witness-");
    nats = await startNats(dir.path, 1);
    nc = await connect({ servers: nats.servers });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
    await dir?.remove();
  });

  const fresh = () => {
    n++;
    return { stream: `W${n}`, subject: `w${n}.events` };
  };
  const openStore = (where: { stream: string; subject: string }, witnessPath: string | undefined, told: Divergence[]) =>
    JetStreamStore.open({ servers: nats.servers, ...where, witnessPath, witnessWaitMs: 300, onDiverged: (d) => told.push(d) }).then((r) => r.store);
  const refusal = (err: unknown) => {
    assert.ok(err instanceof ServiceError, String(err));
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.message, /JetStream stream W\d+ lost acknowledged records: seq 10 was acked at stream sequence \d+/);
    assert.match(err.message, /Nothing was written/);
    assert.match(err.message, /An operator can/);
    return true;
  };

  it("refuses to write after a restart when the stream ends before the record its witness file says was acked, and says why on reads too", async () => {
    const where = fresh();
    const path = join(dir.path, `fe-${where.stream}`, "jetstream.witness");
    const told: Divergence[] = [];
    const a = await openStore(where, path, told);
    assert.equal(a.integrity, "hash-chain");
    const acks = await a.append(Array.from({ length: 10 }, (_, i) => entry(i)));
    assert.equal(acks[9].seq, 10);
    await a.close();
    // The stream loses its records (here: made again; on 2.9.10 a stale replica that leads it).
    await jsm.streams.delete(where.stream);
    const again = await openStore(where, path, told);
    try {
      assert.equal(told.length, 1);
      assert.deepEqual([told[0].kind, told[0].seq], ["behind", 10]);
      await assert.rejects(again.append([entry(11)]), refusal);
      await assert.rejects(again.records.open({}), refusal);
      assert.equal(told.length, 1, "told once");
      assert.equal((await jsm.streams.info(where.stream)).state.messages, 0, "nothing was written");
    } finally {
      await again.close();
    }
  });

  it("refuses when the stream holds another record at the witness's place (same seq, other history)", async () => {
    const where = fresh();
    const path = join(dir.path, `fe-${where.stream}`, "jetstream.witness");
    const told: Divergence[] = [];
    const a = await openStore(where, path, told);
    await a.append(Array.from({ length: 10 }, (_, i) => entry(i)));
    await a.close();
    await jsm.streams.delete(where.stream);
    // Another front end without the witness writes another history to seq 12 meanwhile.
    const b = await openStore(where, undefined, []);
    await b.append(Array.from({ length: 12 }, (_, i) => entry(100 + i)));
    await b.close();
    const again = await openStore(where, path, told);
    try {
      assert.deepEqual(told.map((d) => [d.kind, d.seq]), [["differs", 10]]);
      await assert.rejects(again.append([entry(13)]), refusal);
    } finally {
      await again.close();
    }
  });

  it("a server whose stream lost acked records starts NOT_SERVING on health, and answers writes with UNAVAILABLE naming the lost seq", async () => {
    const where = fresh();
    const feDir = await tempDir("pulse-witness-fe-");
    const flags = ["--store", nats.storeUrl, "--nats-stream", where.stream, "--nats-subject", where.subject];
    try {
      const first = await startServer(feDir.path, flags);
      const res = await first.client.logBatch({ events: Array.from({ length: 10 }, (_, i) => ({ event: { case: "revisionTrigger" as const, value: { reason: `r${i}` } } })) });
      assert.equal(res.acks.at(-1)?.seq, 10n);
      await first.stop();
      await jsm.streams.delete(where.stream);
      // The trust tracker's snapshot would refuse the shorter log too (it covers seq 10): this test is about the store.
      await rm(join(feDir.path, "pulse_learning_log.trust-state"), { recursive: true, force: true });
      const again = await startServer(feDir.path, flags);
      try {
        const Health = grpc.makeGenericClientConstructor(healthDefinition, "Health");
        const health = new Health(again.address, grpc.credentials.createInsecure()) as unknown as { check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void; close(): void };
        const statusOf = (service: string) => new Promise<string>((resolve, reject) => health.check({ service }, (err, r) => (err ? reject(err) : resolve(r!.status))));
        assert.equal(await statusOf(""), "NOT_SERVING");
        assert.equal(await statusOf("pulse.learninglog.v1.LearningLogService"), "NOT_SERVING");
        health.close();
        await assert.rejects(again.client.logBatch({ events: [{ event: { case: "revisionTrigger", value: { reason: "after" } } }] }), (err: grpc.ServiceError) => {
          assert.equal(err.code, status.UNAVAILABLE, `${err.code} ${err.details}`);
          assert.match(err.details, /lost acknowledged records: seq 10 was acked/);
          return true;
        });
      } finally {
        await again.stop();
      }
    } finally {
      await feDir.remove();
    }
  });

  it("a new front end with no witness of its own learns one from a running front end, and refuses too", async () => {
    const where = fresh();
    const told: Divergence[] = [];
    const a = await openStore(where, join(dir.path, `fe-a-${where.stream}`, "jetstream.witness"), told);
    try {
      await a.append(Array.from({ length: 10 }, (_, i) => entry(i)));
      await jsm.streams.delete(where.stream);
      const toldNew: Divergence[] = [];
      const c = await openStore(where, join(dir.path, `fe-c-${where.stream}`, "jetstream.witness"), toldNew);
      try {
        assert.deepEqual(toldNew.map((d) => [d.kind, d.seq]), [["behind", 10]], "learned seq 10 from the running front end");
        await assert.rejects(c.append([entry(11)]), refusal);
      } finally {
        await c.close();
      }
    } finally {
      await a.close();
    }
  });
});
