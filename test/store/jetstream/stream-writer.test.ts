import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JetStreamManager, type JetStreamPublishOptions, type PubAck, type StoredMsg } from "@nats-io/jetstream";
import { v4 as uuidv4 } from "uuid";
import { formatTimestamp } from "../../../src/clock.js";
import { ServiceError } from "../../../src/errors.js";
import { recordHead } from "../../../src/record/layout.js";
import { chainHash, splitHashedLine } from "../../../src/store/hash-chain.js";
import type { AppendEntry, AppendResult, LogRecordView, RecordSource } from "../../../src/store/store.js";
import { JetStreamRecordSource } from "../../../src/store/jetstream/jetstream-reader.js";
import { JetStreamStore } from "../../../src/store/jetstream/jetstream-store.js";
import { FIRST_SEQ_HEADER, LAST_SEQ_HEADER, MessageBuilder } from "../../../src/store/jetstream/record-message.js";
import { storedMessageOf } from "../../../src/store/jetstream/stored-record.js";
import { messageGetter } from "../../../src/store/jetstream/stream-positions.js";
import { AckWitness } from "../../../src/store/jetstream/ack-witness.js";
import { StreamWindow } from "../../../src/store/jetstream/stream-window.js";
import { StreamWriter } from "../../../src/store/jetstream/stream-writer.js";
import { tempDir, type TempDir } from "../../helpers/server.js";
import { startNats, type NatsCluster } from "./nats-servers.js";

const entry = (n: number, eventId?: string): AppendEntry => ({
  eventId: eventId ?? uuidv4(),
  clientChosenId: eventId !== undefined,
  body: `"event_type":"t","data":{"n":${n}}`,
});

async function readAll(source: RecordSource): Promise<LogRecordView[]> {
  const cursor = await source.open();
  const out: LogRecordView[] = [];
  try {
    for await (const batch of cursor.batches()) out.push(...batch);
  } finally {
    await cursor.close();
  }
  return out;
}

/** The client's error for a request nobody answered in time. */
const timeout = () => Object.assign(new Error("timeout"), { name: "TimeoutError" });

