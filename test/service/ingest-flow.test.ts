import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { status } from "@grpc/grpc-js";
import { v4 as uuidv4 } from "uuid";
import { faultyFs, gate } from "../helpers/faulty-fs.js";
import { onFileSystem, startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

const batch = (batchId: number, size: number, pad = "") => ({
  batchId: BigInt(batchId),
  events: Array.from({ length: size }, (_, i) => ({ event: { case: "revisionTrigger" as const, value: { reason: `b${batchId}e${i}${pad}`, eventId: uuidv4() } } })),
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function logLines(path: string): Promise<Array<{ seq: number; event_id: string }>> {
  return (await readFile(path, "utf8"))
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l) as { seq: number; event_id: string });
}

describe("IngestEvents flow control and shutdown", () => {
  let dir: TempDir;
  let t: TestServer | undefined;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await t?.stop().catch(() => undefined);
    t = undefined;
    await dir.remove();
  });

  it("stops reading a stream while the disk is behind, then takes everything once it catches up", async () => {
    const held = gate();
    let holding = true;
    const { fs, counters } = faultyFs({ beforeDatasync: () => (holding ? held.wait() : undefined) });
    t = await startServer(dir.path, ["--queue-bytes-max", String(256 * 1024)], onFileSystem(fs));
    const call = t.client.ingestEvents();
    const total = 400; // ~400 x 100 x 110 bytes = 4.4 MB, far over the 256 KiB queue
    let sent = 0;
    let sending = true;
    const sender = (async () => {
      for (let b = 0; b < total; b++) {
        await call.send(batch(b, 100, "x".repeat(40)));
        sent++;
      }
      call.close();
      sending = false;
    })();
    await held.reached;
    // The disk is stuck. Sending must stall: wait until sends stop making progress.
    let last = -1;
    while (sent !== last) {
      last = sent;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(sending, "the client could not push everything while the disk was stuck");
    assert.ok(sent < total / 2, `only part of the stream was taken (${sent} of ${total} batches)`);
    holding = false;
    held.open();
    const answers = [];
    for await (const a of call.responses) answers.push(a);
    await sender;
    assert.equal(answers.length, total);
    assert.deepEqual(answers.map((a) => Number(a.batchId)), Array.from({ length: total }, (_, i) => i));
    const lines = await logLines(t.logPath);
    assert.equal(lines.length, total * 100);
    assert.ok(counters.datasyncs < total, "batches shared fsyncs");
  });

  it("on shutdown answers the batches it took, ends the stream with UNAVAILABLE, and loses nothing acked", async () => {
    t = await startServer(dir.path);
    const call = t.client.ingestEvents();
    const answered: number[] = [];
    const reading = (async () => {
      for await (const a of call.responses) answered.push(Number(a.batchId));
    })();
    for (let b = 0; b < 5; b++) await call.send(batch(b, 10));
    // Wait for the five answers (each is durable), then shut down with the stream open.
    while (answered.length < 5) await new Promise((r) => setImmediate(r));
    const server = t;
    t = undefined;
    const stopped = server.stop();
    await assert.rejects(reading, (err: { code: number; details: string }) => {
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.details, /shutting down/);
      return true;
    });
    await stopped;
    assert.deepEqual(answered, [0, 1, 2, 3, 4]);
    const lines = await logLines(server.logPath);
    assert.equal(lines.length, 50);
  });

  it("a retried batch after a restart is acked with the original seqs and not written twice", async () => {
    t = await startServer(dir.path);
    const b = batch(1, 20);
    const first = t.client.ingestEvents();
    await first.send(b);
    first.close();
    const [a1] = await collect(first.responses);
    await t.stop();
    t = await startServer(dir.path);
    const second = t.client.ingestEvents();
    await second.send(b);
    await second.send(batch(2, 5));
    second.close();
    const [a2, a3] = await collect(second.responses);
    assert.equal(a2.duplicates, 20);
    assert.equal(a2.firstSeq, a1.firstSeq);
    assert.equal(a2.lastSeq, a1.lastSeq);
    assert.equal(a3.firstSeq, a1.lastSeq + 1n);
    const lines = await logLines(t.logPath);
    assert.equal(lines.length, 25);
    assert.equal(new Set(lines.map((l) => l.event_id)).size, 25);
  });
});
