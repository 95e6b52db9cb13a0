import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Metadata, status, type ClientReadableStream } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { LearningLogService, RunStatus, type LearningEventSchema, type LogRecord, type ReadEventsRequestSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../../src/rpc/client.js";
import { spawnServer } from "../helpers/child-server.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

type Event = MessageInitShape<typeof LearningEventSchema>;
const weight = (n: number, run?: string): Event => ({ event: { case: "variableWeightChange", value: { variable: `v${n % 7}`, oldWeight: n, newWeight: n + 1 } }, run });
const rule = (n: number, run?: string): Event => ({
  event: { case: "ruleActivation", value: { ruleId: `r${n % 3}`, variableId: "x", outcome: { kind: { case: "structValue", value: { fields: { delta: { kind: { case: "numberValue", value: n / 10 } }, applied: { kind: { case: "boolValue", value: true } } } } } }, success: n % 2 === 0 } },
  run,
});
const generic = (eventType: string, data: Record<string, unknown>, run?: string): Event => ({ event: { case: "generic", value: { eventType, data: data as never } }, run });
const withRun = (run: string): { metadata: Metadata } => {
  const metadata = new Metadata();
  metadata.set("pulse-run", run);
  return { metadata };
};

async function readAll(ts: TestServer, request: MessageInitShape<typeof ReadEventsRequestSchema>): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const m of ts.client.readEvents(request)) out.push(...m.records);
  return out;
}

async function grpcError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: number; details: string };
  }
  assert.fail("expected the call to fail");
}