describe("JetStream stream writer: front ends taking turns on one stream", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let nats: NatsCluster;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let streamNo = 0;
  const stores: JetStreamStore[] = [];
  before(async () => {
    dir = await tempDir("pulse-nats-writer-");
    nats = await startNats(dir.path, 1);
    nc = await connect({ servers: nats.servers });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
    await dir?.remove();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  });

  /** A fresh stream name and subject. */
  const fresh = () => ({ stream: `WRITER_${++streamNo}`, subject: `writer.${streamNo}.events` });
  /** A front end on the stream (a store of its own, with its own connection). */
  async function frontEnd(where: { stream: string; subject: string }, options: { onGap?: (expected: number, found: number, streamSeq: number) => void } = {}): Promise<JetStreamStore> {
    const { store } = await JetStreamStore.open({ servers: nats.servers, ...where, ...options });
    stores.push(store);
    return store;
  }

  it("a front end that lost the race reads the other's message, continues its seqs after it, and publishes again", async () => {
    const where = fresh();
    // Both open on the empty stream: each expects to publish right after sequence 0.
    const a = await frontEnd(where);
    const b = await frontEnd(where);
    const fromA = await a.append([entry(1), entry(2), entry(3)]);
    const fromB = await b.append([entry(4), entry(5)]);
    assert.deepEqual(fromA.map((r) => r.seq), [1, 2, 3]);
    assert.deepEqual(fromB.map((r) => r.seq), [4, 5], "B's seqs follow A's records, not its own stale end");
    assert.equal(b.writerStats.racesLost, 1);
    assert.equal(b.writerStats.recordsCaughtUp, 3);
    assert.equal(a.writerStats.racesLost, 0);
    assert.equal(b.lastSeq, 5);
    const records = await readAll(b.records);
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(records.map((r) => JSON.parse(r.json).data.n), [1, 2, 3, 4, 5]);
    // Two messages on the stream, one per group commit, headers naming their seqs.
    const info = await jsm.streams.info(where.stream);
    assert.equal(info.state.messages, 2);
    const second = await jsm.streams.getMessage(where.stream, { seq: 2 });
    assert.deepEqual([second?.header.get(FIRST_SEQ_HEADER), second?.header.get(LAST_SEQ_HEADER)], ["4", "5"]);
  });

  it("exactly once across front ends: a retry that reaches the front end losing the race is answered with the record the other stored", async () => {
    const where = fresh();
    const a = await frontEnd(where);
    const b = await frontEnd(where);
    const id = uuidv4();
    // A stores the event after B opened: B's window does not hold it, so B only learns of it by losing the race.
    const [original] = await a.append([entry(0), entry(1, id)]).then((r) => r.slice(1));
    const [fresh1, retry, fresh2] = await b.append([entry(2, uuidv4()), entry(1, id), entry(3)]);
    assert.equal(b.writerStats.racesLost, 1);
    assert.deepEqual(retry, { seq: original.seq, timestamp: original.timestamp, duplicate: true });
    assert.deepEqual([fresh1.seq, fresh2.seq, fresh1.duplicate, fresh2.duplicate], [3, 4, false, false], "the others are written after A's records, with the retry left out");
    const records = await readAll(a.records);
    assert.equal(records.filter((r) => r.eventId === id).length, 1);
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4]);
    // And a later retry at either front end is answered from its window.
    assert.deepEqual((await a.append([entry(1, id)]))[0], retry);
    assert.deepEqual((await b.append([entry(1, id)]))[0], retry);
  });

  it("skips other programs' messages on the subject; the seqs go on without a gap", async () => {
    const where = fresh();
    const a = await frontEnd(where);
    await a.append([entry(1)]);
    await js.publish(where.subject, "not a record");
    const [next] = await a.append([entry(2)]);
    assert.equal(next.seq, 2);
    assert.equal(a.writerStats.racesLost, 1, "the foreign message took the place A expected");
    assert.deepEqual((await readAll(a.records)).map((r) => r.seq), [1, 2]);
  });

  it("tells of records that do not follow on (a writer that does not take turns), and goes on after the highest seq", async () => {
    const where = fresh();
    const gaps: Array<[number, number, number]> = [];
    const a = await frontEnd(where, { onGap: (expected, found, streamSeq) => gaps.push([expected, found, streamSeq]) });
    await a.append([entry(1)]);
    const h = headers();
    h.set(FIRST_SEQ_HEADER, "10");
    h.set(LAST_SEQ_HEADER, "10");
    await js.publish(where.subject, `{"event_id":"${uuidv4()}","timestamp":"${formatTimestamp(Date.now() * 1000)}","event_type":"t","data":{},"seq":10}\n`, { headers: h });
    const [next] = await a.append([entry(2)]);
    assert.deepEqual(gaps, [[2, 10, 2]]);
    assert.equal(next.seq, 11);
  });

  it("continues a stream written one record per message by an earlier version: those records keep their stream sequence as seq", async () => {
    const where = fresh();
    await jsm.streams.add({ name: where.stream, subjects: [where.subject], duplicate_window: 120e9 });
    const ts = formatTimestamp(Date.now() * 1000);
    const oldIds = [uuidv4(), uuidv4(), uuidv4()];
    for (const [i, id] of oldIds.entries()) await js.publish(where.subject, storedMessageOf(id, ts, `"event_type":"old","data":{"n":${i}}`), { msgID: id });
    const a = await frontEnd(where);
    assert.equal(a.lastSeq, 3);
    const [dup, next] = await a.append([entry(0, oldIds[1]), entry(9)]);
    assert.deepEqual(dup, { seq: 2, timestamp: ts, duplicate: true }, "the old records are in the dedup window");
    assert.equal(next.seq, 4);
    const records = await readAll(a.records);
    assert.deepEqual(records.map((r) => [r.seq, r.eventType]), [[1, "old"], [2, "old"], [3, "old"], [4, "t"]]);
    assert.equal(JSON.parse(records[1].json).seq, 2, "an old record is read with its seq added");
  });

  it("takes turns with another front end writing at the same time: every append of both is stored once, seqs dense", async () => {
    const where = fresh();
    const a = await frontEnd(where);
    const b = await frontEnd(where);
    const write = async (store: JetStreamStore, tag: number) => {
      const calls: Array<Promise<AppendResult[]>> = [];
      for (let i = 0; i < 40; i++) calls.push(store.append(Array.from({ length: 50 }, (_, j) => entry(tag * 100_000 + i * 100 + j, uuidv4()))));
      return (await Promise.all(calls)).flat();
    };
    const [fromA, fromB] = await Promise.all([write(a, 1), write(b, 2)]);
    const seqs = [...fromA, ...fromB].map((r) => r.seq).sort((x, y) => x - y);
    assert.deepEqual(seqs, Array.from({ length: 4000 }, (_, i) => i + 1));
    assert.ok([...fromA, ...fromB].every((r) => !r.duplicate));
    const records = await readAll(a.records);
    assert.deepEqual(records.map((r) => r.seq), seqs);
    assert.equal(new Set(records.map((r) => r.eventId)).size, 4000);
    assert.ok(a.writerStats.messages > 0 && b.writerStats.messages > 0);
  });

  it("writes a repeat of an event_id whose first call failed before it was sent (here: another event of that call too large)", async () => {
    const where = fresh();
    await jsm.streams.add({ name: where.stream, subjects: [where.subject], duplicate_window: 120e9 });
    const source = new JetStreamRecordSource(js, jsm, where.stream);
    const writer = new StreamWriter(
      { js, jsm, get: messageGetter(jsm, where.stream, { direct: false, retryMs: 10_000 }), scan: (a, b, h) => source.scan(a, b, h), window: new StreamWindow(1000), tail: { streamSeq: 0, recordSeq: 0, hash: "" }, witness: await AckWitness.open(undefined, where.stream), onCommitted: () => undefined },
      { stream: where.stream, subject: where.subject, publishTimeoutMs: 5000, publishRetryMs: 30_000, readRetryMs: 10_000, messageBytesMax: 2000, messagesInFlightMax: 4 },
    );
    const id = uuidv4();
    const ts = formatTimestamp(Date.now() * 1000);
    const huge: AppendEntry = { eventId: uuidv4(), body: `"event_type":"t","data":{"s":"${"x".repeat(3000)}"}` };
    // Both calls are queued before the commit loop runs: the second waits for the first's record of the same id.
    const first = writer.append([huge, entry(1, id)], ts);
    const retry = writer.append([entry(1, id)], ts);
    await assert.rejects(first, (err: unknown) => err instanceof ServiceError && err.code === status.INVALID_ARGUMENT && /event: is too large for one JetStream message/.test(err.message));
    assert.deepEqual(await retry, [{ seq: 1, timestamp: ts, duplicate: false }], "the repeat is written in its stead");
    assert.deepEqual((await readAll(source)).map((r) => r.eventId), [id]);
  });

  it("a catch-up whose direct get is answered by a replica holding another history reads the stream leader's copy instead, and goes on writing after it", async () => {
    const where = fresh();
    await jsm.streams.add({ name: where.stream, subjects: [where.subject], duplicate_window: 120e9, allow_direct: true });
    // Another front end stores two messages first (seqs 1-2, 3-4).
    const other = await frontEnd(where);
    await other.append([entry(1), entry(2)]);
    await other.append([entry(3), entry(4)]);
    const source = new JetStreamRecordSource(js, jsm, where.stream);
    const leaderGet = messageGetter(jsm, where.stream, { direct: false, retryMs: 10_000 });
    // The "replica": answers stream sequence 2 with a message of another history (same seqs, other records).
    const replicaGet = async (seq: number) => {
      if (seq !== 2) return leaderGet(seq);
      const builder = new MessageBuilder(64 * 1024, 3, "0".repeat(64));
      builder.add({}, uuidv4(), recordHead(formatTimestamp(Date.now() * 1000)), `"event_type":"t","data":{"n":99}`, false);
      builder.add({}, uuidv4(), recordHead(formatTimestamp(Date.now() * 1000)), `"event_type":"t","data":{"n":98}`, false);
      return { seq, data: builder.bytes, header: builder.headers() } as unknown as StoredMsg;
    };
    const told: Array<[number, boolean]> = [];
    const diverged: unknown[] = [];
    const writer = new StreamWriter(
      {
        js,
        jsm,
        get: replicaGet,
        leaderGet,
        onReadDivergence: (seq, _cause, mended) => told.push([seq, mended]),
        onDiverged: (d) => diverged.push(d),
        scan: (a, b, h) => source.scan(a, b, h),
        window: new StreamWindow(1000),
        tail: { streamSeq: 0, recordSeq: 0, hash: "" },
        witness: await AckWitness.open(undefined, where.stream),
        onCommitted: () => undefined,
      },
      { stream: where.stream, subject: where.subject, publishTimeoutMs: 5000, publishRetryMs: 30_000, readRetryMs: 10_000, messageBytesMax: 64 * 1024, messagesInFlightMax: 4 },
    );
    const ts = formatTimestamp(Date.now() * 1000);
    // It expects an empty stream, loses the race, and catches up through the "replica".
    assert.deepEqual((await writer.append([entry(5)], ts)).map((r) => r.seq), [5]);
    assert.deepEqual(told, [[2, true]]);
    assert.deepEqual(diverged, [], "a replica's copy is no reason to stop writing");
    const records = await readAll(source);
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4, 5]);
    // One chain across both front ends' messages.
    let previous = "";
    for (const r of records) {
      const hashed = splitHashedLine(Buffer.from(r.json))!;
      assert.equal(hashed.hash, chainHash(previous, hashed.prefix), `seq ${r.seq}`);
      previous = hashed.hash;
    }
  });

  describe("a message published again after a passing failure", () => {
    /** A writer on a fresh stream whose JetStream client fails publishes as `fail` says (after or instead of the real publish). */
    async function flakyWriter(fail: (attempt: number, publish: () => Promise<PubAck>) => Promise<PubAck>) {
      const where = fresh();
      await jsm.streams.add({ name: where.stream, subjects: [where.subject], duplicate_window: 120e9, allow_direct: true });
      let attempt = 0;
      const flaky = { publish: (subject: string, data: Uint8Array, options: Partial<JetStreamPublishOptions>) => fail(++attempt, () => js.publish(subject, data, options)) } as unknown as JetStreamClient;
      const source = new JetStreamRecordSource(js, jsm, where.stream);
      const writer = new StreamWriter(
        { js: flaky, jsm, get: messageGetter(jsm, where.stream, { direct: true, retryMs: 10_000 }), scan: (a, b, h) => source.scan(a, b, h), window: new StreamWindow(1000), tail: { streamSeq: 0, recordSeq: 0, hash: "" }, witness: await AckWitness.open(undefined, where.stream), onCommitted: () => undefined },
        { stream: where.stream, subject: where.subject, publishTimeoutMs: 5000, publishRetryMs: 30_000, readRetryMs: 10_000, messageBytesMax: 1024 * 1024, messagesInFlightMax: 4 },
      );
      return { writer, source, where };
    }

    it("is stored once when its first try was stored but its ack lost: JetStream answers the same message id as a duplicate", async () => {
      const { writer, source, where } = await flakyWriter(async (attempt, publish) => {
        const ack = await publish();
        if (attempt === 1) throw timeout();
        return ack;
      });
      const ts = formatTimestamp(Date.now() * 1000);
      const results = await writer.append([entry(1), entry(2)], ts);
      assert.deepEqual(results, [
        { seq: 1, timestamp: ts, duplicate: false },
        { seq: 2, timestamp: ts, duplicate: false },
      ]);
      assert.equal(writer.stats.republished, 1);
      assert.equal((await jsm.streams.info(where.stream)).state.messages, 1);
      assert.deepEqual((await readAll(source)).map((r) => r.seq), [1, 2]);
    });

    it("is found by its message id when the retry is refused for the place it took (the answer after the duplicate window)", async () => {
      const { writer, source } = await flakyWriter(async (attempt, publish) => {
        if (attempt === 1) {
          await publish();
          throw timeout();
        }
        // What JetStream answers a retry of a stored message once its id has left the duplicate window.
        if (attempt === 2) throw new JetStreamApiError({ code: 400, err_code: 10071, description: "wrong last sequence: 1" });
        return publish();
      });
      const ts = formatTimestamp(Date.now() * 1000);
      const results = await writer.append([entry(1), entry(2)], ts);
      assert.deepEqual(results.map((r) => [r.seq, r.duplicate]), [
        [1, false],
        [2, false],
      ]);
      assert.equal(writer.stats.racesLost, 1);
      assert.equal(writer.stats.messages, 1);
      assert.deepEqual((await readAll(source)).map((r) => r.seq), [1, 2], "stored once");
      const [next] = await writer.append([entry(3)], ts);
      assert.equal(next.seq, 3);
    });

    it("fails its appends with UNAVAILABLE once the retry horizon has passed, naming the cause", async () => {
      const where = fresh();
      await jsm.streams.add({ name: where.stream, subjects: [where.subject], duplicate_window: 120e9 });
      const never = { publish: async () => Promise.reject(timeout()) } as unknown as JetStreamClient;
      const source = new JetStreamRecordSource(js, jsm, where.stream);
      const writer = new StreamWriter(
        { js: never, jsm, get: messageGetter(jsm, where.stream, { direct: false, retryMs: 1000 }), scan: (a, b, h) => source.scan(a, b, h), window: new StreamWindow(1000), tail: { streamSeq: 0, recordSeq: 0, hash: "" }, witness: await AckWitness.open(undefined, where.stream), onCommitted: () => undefined },
        { stream: where.stream, subject: where.subject, publishTimeoutMs: 100, publishRetryMs: 300, readRetryMs: 1000, messageBytesMax: 1024 * 1024, messagesInFlightMax: 4 },
      );
      await assert.rejects(writer.append([entry(1)], formatTimestamp(Date.now() * 1000)), (err: unknown) => {
        assert.ok(err instanceof ServiceError && err.code === status.UNAVAILABLE, String(err));
        assert.match(err.message, /did not store the records within 300 ms \(timeout\); nothing of them was acked/);
        return true;
      });
      await writer.drained();
    });
  });
});
