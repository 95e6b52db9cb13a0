import assert from "node:assert/strict";
import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { v4 as uuidv4 } from "uuid";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { LearningLogService, type LearningEventSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient, type Client } from "../../src/rpc/client.js";
import { spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { checkLogBytes, tornTailBytes } from "./log-file.js";
// Replayable choices: a failing run is repeated with its seed.
import { seededRandom as random } from "../helpers/seeded-random.js";

/** Kill/restart cycles; CI runs the default, PULSE_CRASH_CYCLES asks for more. */
const CYCLES = Number(process.env.PULSE_CRASH_CYCLES ?? 50);
if (!Number.isSafeInteger(CYCLES) || CYCLES < 1) throw new Error(`PULSE_CRASH_CYCLES must be a positive integer, got "${process.env.PULSE_CRASH_CYCLES}"`);
/** Seed of the choices this test makes (kill delays, batch sizes, torn tails); timing itself stays random. */
const SEED = Number(process.env.PULSE_CRASH_SEED ?? Date.now() % 1_000_000);
const UNARY_WORKERS = 6;
const STREAM_BATCHES_IN_FLIGHT = 3;
const KILL_AFTER_MS = { min: 50, max: 400 };
const CALL_DEADLINE_MS = 10_000;


type LogClient = Client<typeof LearningLogService.method>;
type Event = MessageInitShape<typeof LearningEventSchema>;

/** What the test knows about the log, independently of the server. */
class Ledger {
  /** Every event_id sent, ever. */
  readonly sent = new Set<string>();
  /** event_id -> seq of every acked event. */
  readonly acked = new Map<string, number>();
  /** event_ids sent but never acked: retried (same id) after the next restart. */
  readonly unacked = new Set<string>();
  /** event_id -> seq of every record in the log as of the last check. */
  readonly logged = new Map<string, number>();
  /** The log's bytes as of the last check; must stay a prefix of the file. */
  verified: Buffer = Buffer.alloc(0);
  lastSeq = 0;
  /** Problems seen by the load (a worker cannot throw into mocha). */
  readonly problems: string[] = [];
  /** Retries answered as duplicates: written before the kill, acked only after the restart. */
  duplicateAcks = 0;

  private ackWaiters: Array<() => void> = [];

  /** Resolves at the next ack (or after `timeoutMs`). */
  firstAck(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.ackWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Wakes whoever waits for an ack. */
  notifyAck(): void {
    for (const wake of this.ackWaiters.splice(0)) wake();
  }

  take(): string {
    const id = uuidv4();
    this.sent.add(id);
    this.unacked.add(id);
    return id;
  }

  /** Records an ack, checking it against what the log held before this cycle. */
  ack(id: string, seq: number, duplicate: boolean, via: string): void {
    const before = this.logged.get(id);
    if (before !== undefined && (!duplicate || seq !== before)) {
      this.problems.push(`${via}: ${id} was already in the log at seq ${before}; the retry must be acked as a duplicate of it, got duplicate=${duplicate} seq=${seq}`);
    }
    if (before === undefined && duplicate) this.problems.push(`${via}: ${id} was not in the log, yet its ack says duplicate (seq ${seq})`);
    if (duplicate) this.duplicateAcks++;
    const earlier = this.acked.get(id);
    if (earlier !== undefined && earlier !== seq) this.problems.push(`${via}: ${id} acked twice with different seqs ${earlier} and ${seq}`);
    this.acked.set(id, seq);
    this.unacked.delete(id);
    this.notifyAck();
  }
}

/** Sends unary LogRevisionTrigger calls back to back until `stop` is set. */
async function unaryWorker(client: LogClient, ledger: Ledger, retries: string[], cycle: number, stop: { now: boolean }): Promise<number> {
  let acks = 0;
  while (!stop.now) {
    const id = retries.shift() ?? ledger.take();
    try {
      const { ack } = await client.logRevisionTrigger({ reason: `crash cycle ${cycle}`, eventId: id }, { deadline: CALL_DEADLINE_MS });
      if (ack?.eventId !== id) ledger.problems.push(`unary: ack for ${id} names ${ack?.eventId}`);
      ledger.ack(id, Number(ack!.seq), ack!.duplicate, "unary");
      acks++;
    } catch (err) {
      if (!stop.now) ledger.problems.push(`unary call failed before the kill: ${(err as Error).message}`);
      return acks;
    }
  }
  return acks;
}

/** Sends IngestEvents batches on one bidi stream, a few in flight, until `stop` is set or the stream dies. */
async function streamWorker(client: LogClient, ledger: Ledger, retries: string[], cycle: number, stop: { now: boolean }, rand: () => number): Promise<number> {
  const call = client.ingestEvents({ deadline: CALL_DEADLINE_MS });
  const inFlight: Array<{ batchId: number; ids: string[] }> = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let acks = 0;
  const reader = (async () => {
    try {
      for await (const res of call.responses) {
        const batch = inFlight.shift();
        if (batch === undefined || BigInt(batch.batchId) !== res.batchId) {
          ledger.problems.push(`stream: answer for batch ${res.batchId} but batch ${batch?.batchId} was next`);
          continue;
        }
        if (res.count !== batch.ids.length || res.errors.length > 0) {
          ledger.problems.push(`stream: batch ${batch.batchId} of ${batch.ids.length} answered count=${res.count} errors=${JSON.stringify(res.errors)}`);
          continue;
        }
        const expectedDuplicates = batch.ids.filter((id) => ledger.logged.has(id)).length;
        if (res.duplicates !== expectedDuplicates) {
          ledger.problems.push(`stream: batch ${batch.batchId} had ${expectedDuplicates} events already in the log, answer says duplicates=${res.duplicates}`);
        }
        ledger.duplicateAcks += res.duplicates;
        // The answer gives a seq range, not each seq; the log check pins each one down.
        for (const id of batch.ids) {
          ledger.acked.set(id, ledger.acked.get(id) ?? -1);
          ledger.unacked.delete(id);
        }
        acks += batch.ids.length;
        ledger.notifyAck();
        wake?.();
      }
    } catch (err) {
      if (!stop.now) ledger.problems.push(`stream failed before the kill: ${(err as Error).message}`);
    } finally {
      ended = true;
      wake?.();
    }
  })();
  let batchId = 0;
  while (!stop.now && !ended) {
    if (inFlight.length >= STREAM_BATCHES_IN_FLIGHT) {
      await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    const size = 10 + Math.floor(rand() * 90);
    const ids = Array.from({ length: size }, () => retries.shift() ?? ledger.take());
    const events: Event[] = ids.map((id, i) =>
      i % 2 === 0
        ? { event: { case: "revisionTrigger", value: { reason: `crash cycle ${cycle} stream`, eventId: id } } }
        : { event: { case: "generic", value: { eventType: "crash_probe", data: { cycle, i }, eventId: id } } },
    );
    batchId++;
    inFlight.push({ batchId, ids });
    // send() waits for the transport, which never drains once the server is dead.
    await Promise.race([call.send({ batchId: BigInt(batchId), events }), reader]);
  }
  if (!stop.now) call.close();
  await reader;
  return acks;
}

/** A torn tail of each kind a crash (or a bad disk) leaves, written after the kill. */
function tornTail(kind: number, lastSeq: number): string {
  const id = uuidv4();
  switch (kind % 3) {
    case 0: // the write stopped mid-record
      return `{"event_id":"${id}","timestamp":"2026-11-24T19:05:53.700123+00:00","event_type":"torn_probe","da`;
    case 1: // a whole record whose newline never made it: still not committed
      return `{"event_id":"${id}","timestamp":"2026-11-24T19:05:53.700123+00:00","event_type":"torn_probe","data":{},"seq":${lastSeq + 1}}`;
    default: // a complete line of garbage (zeroed blocks after a power cut)
      return `\u0000\u0000\u0000{"event_id":"${id}" garbage\n`;
  }
}

describe("crash recovery: SIGKILL during concurrent unary and streaming ingest", function () {
  // A hang guard, not a time limit: a cycle is a server start (seconds on a loaded machine) and some traffic.
  this.timeout(120_000 + CYCLES * 20_000);
  let dir: TempDir;
  let server: ChildServer | undefined;
  beforeEach(async () => {
    dir = await tempDir("pulse-crash-");
  });
  afterEach(async () => {
    server?.kill("SIGKILL");
    await server?.stopped;
    server = undefined;
    await dir.remove();
  });

  it(`loses no acked event, writes none twice and repairs torn tails over ${CYCLES} kill -9 cycles`, async () => {
    const logPath = join(dir.path, "pulse_learning_log.jsonl");
    const ledger = new Ledger();
    const rand = random(SEED);
    const context = () => `(seed ${SEED}; rerun with PULSE_CRASH_SEED=${SEED})`;
    const stats = { cycles: 0, acked: 0, idleCycles: 0, naturalTornTails: 0, injectedTornTails: 0, unackedAtKill: 0, duplicateAcks: 0 };

    /** Starts the server and checks what start-up did to the log: the tail repair, then every record. */
    const restart = async (cycle: number): Promise<ChildServer> => {
      const before = await readFile(logPath).catch(() => Buffer.alloc(0));
      const torn = tornTailBytes(before);
      const quarantineBefore = await readFile(`${logPath}.quarantine`).catch(() => Buffer.alloc(0));
      const s = await spawnServer({ logPath });
      const cut = s.logs.filter((l) => l.msg.startsWith("cut a torn tail"));
      if (torn === 0) {
        assert.equal(cut.length, 0, `cycle ${cycle}: the log had no torn tail, yet start-up says ${JSON.stringify(cut)} ${context()}`);
      } else {
        assert.equal(cut.length, 1, `cycle ${cycle}: the log ended in ${torn} torn bytes (${JSON.stringify(before.subarray(before.length - torn).toString("utf8").slice(0, 200))}) and start-up must log "cut a torn tail..." once ${context()}`);
        assert.equal(cut[0].tornBytes, torn, `cycle ${cycle}: tornBytes in the start-up log ${context()}`);
        const quarantine = await readFile(String(cut[0].quarantine));
        assert.ok(quarantine.length > quarantineBefore.length, `cycle ${cycle}: the quarantine file must grow`);
        assert.ok(quarantine.subarray(quarantineBefore.length).includes(before.subarray(before.length - torn)), `cycle ${cycle}: the quarantine file must keep the torn bytes ${context()}`);
      }
      const after = await readFile(logPath);
      assert.ok(after.subarray(0, ledger.verified.length).equals(ledger.verified), `cycle ${cycle}: bytes of the log checked before have changed ${context()}`);
      assert.equal(after.length, before.length - torn, `cycle ${cycle}: start-up must cut exactly the torn tail ${context()}`);
      const records = checkLogBytes(after, { fromByte: ledger.verified.length, firstSeq: ledger.lastSeq + 1 });
      for (const r of records) {
        assert.ok(ledger.sent.has(r.event_id), `cycle ${cycle}: seq ${r.seq} has event_id ${r.event_id}, which no client sent ${context()}`);
        const twice = ledger.logged.get(r.event_id);
        assert.equal(twice, undefined, `cycle ${cycle}: event ${r.event_id} is in the log twice, at seq ${twice} and ${r.seq} ${context()}`);
        ledger.logged.set(r.event_id, r.seq);
        ledger.lastSeq = r.seq;
      }
      ledger.verified = after;
      for (const [id, seq] of ledger.acked) {
        const at = ledger.logged.get(id);
        assert.notEqual(at, undefined, `cycle ${cycle}: acked event ${id} (seq ${seq}) is missing from the log ${context()}`);
        if (seq !== -1) assert.equal(at, seq, `cycle ${cycle}: acked event ${id} was acked with seq ${seq} but is at seq ${at} ${context()}`);
      }
      return s;
    };

    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      server = await restart(cycle);
      const client = createClient(LearningLogService, server.address);
      const retries = [...ledger.unacked].sort(() => rand() - 0.5);
      const stop = { now: false };
      const load = [
        ...Array.from({ length: UNARY_WORKERS }, () => unaryWorker(client, ledger, retries, cycle, stop)),
        streamWorker(client, ledger, retries, cycle, stop, rand),
      ];
      // The kill delay counts from the first ack, so every kill lands in flowing traffic
      // rather than in the client's connection set-up. A fresh server on a loaded
      // machine can take seconds to answer its first calls.
      await ledger.firstAck(30_000);
      const killAfter = KILL_AFTER_MS.min + Math.floor(rand() * (KILL_AFTER_MS.max - KILL_AFTER_MS.min));
      await new Promise((resolve) => setTimeout(resolve, killAfter));
      stop.now = true;
      server.kill("SIGKILL");
      await server.stopped;
      const acks = await Promise.all(load);
      client.close();
      server = undefined;
      assert.deepEqual(ledger.problems, [], `cycle ${cycle}: ${context()}`);
      if (acks.reduce((a, b) => a + b, 0) === 0) stats.idleCycles++;
      stats.cycles++;
      stats.unackedAtKill += ledger.unacked.size;
      const raw = await readFile(logPath);
      if (tornTailBytes(raw) > 0) stats.naturalTornTails++;
      // Every fourth cycle, leave a torn tail of our own on top of whatever the kill left.
      if (cycle % 4 === 0) {
        await appendFile(logPath, tornTail(cycle / 4, ledger.lastSeq));
        stats.injectedTornTails++;
      }
    }

    // Last start: retry everything never acked, with no kill, then stop gracefully.
    server = await restart(CYCLES + 1);
    const client = createClient(LearningLogService, server.address);
    const retries = [...ledger.unacked];
    const retried = await Promise.all(retries.map((id) => client.logRevisionTrigger({ reason: "final retry", eventId: id }, { deadline: CALL_DEADLINE_MS })));
    retried.forEach(({ ack }, i) => ledger.ack(retries[i], Number(ack!.seq), ack!.duplicate, "final retry"));
    client.close();
    assert.equal(await server.stop(), 0, "graceful stop exits 0");
    server = undefined;
    assert.deepEqual(ledger.problems, [], context());
    const finalServer = await restart(CYCLES + 2);
    server = finalServer;
    assert.equal(ledger.unacked.size, 0);
    assert.equal(ledger.logged.size, ledger.sent.size, "every event sent is in the log exactly once after the retries");
    stats.acked = ledger.acked.size;
    stats.duplicateAcks = ledger.duplicateAcks;
    // A kill before the first ack can happen on a slow machine, but not in most cycles.
    assert.ok(stats.idleCycles <= CYCLES / 5, `${stats.idleCycles} of ${CYCLES} cycles acked nothing: the load did not run`);
    console.log(`      crash test ${context()}: ${JSON.stringify({ ...stats, records: ledger.lastSeq })}`);
  });
});
