import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { v4 as uuidv4 } from "uuid";
import { Appender } from "../../../src/store/file/appender.js";
import { verifyLog } from "../../../src/store/file/verify.js";
import type { AppendEntry } from "../../../src/store/store.js";
import { errnoError, faultyFs, gate, holdFirstCall } from "../../helpers/faulty-fs.js";
import { tempDir, type TempDir } from "../../helpers/server.js";

const entry = (n: number, id?: string): AppendEntry => ({ eventId: id ?? uuidv4(), clientChosenId: id !== undefined, body: `"event_type":"test","data":{"n":${n}}` });

async function lines(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, "utf8");
  assert.ok(text === "" || text.endsWith("\n"), "log ends with a newline");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("Appender", () => {
  let dir: TempDir;
  let path: string;
  beforeEach(async () => {
    dir = await tempDir();
    path = join(dir.path, "logs", "pulse_learning_log.jsonl");
  });
  afterEach(() => dir.remove());

  it("writes records in the contract's key order with consecutive seqs", async () => {
    const { appender } = await Appender.open({ path });
    const id = uuidv4();
    const [r] = await appender.append([entry(1, id)]);
    await appender.close();
    const text = await readFile(path, "utf8");
    const prefix = `{"event_id":"${id}","timestamp":"${r.timestamp}","event_type":"test","data":{"n":1},"seq":1`;
    const hash = createHash("sha256").update(prefix).digest("hex");
    assert.equal(text, `${prefix},"hash":"${hash}"}\n`);
    assert.match(r.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/);
  });

  it("preserves the order of concurrent appends", async () => {
    const { appender } = await Appender.open({ path });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => appender.append([entry(i)])));
    await appender.close();
    const seqs = results.map(([r]) => r.seq);
    assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 1));
    const written = await lines(path);
    assert.deepEqual(
      written.map((l) => (l.data as { n: number }).n),
      Array.from({ length: 200 }, (_, i) => i),
    );
  });

  it("makes appends that arrive during an fsync share the next one", async () => {
    const held = gate();
    const { fs, counters } = faultyFs({ beforeDatasync: holdFirstCall(held) });
    const { appender } = await Appender.open({ path, fs });
    const syncsAtOpen = counters.datasyncs;
    const firstAppend = appender.append([entry(0)]);
    await held.reached;
    const rest = Array.from({ length: 50 }, (_, i) => appender.append([entry(i + 1)]));
    held.open();
    await Promise.all([firstAppend, ...rest]);
    await appender.close();
    // One fsync for the first append, one for the 50 that waited.
    assert.equal(counters.datasyncs - syncsAtOpen, 2);
    assert.equal((await lines(path)).length, 51);
  });

  it("never acks before the fsync that covers the line", async () => {
    const held = gate();
    const { fs } = faultyFs({ beforeDatasync: () => held.wait() });
    const { appender } = await Appender.open({ path, fs });
    let acked = false;
    const pending = appender.append([entry(1)]).then((r) => {
      acked = true;
      return r;
    });
    await held.reached;
    // The write happened; the fsync is held: no ack may have been given.
    await new Promise((r) => setImmediate(r));
    assert.equal(acked, false);
    held.open();
    const [r] = await pending;
    assert.equal(acked, true);
    assert.equal(r.seq, 1);
    await appender.close();
  });

  it("creates the log 0600 in a 0700 folder", async () => {
    const { appender } = await Appender.open({ path });
    await appender.append([entry(1)]);
    await appender.close();
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir.path, "logs"))).mode & 0o777, 0o700);
  });

  it("continues seq across a restart reading only the tail", async () => {
    const first = await Appender.open({ path });
    // ~6 MB of records so that a full scan would be visible in the counters.
    for (let b = 0; b < 20; b++) await first.appender.append(Array.from({ length: 1000 }, (_, i) => ({ eventId: uuidv4(), body: `"event_type":"bulk","data":{"pad":"${"x".repeat(200)}","i":${i}}` })));
    await first.appender.close();
    const size = (await stat(path)).size;
    const { fs, counters } = faultyFs();
    const { appender, recovery } = await Appender.open({ path, fs, dedupWindowRecords: 10 });
    assert.equal(recovery.lastSeq, 20_000);
    assert.ok(counters.bytesRead < size / 10, `read ${counters.bytesRead} of ${size} bytes at open`);
    const [r] = await appender.append([entry(1)]);
    assert.equal(r.seq, 20_001);
    await appender.close();
  });

  it("cuts a torn tail at open and keeps it in the quarantine file", async () => {
    const { appender } = await Appender.open({ path });
    await appender.append([entry(1), entry(2)]);
    await appender.close();
    const good = await readFile(path, "utf8");
    await writeFile(path, good + '{"event_id":"torn","timesta');
    const reopened = await Appender.open({ path });
    assert.equal(reopened.recovery.tornBytes, '{"event_id":"torn","timesta'.length);
    assert.equal(await readFile(path, "utf8"), good);
    assert.match(await readFile(`${path}.quarantine`, "utf8"), /\{"event_id":"torn","timesta/);
    const [r] = await reopened.appender.append([entry(3)]);
    assert.equal(r.seq, 3);
    await reopened.appender.close();
    assert.deepEqual((await lines(path)).map((l) => l.seq), [1, 2, 3]);
  });

  it("cuts NUL padding after the last record and whatever follows it (a zero-filled tail)", async () => {
    const { appender } = await Appender.open({ path });
    await appender.append([entry(1)]);
    await appender.close();
    const good = await readFile(path, "utf8");
    await writeFile(path, good + "\u0000\u0000\u0000\n{not json}\n");
    const reopened = await Appender.open({ path });
    assert.equal(await readFile(path, "utf8"), good);
    assert.equal(reopened.recovery.lastSeq, 1);
    await reopened.appender.close();
  });

  it("fails the batch on an fsync error, leaves no line, and recovers", async () => {
    let fail = true;
    const { fs } = faultyFs({
      beforeDatasync: () => {
        if (fail) {
          fail = false;
          throw errnoError("EIO");
        }
      },
    });
    const { appender } = await Appender.open({ path, fs });
    await assert.rejects(appender.append([entry(1)]), (err: { code: number }) => err.code === status.UNAVAILABLE);
    assert.equal(await readFile(path, "utf8"), "");
    const [r] = await appender.append([entry(2)]);
    assert.equal(r.seq, 1, "a failed batch consumes no seq");
    await appender.close();
    assert.deepEqual((await lines(path)).map((l) => (l.data as { n: number }).n), [2]);
  });

  it("fails the appends that waited behind a failed commit too, and goes on from the last durable record", async () => {
    const first = await Appender.open({ path });
    await first.appender.append([entry(0)]);
    await first.appender.close();
    const held = gate();
    const { fs } = faultyFs({
      beforeDatasync: holdFirstCall(held, () => {
        throw errnoError("EIO");
      }),
    });
    const { appender } = await Appender.open({ path, fs });
    const failing = appender.append([entry(1)]);
    await held.reached;
    // Encoded while the first commit is in flight: chained onto it (seq 3, its hash).
    const behind = appender.append([entry(2), entry(3, uuidv4())]);
    held.open();
    await assert.rejects(failing, (err: { code: number }) => err.code === status.UNAVAILABLE);
    await assert.rejects(behind, (err: { code: number }) => err.code === status.UNAVAILABLE);
    const [r] = await appender.append([entry(4)]);
    assert.equal(r.seq, 2, "the failed appends consumed no seq");
    await appender.close();
    assert.deepEqual(
      (await lines(path)).map((l) => [l.seq, (l.data as { n: number }).n]),
      [
        [1, 0],
        [2, 4],
      ],
    );
    const verified = await verifyLog(path);
    assert.equal(verified.ok, true, "the hash chain goes on from the last durable record");
  });

  it("answers a retry that races its original with the original's seq, once it is durable", async () => {
    const held = gate();
    const { fs } = faultyFs({ beforeDatasync: holdFirstCall(held) });
    const { appender } = await Appender.open({ path, fs });
    const id = uuidv4();
    const original = appender.append([entry(1, id)]);
    await held.reached;
    const retry = appender.append([entry(1, id), entry(2)]);
    let retryAnswered = false;
    void retry.then(() => (retryAnswered = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(retryAnswered, false, "not answered before the original is durable");
    held.open();
    const [[a], [b, c]] = await Promise.all([original, retry]);
    assert.deepEqual(b, { seq: a.seq, timestamp: a.timestamp, duplicate: true });
    assert.equal(c.seq, a.seq + 1);
    await appender.close();
    assert.equal((await lines(path)).length, 2);
  });

  it("answers RESOURCE_EXHAUSTED on ENOSPC after a short write and cuts the partial line", async () => {
    const first = await Appender.open({ path });
    await first.appender.append([entry(0)]);
    await first.appender.close();
    const before = await readFile(path, "utf8");
    let calls = 0;
    const { fs, hooks } = faultyFs({
      beforeWrite: (length) => {
        // Half the batch lands, then the disk is full: what a full tmpfs does.
        if (++calls === 1) return Math.floor(length / 2);
        throw errnoError("ENOSPC");
      },
    });
    const { appender } = await Appender.open({ path, fs });
    await assert.rejects(appender.append([entry(1)]), (err: { code: number }) => err.code === status.RESOURCE_EXHAUSTED);
    assert.equal(await readFile(path, "utf8"), before, "no partial line stays");
    hooks.beforeWrite = undefined; // space is back
    const [r] = await appender.append([entry(2)]);
    assert.equal(r.seq, 2);
    await appender.close();
    assert.deepEqual((await lines(path)).map((l) => l.seq), [1, 2]);
  });

  it("answers a repeated event_id with the original record, also after a restart", async () => {
    const id = uuidv4();
    const first = await Appender.open({ path });
    const [a] = await first.appender.append([entry(1, id)]);
    const [b, c] = await first.appender.append([entry(2, id), entry(3)]);
    assert.deepEqual(b, { seq: a.seq, timestamp: a.timestamp, duplicate: true });
    assert.equal(c.seq, a.seq + 1);
    await first.appender.close();
    const second = await Appender.open({ path });
    const [d] = await second.appender.append([entry(4, id)]);
    assert.deepEqual(d, { seq: a.seq, timestamp: a.timestamp, duplicate: true });
    await second.appender.close();
    assert.equal((await lines(path)).filter((l) => l.event_id === id).length, 1);
  });

  it("refuses appends past the queue limit unless asked to wait", async () => {
    const held = gate();
    const { fs } = faultyFs({ beforeDatasync: () => held.wait() });
    const { appender } = await Appender.open({ path, fs, queueBytesMax: 2000 });
    const big = (n: number): AppendEntry => ({ eventId: uuidv4(), body: `"event_type":"t","data":"${"y".repeat(800)}${n}"` });
    const a = appender.append([big(1)]);
    await held.reached;
    const b = appender.append([big(2)]);
    await assert.rejects(appender.append([big(3)]), (err: { code: number }) => err.code === status.RESOURCE_EXHAUSTED);
    let waitedDone = false;
    const waited = appender.append([big(4)], { wait: true }).then((r) => {
      waitedDone = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(waitedDone, false);
    held.open();
    await Promise.all([a, b, waited]);
    await appender.close();
    assert.equal((await lines(path)).length, 3);
  });

  it("continues after a log written by the original module (no seq)", async () => {
    const legacy = join(dir.path, "legacy.jsonl");
    await writeFile(legacy, '{"event_id":"a","timestamp":"2025-01-01T00:00:00.000001+00:00","event_type":"x","data":{}}\n'.repeat(3));
    const { appender, recovery } = await Appender.open({ path: legacy });
    assert.equal(recovery.legacy, true);
    const [r] = await appender.append([entry(1)]);
    assert.equal(r.seq, 4);
    await appender.close();
  });

  it("refuses appends after close with UNAVAILABLE, after draining what it accepted", async () => {
    const { appender } = await Appender.open({ path });
    const accepted = appender.append([entry(1)]);
    const closing = appender.close();
    await assert.rejects(appender.append([entry(2)]), (err: { code: number }) => err.code === status.UNAVAILABLE);
    await Promise.all([accepted, closing]);
    assert.equal((await lines(path)).length, 1);
  });

  describe("single writer", () => {
    it("refuses a second writer on the same log, naming the holder", async () => {
      const { appender } = await Appender.open({ path });
      await assert.rejects(Appender.open({ path }), (err: Error) => {
        assert.equal(err.name, "LogLockedError");
        assert.match(err.message, new RegExp(`process ${process.pid} `));
        return true;
      });
      await appender.close();
      // Released at close: the next writer gets it.
      const again = await Appender.open({ path });
      await again.appender.close();
    });

    it("takes over a stale lock left by a dead process", async () => {
      const { spawnSync } = await import("node:child_process");
      // A pid that existed and is gone now.
      const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
      await mkdir(join(dir.path, "logs"), { recursive: true });
      await writeFile(`${path}.lock`, JSON.stringify({ pid: dead, host: hostname(), since: "2020-01-01T00:00:00.000Z" }));
      const { appender } = await Appender.open({ path });
      const owner = JSON.parse(await readFile(`${path}.lock`, "utf8")) as { pid: number };
      assert.equal(owner.pid, process.pid);
      await appender.close();
    });
  });
});
