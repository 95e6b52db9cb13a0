import assert from "node:assert/strict";
import { join } from "node:path";
import { v4 as uuidv4 } from "uuid";
import { pino } from "pino";
import { resolveConfig } from "../../src/config.js";
import { systemClock } from "../../src/clock.js";
import type { AppendEntry, LogRecordView, LogStore, ReadQuery, RecordSource, StoreIntegrity } from "../../src/store/store.js";
import { JetStreamStore } from "../../src/store/jetstream/jetstream-store.js";
import { openStore } from "../../src/store/open-store.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { startNats, type NatsCluster } from "./jetstream/nats-servers.js";

/** A store under test, and its records (`store.records`). */
interface Opened {
  store: LogStore;
  source: RecordSource;
}

/** Opens a store the way the server does: by its URL, through stores.ts. */
async function openByUrl(flags: string[]): Promise<Opened> {
  const config = resolveConfig(["--addr", "127.0.0.1:0", ...flags], {});
  const store = await openStore(config, { clock: systemClock, logger: pino({ level: "silent" }) });
  return { store, source: store.records };
}

/** How to open a store over the same log again (reopen continues it). */
type Opener = () => Promise<Opened>;

const entry = (n: number, id?: string, type = n % 2 ? "odd" : "even"): AppendEntry => ({
  eventId: id ?? uuidv4(),
  clientChosenId: id !== undefined,
  body: `"event_type":"${type}","data":{"n":${n},"text":"caf\u00e9 \\u2028"}`,
});

async function readAll(source: RecordSource, query: ReadQuery = {}, maxSeq?: number): Promise<LogRecordView[]> {
  const cursor = await source.open(query);
  const out: LogRecordView[] = [];
  try {
    for await (const batch of cursor.batches(maxSeq)) out.push(...batch);
  } finally {
    await cursor.close();
  }
  return out;
}

/**
 * The contract every LogStore keeps, whatever is underneath: run against
 * the JSONL Appender and the JetStream store alike.
 */
