import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { status } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { LearningLogService, type LearningEventSchema, type LogRecord, type ReadEventsRequestSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../../src/rpc/client.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";
import { sample, scrape } from "../helpers/metrics.js";

type Event = MessageInitShape<typeof LearningEventSchema>;
const weight = (n: number): Event => ({ event: { case: "variableWeightChange", value: { variable: `v${n % 7}`, oldWeight: n, newWeight: n + 1 } } });
const revision = (n: number): Event => ({ event: { case: "revisionTrigger", value: { reason: `r${n}` } } });

/** Writes `count` events in LogBatch calls of `batch` events (each batch is one commit: one timestamp). */
async function writeEvents(ts: TestServer, count: number, make: (n: number) => Event = (n) => (n % 2 ? revision(n) : weight(n)), batch = 5000): Promise<void> {
  for (let i = 0; i < count; i += batch) {
    const events = Array.from({ length: Math.min(batch, count - i) }, (_, j) => make(i + j));
    const res = await ts.client.logBatch({ events });
    assert.equal(res.errors.length, 0);
  }
}

async function readAll(ts: TestServer, request: MessageInitShape<typeof ReadEventsRequestSchema>): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const m of ts.client.readEvents(request)) out.push(...m.records);
  return out;
}

async function fileLines(path: string): Promise<string[]> {
  return (await readFile(path, "utf8")).trimEnd().split("\n");
}

async function grpcError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: number; details: string };
  }
  assert.fail("expected the call to fail");
}