/** Resolves once `check` holds, asking again after each answer; fails after `ms`. */
async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) assert.fail("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const parsed = (r: LogRecord) => JSON.parse(r.json) as Record<string, unknown>;

describe("runs: every event knows its run", () => {
  let dir: TempDir;
  let ts: TestServer | undefined;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await ts?.stop();
    ts = undefined;
    await dir.remove();
  });

  it("writes the run as the record's last member before seq, from the event or the call, and nothing for events of no run", async () => {
    ts = await startServer(dir.path);
    await ts.client.logVariableWeightChange({ variable: "a", oldWeight: 1, newWeight: 2 }, withRun("exp-42"));
    await ts.client.logVariableWeightChange({ variable: "b", oldWeight: 1, newWeight: 2 });
    await ts.client.logBatch({ events: [weight(1), weight(2, "own run"), generic("note", { k: 1 })] }, withRun("call-run"));
    await ts.client.logEvent({ eventType: "e", data: { x: 1 }, context: { who: "me" } }, withRun("exp-42"));
    const lines = (await readFile(ts.logPath, "utf8")).trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => l.run), ["exp-42", undefined, "call-run", "own run", "call-run", "exp-42"]);
    // Key order: the contract's keys, then run, then seq (and the chain's hash).
    assert.deepEqual(Object.keys(lines[5]), ["event_id", "timestamp", "event_type", "data", "context", "run", "seq", "hash"]);
    assert.deepEqual(Object.keys(lines[1]), ["event_id", "timestamp", "event_type", "data", "seq", "hash"]);
  });

  it("puts the call's run on the trust tracker's audit records and on the trust events", async () => {
    ts = await startServer(dir.path);
    const trust = createClient(TrustService, ts.address);
    try {
      await trust.update({ outcome: { key: "rule-1", success: true } }, withRun("exp-7"));
      await trust.batchUpdate({ outcomes: [{ key: "rule-1", success: false }] }, withRun("exp-7"));
      await trust.update({ outcome: { key: "rule-2", success: true } });
      await ts.client.logBayesianTrustMetrics({ key: "rule-1" }, withRun("exp-7"));
      await ts.client.generateTrustReport({}, withRun("exp-7"));
    } finally {
      trust.close();
    }
    const lines = (await readFile(ts.logPath, "utf8")).trimEnd().split("\n").map((l) => JSON.parse(l) as { event_type: string; run?: string });
    assert.deepEqual(
      lines.map((l) => [l.event_type, l.run]),
      [
        ["trust_updated", "exp-7"],
        ["trust_updated", "exp-7"],
        ["trust_updated", undefined],
        ["bayesian_trust_metrics", "exp-7"],
        ["trust_report_generated", "exp-7"],
      ],
    );
    const run = (await ts.client.listRuns({ runs: ["exp-7"] })).runs[0];
    assert.equal(run.eventCount, 4n);
  });

  it("refuses a bad run naming the field, and writes nothing for it", async () => {
    ts = await startServer(dir.path);
    const bad = await grpcError(ts.client.logRevisionTrigger({ reason: "r" }, withRun("x".repeat(129))));
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.match(bad.details, /pulse-run/);
    const res = await ts.client.logBatch({ events: [weight(1, "ok"), weight(2, 'quo"te'), weight(3, "caf\u00e9")] });
    assert.equal(res.acks.length, 1);
    assert.deepEqual(
      res.errors.map((e) => [e.index, e.code]),
      [
        [1, status.INVALID_ARGUMENT],
        [2, status.INVALID_ARGUMENT],
      ],
    );
    assert.match(res.errors[0].message, /events\[1\]\.run/);
    assert.match(res.errors[1].message, /events\[2\]\.run.*ASCII/);
    const lines = (await readFile(ts.logPath, "utf8")).trimEnd().split("\n");
    assert.equal(lines.length, 1);
    const badRead = await grpcError(readAll(ts, { runs: [""] }));
    assert.equal(badRead.code, status.INVALID_ARGUMENT);
    assert.match(badRead.details, /runs\[0\]/);
  });

  it("reads by run, in seq order, with the type, time and limit filters, through IngestEvents, streams and unary calls", async () => {
    ts = await startServer(dir.path);
    const bidi = ts.client.ingestEvents(withRun("A"));
    const answers = bidi.responses[Symbol.asyncIterator]();
    for (let b = 0; b < 20; b++) {
      // Two runs interleaved in one stream: per-event runs win over the call's.
      await bidi.send({ batchId: BigInt(b + 1), events: Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? rule(b * 100 + i) : weight(b * 100 + i, "B"))) });
      const a = await answers.next();
      assert.equal((a.value as { count: number }).count, 100);
    }
    bidi.close();
    assert.equal((await answers.next()).done, true);
    await ts.client.streamEvents([{ events: [weight(1), weight(2)] }], withRun("C"));
    await ts.client.logVariableWeightChange({ variable: "z", oldWeight: 0, newWeight: 1 });
    const a = await readAll(ts, { runs: ["A"] });
    assert.equal(a.length, 1000);
    assert.ok(a.every((r) => parsed(r).run === "A" && r.eventType === "rule_activation"));
    assert.ok(a.every((r, i) => i === 0 || r.seq > a[i - 1].seq));
    const bc = await readAll(ts, { runs: ["B", "C"] });
    assert.equal(bc.length, 1002);
    assert.deepEqual([...new Set(bc.map((r) => parsed(r).run))], ["B", "C"]);
    assert.equal((await readAll(ts, { runs: ["A"], eventTypes: ["variable_weight_update"] })).length, 0);
    const limited = await readAll(ts, { runs: ["B"], limit: 7n, fromSeq: 500n });
    assert.equal(limited.length, 7);
    assert.ok(limited[0].seq >= 500n);
    assert.equal((await readAll(ts, { runs: ["nobody"] })).length, 0);
  });

  it("lists runs with counts, types, first and last records, and how each ended", async () => {
    ts = await startServer(dir.path);
    const m = withRun("good");
    await ts.client.logEvent({ eventType: "run_started", data: { params: { lr: 0.1 } } }, m);
    await ts.client.logBatch({ events: [weight(1), weight(2), rule(3)] }, m);
    await ts.client.logEvent({ eventType: "run_finished", data: { status: "finished" } }, m);
    const f = withRun("bad");
    await ts.client.logEvent({ eventType: "run_started", data: { params: {} } }, f);
    await ts.client.logEvent({ eventType: "run_finished", data: { status: "failed", error: { type: "ValueError", message: "diverged" } } }, f);
    await ts.client.logVariableWeightChange({ variable: "q", oldWeight: 0, newWeight: 1 }, withRun("open"));
    const { runs, indexedSeq } = await ts.client.listRuns({});
    assert.equal(indexedSeq, 8n);
    assert.deepEqual(
      runs.map((r) => [r.run, Number(r.firstSeq), Number(r.lastSeq), Number(r.eventCount), r.status, r.error]),
      [
        ["good", 1, 5, 5, RunStatus.FINISHED, ""],
        ["bad", 6, 7, 2, RunStatus.FAILED, "ValueError: diverged"],
        ["open", 8, 8, 1, RunStatus.LOGGING, ""],
      ],
    );
    assert.deepEqual(runs[0].eventTypes, { run_started: 1n, variable_weight_update: 2n, rule_activation: 1n, run_finished: 1n });
    const only = await ts.client.listRuns({ runs: ["bad", "missing"] });
    assert.deepEqual(only.runs.map((r) => r.run), ["bad"]);
  });

  it("lists a run whose holder went away without a finish record as ended, and a held one as logging", async () => {
    ts = await startServer(dir.path);
    const m = withRun("held");
    await ts.client.logEvent({ eventType: "run_started", data: { params: {} } }, m);
    const call = ts.client.holdRun({ run: "held" });
    const hold = call[Symbol.asyncIterator]();
    assert.equal(((await hold.next()).value as { run: string }).run, "held");
    assert.equal((await ts.client.listRuns({ runs: ["held"] })).runs[0].status, RunStatus.LOGGING);
    (call as unknown as ClientReadableStream<unknown>).cancel();
    // The server learns of the cancel on its own time: ask until it has (bounded), rather than sleeping a guess.
    await until(async () => (await ts!.client.listRuns({ runs: ["held"] })).runs[0].status === RunStatus.ENDED_WITHOUT_FINISH);
    assert.equal((await ts.client.listRuns({ runs: ["held"] })).runs[0].status, RunStatus.ENDED_WITHOUT_FINISH);
  });

  it("keeps the index across a restart (checkpoint) and rebuilds it when the checkpoint is gone", async () => {
    ts = await startServer(dir.path);
    await ts.client.logBatch({ events: Array.from({ length: 50 }, (_, i) => weight(i, i % 2 ? "odd" : "even")) });
    const before = (await ts.client.listRuns({})).runs.map((r) => [r.run, r.eventCount, r.firstSeq, r.lastSeq]);
    await ts.stop();
    ts = await startServer(dir.path);
    await ts.client.logBatch({ events: [weight(1, "odd")] });
    const after = (await ts.client.listRuns({})).runs.map((r) => [r.run, r.eventCount, r.firstSeq, r.lastSeq]);
    assert.deepEqual(after, [before[0], ["odd", 26n, 2n, 51n]]);
    assert.equal((await readAll(ts, { runs: ["odd"] })).length, 26);
    // Without its checkpoint the index is rebuilt from the log: the same answer.
    await ts.stop();
    await rm(ts.config.runIndexPath);
    ts = await startServer(dir.path);
    assert.deepEqual((await ts.client.listRuns({})).runs.map((r) => [r.run, r.eventCount, r.firstSeq, r.lastSeq]), after);
    // A checkpoint of another log is not trusted.
    await ts.stop();
    const checkpoint = JSON.parse(await readFile(ts.config.runIndexPath, "utf8")) as { eventId: string };
    await writeFile(ts.config.runIndexPath, JSON.stringify({ ...checkpoint, eventId: "00000000-0000-4000-8000-000000000000" }));
    ts = await startServer(dir.path);
    assert.deepEqual((await ts.client.listRuns({})).runs.map((r) => [r.run, r.eventCount, r.firstSeq, r.lastSeq]), after);
  });

  it("has every acked event of each run after kill -9 during writes", async function () {
    this.timeout(120_000);
    const logPath = join(dir.path, "log.jsonl");
    const acked = new Map<string, number>();
    {
      // A clean stop first: later starts restore a checkpoint that the kills leave behind the log.
      const child = await spawnServer({ logPath });
      const client = createClient(LearningLogService, child.address);
      for (const run of ["k1", "k2"]) acked.set(run, (await client.logBatch({ events: [weight(0)] }, withRun(run))).acks.length);
      client.close();
      await child.stop();
    }
    for (let round = 0; round < 3; round++) {
      const child = await spawnServer({ logPath });
      const client = createClient(LearningLogService, child.address);
      let stop = false;
      const writers = ["k1", "k2"].map(async (run) => {
        for (let i = 0; !stop; i++) {
          try {
            const res = await client.logBatch({ events: Array.from({ length: 50 }, (_, j) => weight(i * 50 + j)) }, withRun(run));
            acked.set(run, (acked.get(run) ?? 0) + res.acks.length);
          } catch {
            return;
          }
        }
      });
      // Kill once both runs have written since the last round.
      const target = new Map(acked);
      await until(async () => ["k1", "k2"].every((r) => (acked.get(r) ?? 0) > (target.get(r) ?? 0) + 500), 60_000);
      child.kill("SIGKILL");
      stop = true;
      await Promise.all(writers);
      await child.stopped;
      client.close();
    }
    const child = await spawnServer({ logPath });
    const client = createClient(LearningLogService, child.address);
    try {
      const runs = new Map((await client.listRuns({})).runs.map((r) => [r.run, Number(r.eventCount)]));
      for (const run of ["k1", "k2"]) {
        // Every acked event is there; an unacked batch cut by the kill may be there too.
        assert.ok(runs.get(run)! >= acked.get(run)!, `${run}: ${runs.get(run)} indexed, ${acked.get(run)} acked`);
        let read = 0;
        for await (const m of client.readEvents({ runs: [run] })) read += m.records.length;
        assert.equal(read, runs.get(run));
      }
      // The index agrees with a scan of the whole log.
      const counts = new Map<string, number>();
      for (const line of (await readFile(logPath, "utf8")).trimEnd().split("\n")) {
        const r = (JSON.parse(line) as { run?: string }).run;
        if (r !== undefined) counts.set(r, (counts.get(r) ?? 0) + 1);
      }
      assert.deepEqual(runs, counts);
    } finally {
      client.close();
      await child.stop();
    }
  });
});