function storeContract(name: string, integrity: StoreIntegrity, setup: (ctx: { dir: string }) => Promise<{ opener: Opener; teardown?: () => Promise<void> }>): void {
  describe(`LogStore contract: ${name}`, function () {
    this.timeout(60_000);
    let dir: TempDir;
    let opener: Opener;
    let teardown: (() => Promise<void>) | undefined;
    const open: Opened[] = [];
    const openStore = async () => {
      const o = await opener();
      open.push(o);
      return o;
    };
    beforeEach(async () => {
      dir = await tempDir();
      ({ opener, teardown } = await setup({ dir: dir.path }));
    });
    afterEach(async () => {
      for (const o of open.splice(0)) await o.store.close().catch(() => undefined);
      await teardown?.();
      await dir.remove();
    });

    it("acks one call's entries in order with strictly increasing seqs, and reads them back as contract lines", async () => {
      const { store, source } = await openStore();
      const entries = Array.from({ length: 200 }, (_, n) => entry(n));
      const acks = await store.append(entries);
      assert.equal(acks.length, entries.length);
      for (let i = 1; i < acks.length; i++) assert.ok(acks[i].seq > acks[i - 1].seq, `seq ${acks[i].seq} after ${acks[i - 1].seq}`);
      assert.ok(acks.every((a) => !a.duplicate));
      assert.equal(store.lastSeq, acks.at(-1)!.seq);
      const records = await readAll(source);
      assert.deepEqual(records.map((r) => r.eventId), entries.map((e) => e.eventId));
      assert.deepEqual(records.map((r) => r.seq), acks.map((a) => a.seq));
      records.forEach((r, i) => {
        const parsed = JSON.parse(r.json) as Record<string, unknown>;
        // The record contract: these keys first, in this order, seq among our extensions.
        assert.deepEqual(Object.keys(parsed).slice(0, 4), ["event_id", "timestamp", "event_type", "data"]);
        assert.equal(parsed.seq, acks[i].seq);
        assert.equal(parsed.timestamp, acks[i].timestamp);
        assert.deepEqual(parsed.data, { n: i, text: "caf\u00e9 \u2028" });
        assert.equal(r.eventType, i % 2 ? "odd" : "even");
        assert.equal(r.timestamp, acks[i].timestamp);
        assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
        assert.equal(r.fieldLength("json"), Buffer.byteLength(r.json));
      });
    });

    it("tells commit listeners the new last seq after each append, and stops after unsubscribing", async () => {
      const { store } = await openStore();
      assert.equal(store.integrity, integrity);
      const told: number[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = store.onCommit((seq) => {
        told.push(seq);
        wake?.();
      });
      const acks = await store.append([entry(1), entry(2)]);
      // A store may tell listeners just after the ack (JetStream learns of its own writes by watching the stream).
      while (!told.includes(acks[1].seq)) await new Promise<void>((resolve) => (wake = resolve));
      assert.ok(told.every((s) => s <= store.lastSeq));
      unsubscribe();
      const count = told.length;
      await store.append([entry(3)]);
      assert.equal(told.length, count, "no word after unsubscribing");
    });

    it("gives concurrent appends distinct, increasing seqs; a replay returns them in seq order", async () => {
      const { store, source } = await openStore();
      const calls = Array.from({ length: 8 }, (_, c) => Array.from({ length: 50 }, (_, n) => entry(c * 1000 + n)));
      const acks = await Promise.all(calls.map((entries) => store.append(entries)));
      const seqs = acks.flat().map((a) => a.seq);
      assert.equal(new Set(seqs).size, seqs.length, "no seq given twice");
      for (const call of acks) for (let i = 1; i < call.length; i++) assert.ok(call[i].seq > call[i - 1].seq);
      const records = await readAll(source);
      assert.deepEqual(records.map((r) => r.seq), [...seqs].sort((a, b) => a - b));
      const idBySeq = new Map(calls.flat().map((e, i) => [seqs[i], e.eventId]));
      assert.deepEqual(records.map((r) => r.eventId), records.map((r) => idBySeq.get(r.seq)));
    });

    it("answers a repeated client event_id with the original seq and timestamp, and stores it once", async () => {
      const { store, source } = await openStore();
      const id = uuidv4();
      const [first] = await store.append([entry(1, id), entry(2)]);
      await store.append([entry(3)]);
      const [again, other] = await store.append([entry(99, id), entry(4)]);
      assert.equal(again.duplicate, true);
      assert.equal(again.seq, first.seq);
      assert.equal(again.timestamp, first.timestamp);
      assert.equal(other.duplicate, false);
      // A repeat inside one call: the second is the duplicate of the first.
      const twin = uuidv4();
      const [a, b] = await store.append([entry(5, twin), entry(6, twin)]);
      assert.deepEqual([a.duplicate, b.duplicate, b.seq], [false, true, a.seq]);
      const records = await readAll(source);
      assert.equal(records.filter((r) => r.eventId === id).length, 1);
      assert.equal(records.filter((r) => r.eventId === twin).length, 1);
      assert.equal(JSON.parse(records.find((r) => r.eventId === id)!.json).data.n, 1, "the original is kept");
      assert.equal(records.length, 5);
    });

    it("continues the seq after the store is closed and opened again, and remembers event_ids", async () => {
      const first = await openStore();
      const id = uuidv4();
      const acks = await first.store.append([entry(1, id), entry(2)]);
      await first.store.close();
      open.splice(open.indexOf(first), 1);
      const second = await openStore();
      assert.equal(second.store.lastSeq, acks[1].seq);
      const [dup, next] = await second.store.append([entry(1, id), entry(3)]);
      assert.deepEqual([dup.duplicate, dup.seq], [true, acks[0].seq]);
      assert.ok(next.seq > acks[1].seq);
      assert.equal((await readAll(second.source)).length, 3);
    });

    it("reads from a seq, by type, with a limit, and no further than the bound it is given", async () => {
      const { store, source } = await openStore();
      const acks = await store.append(Array.from({ length: 100 }, (_, n) => entry(n)));
      const from = acks[40].seq;
      const tail = await readAll(source, { fromSeq: from });
      assert.deepEqual(tail.map((r) => r.seq), acks.slice(40).map((a) => a.seq));
      const odd = await readAll(source, { eventTypes: new Set(["odd"]), limit: 10 });
      assert.deepEqual(odd.map((r) => r.seq), acks.filter((_, i) => i % 2 === 1).slice(0, 10).map((a) => a.seq));
      // A follower: read what is there, then go on from where it stopped after more is written.
      const cursor = await source.open({ fromSeq: acks[90].seq });
      const seen: number[] = [];
      for await (const batch of cursor.batches(store.lastSeq)) seen.push(...batch.map((r) => r.seq));
      const more = await store.append([entry(100), entry(101)]);
      for await (const batch of cursor.batches(store.lastSeq)) seen.push(...batch.map((r) => r.seq));
      await cursor.close();
      assert.deepEqual(seen, [...acks.slice(90), ...more].map((a) => a.seq));
    });

    it("reads by time: since and until select by the record timestamps", async () => {
      const { store, source } = await openStore();
      const early = await store.append([entry(1), entry(2)]);
      await new Promise((resolve) => setTimeout(resolve, 5)); // distinct timestamps for the two calls
      const late = await store.append([entry(3), entry(4)]);
      const micros = (ts: string) => Date.parse(ts.slice(0, 23) + "Z") * 1000 + Number(ts.slice(23, 26));
      const boundary = micros(late[0].timestamp);
      assert.deepEqual((await readAll(source, { sinceMicros: boundary })).map((r) => r.seq), late.map((a) => a.seq));
      assert.deepEqual((await readAll(source, { untilMicros: boundary })).map((r) => r.seq), early.map((a) => a.seq));
    });
  });
}

storeContract("JSONL file (--store file)", "hash-chain", async ({ dir }) => {
  const path = join(dir, "logs", "pulse_learning_log.jsonl");
  return { opener: () => openByUrl(["--store", "file", "--log-path", path]) };
});

describe("JetStream store", function () {
  this.timeout(60_000);
  let natsDir: TempDir;
  let nats: NatsCluster;
  let streamNo = 0;
  before(async () => {
    natsDir = await tempDir("pulse-nats-");
    nats = await startNats(natsDir.path, 1);
  });
  after(async () => {
    await nats?.stop();
    await natsDir?.remove();
  });

  storeContract("JetStream, single node (--store nats://)", "hash-chain", async ({ dir }) => {
    // A fresh stream per test: the same server, no state between tests.
    const stream = `CONTRACT_${++streamNo}`;
    const flags = ["--store", `nats://${nats.servers.join(",")}`, "--nats-stream", stream, "--nats-subject", `contract.${streamNo}.events`, "--log-path", join(dir, "unused.jsonl")];
    return { opener: () => openByUrl(flags) };
  });

  it("refuses an existing stream that does not capture the subject, naming both", async () => {
    const { store } = await JetStreamStore.open({ servers: nats.servers, stream: "CLASH", subject: "clash.a" });
    await store.close();
    await assert.rejects(JetStreamStore.open({ servers: nats.servers, stream: "CLASH", subject: "clash.b" }), /CLASH.*clash\.b/);
  });
});