describe("ReadEvents", () => {
  let dir: TempDir;
  let ts: TestServer;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await ts?.stop();
    await dir.remove();
  });

  it("replays the log as written: every record, seq order, identity fields matching the line", async () => {
    ts = await startServer(dir.path);
    await writeEvents(ts, 3000);
    const records = await readAll(ts, {});
    const lines = await fileLines(ts.logPath);
    assert.equal(records.length, 3000);
    records.forEach((r, i) => {
      assert.equal(r.json, lines[i]);
      const parsed = JSON.parse(lines[i]) as Record<string, unknown>;
      assert.equal(r.seq, BigInt(parsed.seq as number));
      assert.equal(r.eventId, parsed.event_id);
      assert.equal(r.timestamp, parsed.timestamp);
      assert.equal(r.eventType, parsed.event_type);
    });
  });

  it("filters by from_seq, event types, time range and limit", async () => {
    ts = await startServer(dir.path);
    await writeEvents(ts, 1000, undefined, 50);
    const lines = (await fileLines(ts.logPath)).map((l) => JSON.parse(l) as { seq: number; timestamp: string; event_type: string });
    const seqsOf = (records: LogRecord[]) => records.map((r) => Number(r.seq));

    assert.deepEqual(seqsOf(await readAll(ts, { fromSeq: 990n })), [990, 991, 992, 993, 994, 995, 996, 997, 998, 999, 1000]);
    assert.deepEqual(seqsOf(await readAll(ts, { fromSeq: 5n, limit: 3n })), [5, 6, 7]);
    const weights = await readAll(ts, { eventTypes: ["variable_weight_update"], limit: 4n });
    assert.deepEqual(
      seqsOf(weights),
      lines.filter((l) => l.event_type === "variable_weight_update").slice(0, 4).map((l) => l.seq),
    );
    // A time range taken from the records themselves: [since, until).
    const since = lines[200].timestamp;
    const until = lines[700].timestamp;
    const want = lines.filter((l) => l.timestamp >= since && l.timestamp < until).map((l) => l.seq);
    assert.ok(want.length > 0);
    assert.deepEqual(seqsOf(await readAll(ts, { since, until })), want);
    assert.deepEqual(seqsOf(await readAll(ts, { fromSeq: 10_000n })), []);
  });

  it("answers INVALID_ARGUMENT naming the field for bad requests", async () => {
    ts = await startServer(dir.path);
    await writeEvents(ts, 3);
    const cases: Array<[MessageInitShape<typeof ReadEventsRequestSchema>, string]> = [
      [{ since: "yesterday" }, "since"],
      [{ until: "2026-11-24T19:05:53" }, "until"],
      [{ since: "2026-11-24T19:05:53Z", until: "2026-11-24T19:05:53Z" }, "until"],
      [{ limit: 2n ** 60n }, "limit"],
      [{ fromSeq: 2n ** 60n }, "from_seq"],
      [{ eventTypes: ["ok", ""] }, "event_types[1]"],
      [{ eventTypes: ["x".repeat(200)] }, "event_types[0]"],
      [{ eventTypes: ["bad\ntype"] }, "event_types[0]"],
    ];
    for (const [request, field] of cases) {
      const err = await grpcError(readAll(ts, request));
      assert.equal(err.code, status.INVALID_ARGUMENT, JSON.stringify(request, (_, v) => (typeof v === "bigint" ? String(v) : v)));
      assert.ok(err.details.startsWith(`${field}: `), err.details);
    }
  });

  it("follow streams records committed after the call started, until cancelled", async () => {
    ts = await startServer(dir.path);
    await writeEvents(ts, 5);
    const stream = ts.client.readEvents({ follow: true, eventTypes: ["symbolic_revision_triggered", "variable_weight_update"] });
    const iterator = stream[Symbol.asyncIterator]();
    const received: number[] = [];
    const next = async () => {
      const r = await iterator.next();
      assert.ok(!r.done);
      received.push(...r.value.records.map((x) => Number(x.seq)));
    };
    // The five existing records come first: the call is now running on the server.
    while (received.length < 5) await next();
    assert.deepEqual(received, [1, 2, 3, 4, 5]);
    // Written after: arrives through the commit notifications.
    await ts.client.logRevisionTrigger({ reason: "later" });
    await ts.client.logEvent({ eventType: "not_followed", data: {} });
    await writeEvents(ts, 3, weight);
    while (received.length < 9) await next();
    assert.deepEqual(received, [1, 2, 3, 4, 5, 6, 8, 9, 10]);
    (stream as unknown as { cancel(): void }).cancel();
    const end = await grpcError(iterator.next());
    assert.equal(end.code, status.CANCELLED);
  });

  it("follow ends with UNAVAILABLE and the seq to resume from when the server shuts down", async () => {
    ts = await startServer(dir.path);
    await writeEvents(ts, 2);
    const iterator = ts.client.readEvents({ follow: true })[Symbol.asyncIterator]();
    let got = 0;
    while (got < 2) got += ((await iterator.next()).value?.records.length as number) ?? 0;
    const stopping = ts.stop();
    const err = await grpcError(iterator.next());
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /from_seq 3/);
    await stopping;
    ts = undefined as unknown as TestServer;
  });

  it("a paused follower holds the server back (flow control) instead of growing its memory, then gets everything in order", async () => {
    // Small messages so the transport's buffers hold few records.
    ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0", "--message-bytes-max", "65536"]);
    const metricsPort = ts.server.metricsPort!;
    await writeEvents(ts, 10);
    // Its own connection, so its stalled HTTP/2 windows cannot slow the other client.
    const slow = createClient(LearningLogService, ts.address, undefined, { "grpc.use_local_subchannel_pool": 1 });
    try {
      const paused = slow.readEvents({ follow: true })[Symbol.asyncIterator]();
      const first = await paused.next();
      assert.ok(!first.done && first.value.records.length > 0);
      // The slow client now reads nothing while 60,000 records (~12 MB) are written.
      const total = 60_010;
      await writeEvents(ts, total - 10, undefined, 500);
      // A second follower reads everything; when it has the last record the
      // server has been told of every commit.
      let fast = 0;
      for await (const m of ts.client.readEvents({ follow: true })) {
        fast += m.records.length;
        if (fast === total) break;
      }
      const sent = sample(await scrape(metricsPort), "pulse_read_records_sent_total") ?? 0;
      const toSlow = sent - fast;
      assert.ok(toSlow < total * 0.25, `the server pushed ${toSlow} of ${total} records to a client that reads nothing`);
      // Resuming: every record, in order, none lost.
      let expected = 1;
      for (const r of first.value.records) assert.equal(Number(r.seq), expected++);
      while (expected <= total) {
        const m = await paused.next();
        assert.ok(!m.done);
        for (const r of m.value.records) assert.equal(Number(r.seq), expected++);
      }
      await paused.return?.();
    } finally {
      slow.close();
    }
  });
});
