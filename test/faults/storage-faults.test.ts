import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { status, type ServiceError as GrpcError } from "@grpc/grpc-js";
import { v4 as uuidv4 } from "uuid";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient, type Client } from "../../src/rpc/client.js";
import { spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { checkLog, type LoggedRecord } from "./log-file.js";

const run = promisify(execFile);
type LogClient = Client<typeof LearningLogService.method>;

/** The outcome of one write call: its seq, or the status it failed with. */
type Outcome = { id: string; seq: number; duplicate: boolean } | { id: string; code: number; details: string };
const failed = (o: Outcome): o is { id: string; code: number; details: string } => "code" in o;

async function logOne(client: LogClient, id: string, payload: string): Promise<Outcome> {
  try {
    const { ack } = await client.logEvent({ eventType: "storage_probe", data: { payload }, eventId: id }, { deadline: 10_000 });
    assert.equal(ack?.eventId, id);
    return { id, seq: Number(ack!.seq), duplicate: ack!.duplicate };
  } catch (err) {
    const e = err as GrpcError;
    return { id, code: e.code, details: e.details };
  }
}

/** Sends one IngestEvents batch on a new stream and returns the status the stream ends with (and how many answers came). */
async function ingestOnce(client: LogClient, ids: string[], payload: string): Promise<{ code: number; answers: number }> {
  const call = client.ingestEvents({ deadline: 10_000 });
  await call.send({ batchId: 1n, events: ids.map((id) => ({ event: { case: "generic", value: { eventType: "storage_probe", data: { payload }, eventId: id } } })) });
  call.close();
  let answers = 0;
  try {
    for await (const res of call.responses) {
      assert.equal(res.count, ids.length);
      answers++;
    }
    return { code: status.OK, answers };
  } catch (err) {
    return { code: (err as GrpcError).code, answers };
  }
}

/** Asserts the log is valid JSONL with consecutive seqs, holds every acked event once at its acked seq, and none of `absent`. */
async function checkAgainst(logPath: string, acked: ReadonlyMap<string, number>, absent: Iterable<string>): Promise<LoggedRecord[]> {
  const { records } = await checkLog(logPath);
  const byId = new Map<string, number>();
  for (const r of records) {
    assert.equal(byId.get(r.event_id), undefined, `event ${r.event_id} is in the log twice`);
    byId.set(r.event_id, r.seq);
  }
  for (const [id, seq] of acked) assert.equal(byId.get(id), seq, `acked event ${id} must be in the log at seq ${seq}`);
  for (const id of absent) assert.equal(byId.get(id), undefined, `event ${id} was never acked, yet it is in the log`);
  return records;
}

async function canRun(command: string, args: string[]): Promise<string | undefined> {
  try {
    await run(command, args);
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    return e.code === "ENOENT" ? `${command} is not installed` : (e.stderr || e.message).trim();
  }
}

describe("storage faults against the real server process", function () {
  this.timeout(90_000);

  describe("a real full disk (size-limited tmpfs)", () => {
    let dir: TempDir;
    let disk: string;
    let mounted = false;
    let server: ChildServer | undefined;

    before(async function () {
      dir = await tempDir("pulse-enospc-");
      disk = join(dir.path, "disk");
      await mkdir(disk);
      const why = process.getuid?.() !== 0 ? "not running as root" : await canRun("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", disk]);
      if (why !== undefined) {
        console.log(`      SKIPPED: a real full disk needs a size-limited tmpfs mounted as root (mount -t tmpfs -o size=256k tmpfs DIR), and that failed here: ${why}. CI runs as root and runs this test.`);
        await dir.remove();
        this.skip();
      }
      mounted = true;
    });

    after(async () => {
      if (server !== undefined) {
        server.kill("SIGKILL");
        await server.stopped;
      }
      if (mounted) {
        // A lazy unmount still detaches the tmpfs if something holds a file open.
        await run("umount", [disk]).catch(() => run("umount", ["-l", disk]));
        await dir.remove();
      }
    });

    it("fails what does not fit with RESOURCE_EXHAUSTED, never acks it, leaves no partial line, and recovers when space is freed", async () => {
      // Taken before the server starts, so that deleting it later frees real space.
      const filler = join(disk, "filler");
      await writeFile(filler, Buffer.alloc(64 * 1024, 0x61));
      const logPath = join(disk, "pulse_learning_log.jsonl");
      server = await spawnServer({ logPath });
      const client = createClient(LearningLogService, server.address);

      // Fill the disk with concurrent calls of uneven sizes: they share group
      // commits, so a batch runs into the end of the disk mid-write (a short write).
      const acked = new Map<string, number>();
      const notAcked: Array<{ id: string; code: number; details: string }> = [];
      let waves = 0;
      let wavesWithoutAck = 0;
      while (wavesWithoutAck < 3) {
        assert.ok(++waves < 200, "the disk never filled up");
        const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => logOne(client, uuidv4(), "x".repeat(300 + ((waves * 7 + i * 1_301) % 3_000)))));
        let ackedNow = 0;
        for (const o of outcomes) {
          if (failed(o)) notAcked.push(o);
          else {
            acked.set(o.id, o.seq);
            ackedNow++;
          }
        }
        wavesWithoutAck = notAcked.length > 0 && ackedNow === 0 ? wavesWithoutAck + 1 : 0;
      }
      assert.ok(acked.size > 10, `only ${acked.size} events fitted before the disk was full`);
      assert.deepEqual(
        notAcked.filter((o) => o.code !== status.RESOURCE_EXHAUSTED),
        [],
        "a full disk is RESOURCE_EXHAUSTED, nothing else",
      );

      // The other write paths on the same full disk.
      const streamIds = Array.from({ length: 40 }, () => uuidv4());
      const stream = await ingestOnce(client, streamIds, "y".repeat(2_000));
      assert.deepEqual(stream, { code: status.RESOURCE_EXHAUSTED, answers: 0 }, "an IngestEvents batch that does not fit ends the stream with RESOURCE_EXHAUSTED and is not answered");
      const batchIds = Array.from({ length: 40 }, () => uuidv4());
      await assert.rejects(
        client.logBatch({ events: batchIds.map((id) => ({ event: { case: "generic", value: { eventType: "storage_probe", data: { payload: "z".repeat(2_000) }, eventId: id } } })) }, { deadline: 10_000 }),
        (err: GrpcError) => err.code === status.RESOURCE_EXHAUSTED,
      );
      const never = [...notAcked.map((o) => o.id), ...streamIds, ...batchIds];
      const full = await checkAgainst(logPath, acked, never);
      assert.equal(full.length, acked.size, "the log holds exactly the acked events");

      // Space comes back: no restart, the same server must write again, seq
      // continuing by exactly 1, and the refused events are new (not duplicates).
      await unlink(filler);
      const lastSeq = full.length;
      const after = await logOne(client, uuidv4(), "after");
      assert.ok(!failed(after), `a write after freeing space must succeed: ${JSON.stringify(after)}`);
      assert.equal(after.seq, lastSeq + 1);
      acked.set(after.id, after.seq);
      for (const { id } of notAcked) {
        const retry = await logOne(client, id, "retry");
        assert.ok(!failed(retry), `retry of ${id}: ${JSON.stringify(retry)}`);
        assert.equal(retry.duplicate, false, "an event refused for lack of space was never written");
        acked.set(id, retry.seq);
      }
      const retriedStream = await ingestOnce(client, streamIds, "y");
      assert.deepEqual(retriedStream, { code: status.OK, answers: 1 });
      const records = await checkAgainst(logPath, acked, batchIds);
      assert.equal(records.length, acked.size + streamIds.length);
      client.close();
      assert.equal(await server.stop(), 0, "the server shuts down cleanly after the full disk");
      server = undefined;
    });
  });

  describe("injected I/O errors (strace fault injection on the log file)", () => {
    let dir: TempDir;
    let server: ChildServer | undefined;

    before(async function () {
      const why = await canRun("strace", ["-f", "-o", "/dev/null", "true"]);
      if (why !== undefined) {
        console.log(`      SKIPPED: fault injection needs strace with ptrace permitted (apt-get install strace; as root), and that failed here: ${why}. CI installs strace and runs this test.`);
        this.skip();
      }
    });
    beforeEach(async () => {
      dir = await tempDir("pulse-eio-");
    });
    afterEach(async () => {
      if (server !== undefined) {
        server.kill("SIGKILL");
        await server.stopped;
        server = undefined;
      }
      await dir.remove();
    });

    /**
     * Runs the real server under strace, which makes the `when`-th call of
     * `syscall` on the log file fail with `errno` (-P restricts the count to
     * the log file; one libuv thread makes the count repeatable).
     */
    async function faultyServer(logPath: string, injections: string[], tracePath = "/dev/null"): Promise<ChildServer> {
      return spawnServer({
        logPath,
        env: { UV_THREADPOOL_SIZE: "1" },
        wrapper: ["strace", "-f", "--seccomp-bpf", "-o", tracePath, "-P", logPath, "-e", "trace=pwrite64,pwritev,write,fdatasync,fsync,ftruncate", ...injections.flatMap((i) => ["-e", `inject=${i}`])],
      });
    }

    // The log is opened O_DSYNC: a write returns only once its data is
    // durable, so a failed sync shows as a failed pwrite (fdatasync is called
    // only after a truncate, which O_DSYNC does not cover).
    const cases = [
      { fault: "pwrite64:error=EIO:when=2", code: status.UNAVAILABLE, what: "EIO on a durable write" },
      { fault: "pwrite64:error=ENOSPC:when=2", code: status.RESOURCE_EXHAUSTED, what: "ENOSPC on a durable write" },
    ];
    for (const c of cases) {
      it(`${c.what}: the affected call fails with ${status[c.code]}, is never written, and the next calls succeed`, async () => {
        const logPath = join(dir.path, "pulse_learning_log.jsonl");
        server = await faultyServer(logPath, [c.fault]);
        const client = createClient(LearningLogService, server.address);
        const first = await logOne(client, uuidv4(), "first");
        const hit = await logOne(client, uuidv4(), "hit");
        const next = await logOne(client, uuidv4(), "next");
        assert.deepEqual([failed(first), failed(hit), failed(next)], [false, true, false], JSON.stringify([first, hit, next]));
        assert.equal((hit as { code: number }).code, c.code, JSON.stringify(hit));
        assert.equal((first as { seq: number }).seq, 1);
        assert.equal((next as { seq: number }).seq, 2, "seq continues after the failed batch without a gap");
        const retry = await logOne(client, hit.id, "hit again");
        assert.deepEqual([failed(retry), (retry as { duplicate: boolean }).duplicate, (retry as { seq: number }).seq], [false, false, 3], "the retried event is new");
        const acked = new Map([first, next, retry].map((o) => [o.id, (o as { seq: number }).seq]));
        const records = await checkAgainst(logPath, acked, []);
        assert.equal(records.length, 3);
        client.close();
        assert.equal(await server.stop(), 0);
        server = undefined;
      });
    }

    for (const cutBack of [
      { fault: "ftruncate:error=EIO:when=1", what: "on the cut-back" },
      { fault: "fdatasync:error=EIO:when=1", what: "on the sync after the cut-back" },
    ])
    it(`EIO on a durable write and then ${cutBack.what}: the unsynced line is cut before the next write`, async () => {
      // The second commit's write fails and so does the cut-back meant to
      // remove what it may have left: the appender must reopen and re-verify
      // the tail against the last durable size before it writes again.
      const logPath = join(dir.path, "pulse_learning_log.jsonl");
      const tracePath = join(dir.path, "strace.txt");
      server = await faultyServer(logPath, ["pwrite64:error=EIO:when=2", cutBack.fault], tracePath);
      const client = createClient(LearningLogService, server.address);
      const first = await logOne(client, uuidv4(), "first");
      const hit = await logOne(client, uuidv4(), "hit");
      const next = await logOne(client, uuidv4(), "next");
      assert.deepEqual([failed(first), failed(hit), failed(next)], [false, true, false], JSON.stringify([first, hit, next]));
      assert.equal((hit as { code: number }).code, status.UNAVAILABLE);
      const acked = new Map([first, next].map((o) => [o.id, (o as { seq: number }).seq]));
      const records = await checkAgainst(logPath, acked, [hit.id]);
      assert.deepEqual(
        records.map((r) => r.seq),
        [1, 2],
      );
      client.close();
      assert.equal(await server.stop(), 0);
      server = undefined;
      const syscall = cutBack.fault.split(":")[0];
      const trace = await readFile(tracePath, "utf8");
      assert.match(trace, new RegExp(`${syscall}\\(.*= -1 EIO \\(.*\\) \\(INJECTED\\)`), `the ${syscall} fault was injected`);
    });

    it("a run of failing writes under unary calls, client streams and pipelined bidi streams: the process lives, each failed commit is logged with its errno, callers get UNAVAILABLE, and everything lands once when it clears", async () => {
      // Commits 3 to 14 fail: a persistent fault for a while, then it clears.
      const logPath = join(dir.path, "pulse_learning_log.jsonl");
      server = await faultyServer(logPath, ["pwrite64:error=EIO:when=3..14"]);
      const client = createClient(LearningLogService, server.address);
      const codes: number[] = [];
      const event = (id: string, tag: string) => ({ event: { case: "generic" as const, value: { eventType: "storage_probe", data: { tag }, eventId: id } } });
      /**
       * Sends batches on bidi streams with a window of `window` unanswered
       * batches (the server reads 8 ahead: a window of 8 leaves its next read
       * waiting on the client while all 8 commit), until every batch is
       * answered (a client's resend with the same ids).
       */
      const bidi = async (w: number, window: number) => {
        let pending = Array.from({ length: 24 }, (_, b) => ({ b, ids: Array.from({ length: 40 }, () => uuidv4()) }));
        const all = pending.flatMap((p) => p.ids);
        for (let attempt = 0; pending.length > 0; attempt++) {
          assert.ok(attempt < 60, `bidi worker ${w} still has ${pending.length} unanswered batches`);
          const call = client.ingestEvents({ deadline: 120_000 });
          const answered = new Set<number>();
          let unanswered = 0;
          let ended = false;
          let wake = () => {};
          const sending = (async () => {
            for (const p of pending) {
              while (unanswered >= window && !ended) await new Promise<void>((resolve) => (wake = resolve));
              if (ended) return;
              unanswered++;
              await call.send({ batchId: BigInt(p.b), events: p.ids.map((id) => event(id, `bidi${w}`)) });
            }
            call.close();
          })().catch(() => undefined);
          try {
            for await (const res of call.responses) {
              answered.add(Number(res.batchId));
              unanswered--;
              wake();
            }
          } catch (err) {
            codes.push((err as GrpcError).code);
          } finally {
            ended = true;
            wake();
          }
          await sending;
          pending = pending.filter((p) => !answered.has(p.b));
        }
        return all;
      };
      /** One client stream of 10 messages, resent whole until it is answered. */
      const clientStream = async (w: number) => {
        const messages = Array.from({ length: 10 }, () => Array.from({ length: 20 }, () => uuidv4()));
        for (let attempt = 0; ; attempt++) {
          assert.ok(attempt < 60, `client stream ${w} never answered`);
          try {
            await client.streamEvents(
              messages.map((ids) => ({ events: ids.map((id) => event(id, `cs${w}`)) })),
              { deadline: 120_000 },
            );
            return messages.flat();
          } catch (err) {
            codes.push((err as GrpcError).code);
          }
        }
      };
      /** Unary calls one after another, each retried with its id until acked. */
      const unary = async (w: number) => {
        const acked = new Map<string, number>();
        for (let i = 0; i < 15; i++) {
          const id = uuidv4();
          for (let attempt = 0; ; attempt++) {
            assert.ok(attempt < 60, `unary ${w}/${i} never acked`);
            const o = await logOne(client, id, `u${w}`);
            if (!failed(o)) {
              acked.set(id, o.seq);
              break;
            }
            codes.push(o.code);
          }
        }
        return acked;
      };
      const [bidiIds, streamIds, unaryAcks] = await Promise.all([
        Promise.all([8, 8, 20].map((window, w) => bidi(w, window))),
        Promise.all([0, 1].map(clientStream)),
        Promise.all([0, 1, 2, 3].map(unary)),
      ]);
      assert.ok(codes.length > 0, "the fault reached callers");
      // DEADLINE_EXCEEDED is the client's own clock (strace slows every write on a loaded
      // machine); the call is resent with the same ids like any other failure.
      assert.deepEqual(
        codes.filter((c) => c !== status.UNAVAILABLE && c !== status.DEADLINE_EXCEEDED),
        [],
        "a failed write is UNAVAILABLE, nothing else",
      );
      assert.ok(codes.includes(status.UNAVAILABLE), "the injected faults were answered UNAVAILABLE");
      const unaryAcked = new Map(unaryAcks.flatMap((m) => [...m]));
      const records = await checkAgainst(logPath, unaryAcked, []);
      const expected = new Set([...bidiIds.flat(), ...streamIds.flat(), ...unaryAcked.keys()]);
      assert.equal(records.length, expected.size, "every event once, none lost, none twice");
      for (const r of records) assert.ok(expected.has(r.event_id));
      const failures = server.logs.filter((l) => l.level === 50 && l.errno === "EIO");
      assert.ok(failures.length >= 1, "each failed commit is logged at error level with its errno");
      assert.ok(failures.length <= 12, `at most one line per injected fault (${failures.length})`);
      assert.doesNotMatch(server.output(), /unhandled|Unhandled/);
      client.close();
      assert.equal(await server.stop(), 0, "the server was alive to shut down cleanly");
      server = undefined;
    });

    it("EIO on a durable write under a stream: the batch is not answered, the stream ends UNAVAILABLE, a new stream succeeds", async () => {
      const logPath = join(dir.path, "pulse_learning_log.jsonl");
      server = await faultyServer(logPath, ["pwrite64:error=EIO:when=2"]);
      const client = createClient(LearningLogService, server.address);
      const firstIds = Array.from({ length: 50 }, () => uuidv4());
      assert.deepEqual(await ingestOnce(client, firstIds, "a"), { code: status.OK, answers: 1 });
      const hitIds = Array.from({ length: 50 }, () => uuidv4());
      assert.deepEqual(await ingestOnce(client, hitIds, "b"), { code: status.UNAVAILABLE, answers: 0 });
      const nextIds = Array.from({ length: 50 }, () => uuidv4());
      assert.deepEqual(await ingestOnce(client, nextIds, "c"), { code: status.OK, answers: 1 });
      const records = await checkAgainst(logPath, new Map(), hitIds);
      assert.deepEqual(
        records.map((r) => r.event_id),
        [...firstIds, ...nextIds],
      );
      client.close();
      assert.equal(await server.stop(), 0);
      server = undefined;
    });
  });
});
