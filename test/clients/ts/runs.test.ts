import assert from "node:assert/strict";
import { hostname } from "node:os";
import {
  BatchWriter,
  InvalidRunId,
  LearningLogClient,
  RUN_ENV,
  type RunScope,
} from "../../../clients/ts/src/index.js";
import { runErrorOf } from "../../../clients/ts/src/run-scope.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../../helpers/server.js";
import { recordsOf, type LogLine } from "./log-records.js";
import { TcpProxy } from "./tcp-proxy.js";

type RunLine = LogLine & { run?: string };

/** The log's records in seq order, each with its run member when it has one. */
async function linesOf(path: string): Promise<RunLine[]> {
  return [...(await recordsOf(path)).values()].sort((a, b) => a.seq - b.seq) as RunLine[];
}

/** Resolves once the server has committed run `run`'s run_finished record (a following ReadEvents call). */
async function runFinishedWritten(t: TestServer, run: string): Promise<void> {
  for await (const res of t.client.readEvents({ follow: true })) {
    for (const r of res.records) {
      const line = JSON.parse(r.json) as RunLine;
      if (line.run === run && line.event_type === "run_finished") return;
    }
  }
}

/** Runs `fn` with the environment variable set (or deleted with undefined), then puts it back. */
function withEnv<T>(value: string | undefined, fn: () => T): T {
  const before = process.env[RUN_ENV];
  if (value === undefined) delete process.env[RUN_ENV];
  else process.env[RUN_ENV] = value;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env[RUN_ENV];
    else process.env[RUN_ENV] = before;
  }
}

describe("TypeScript client: runs, without a server", () => {
  it("takes the run option over PULSE_LEARNING_LOG_RUN, the variable without it, and none with run: null", () => {
    withEnv("from-env", () => {
      assert.equal(new LearningLogClient({ run: "from-option" }).run, "from-option");
      assert.equal(new LearningLogClient().run, "from-env");
      assert.equal(new LearningLogClient({ run: null }).run, undefined);
    });
    withEnv(undefined, () => assert.equal(new LearningLogClient().run, undefined));
    withEnv("", () => assert.equal(new LearningLogClient().run, undefined, "an empty variable is no run"));
  });

  it("refuses a run id outside the contract with InvalidRunId naming the option, before anything is sent", () => {
    const bad = ["", "x".repeat(129), 'a"b', "a\\b", "tab\there", "caf\u00e9", "nul\u0000", "del\u007f"];
    for (const run of bad) {
      assert.throws(
        () => new LearningLogClient({ run }),
        (err: unknown) => err instanceof InvalidRunId && err instanceof TypeError && err.option === "run" && err.message.startsWith("run: "),
        JSON.stringify(run),
      );
    }
    assert.throws(() => new LearningLogClient({ run: 42 as unknown as string }), (err: unknown) => err instanceof InvalidRunId && /must be a string, got number/.test(err.message));
    withEnv('bad"run', () =>
      assert.throws(() => new LearningLogClient(), (err: unknown) => err instanceof InvalidRunId && err.option === RUN_ENV && err.message.startsWith(`${RUN_ENV}: `)),
    );
    const client = new LearningLogClient({ run: null });
    assert.throws(() => client.forRun("x".repeat(129)), InvalidRunId);
    assert.throws(() => new BatchWriter({ client, run: "a\\b" }), (err: unknown) => err instanceof InvalidRunId && err.option === "run");
    client.close();
  });

  it("takes run ids at the contract's edges: 1 and 128 characters, spaces and punctuation", () => {
    const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i))
      .filter((c) => c !== '"' && c !== "\\")
      .join("");
    for (const run of ["r", "x".repeat(128), printable.slice(0, 128), printable.slice(-60), " exp 42 / seed=7 "]) {
      assert.equal(new LearningLogClient({ run }).run, run);
    }
  });

  it("names a failed run's error by its class (or name) and message", () => {
    class DivergedError extends Error {}
    assert.deepEqual(runErrorOf(new DivergedError("loss is NaN")), { type: "DivergedError", message: "loss is NaN" });
    assert.deepEqual(runErrorOf(new RangeError("lr out of range")), { type: "RangeError", message: "lr out of range" });
    const named = Object.assign(new Error("boom"), { name: "ValueError" });
    assert.deepEqual(runErrorOf(named), { type: "ValueError", message: "boom" });
    assert.deepEqual(runErrorOf("just a string"), { type: "string", message: "just a string" });
  });
});

describe("TypeScript client: runs, against the server", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let t: TestServer;
  let client: LearningLogClient;
  beforeEach(async () => {
    dir = await tempDir("pulse-ts-runs-");
    t = await startServer(dir.path);
    client = new LearningLogClient({ address: t.address, run: "exp-42" });
  });
  afterEach(async () => {
    client.close();
    await t.stop();
    await dir.remove();
  });

  it("puts the client's run on every record its calls write: log calls, catalog events and the trust calls' audit records", async () => {
    const acks = [
      await client.logEvent("custom", { a: 1 }, { note: "x" }),
      await client.logVariableWeightChange("temperature", 0.5, 0.75),
      await client.logRuleActivation("R1", "v1", "fired"),
      await client.logBayesianTrustMetrics("rule_x"),
    ];
    const update = await client.trust.update("rule_x", true);
    await client.generateTrustReport();
    const unrun = new LearningLogClient({ address: t.address, run: null });
    const plain = await unrun.logRevisionTrigger("no run here");
    unrun.close();

    const lines = await linesOf(t.logPath);
    for (const ack of acks) assert.equal(lines.find((l) => l.event_id === ack.eventId)?.run, "exp-42");
    assert.equal(lines.find((l) => l.seq === update.seq)?.run, "exp-42", "the trust update's audit record");
    assert.equal(lines.find((l) => l.event_type === "trust_report_generated")?.run, "exp-42");
    const without = lines.find((l) => l.event_id === plain.eventId)!;
    assert.equal("run" in without, false, "a call without a run writes the record as before");
    // The run member sits after data/context and before seq (and the chain's hash, when on).
    const custom = lines.find((l) => l.event_id === acks[0].eventId)!;
    assert.deepEqual(
      Object.keys(custom).filter((k) => k !== "hash"),
      ["event_id", "timestamp", "event_type", "data", "context", "run", "seq"],
    );
  });

  it("forRun logs into another run on the same channel", async () => {
    const other = client.forRun("exp-43");
    assert.equal(other.connection.closed, false);
    const a = await other.logRevisionTrigger("other run");
    const b = await client.forRun(null).logRevisionTrigger("no run");
    const c = await client.logRevisionTrigger("first run");
    const lines = await recordsOf(t.logPath);
    assert.equal((lines.get(a.eventId) as RunLine).run, "exp-43");
    assert.equal((lines.get(b.eventId) as RunLine).run, undefined);
    assert.equal((lines.get(c.eventId) as RunLine).run, "exp-42");
  });

  it("BatchWriter events carry the run: the client's, or the writer's own run option", async () => {
    const shared = new BatchWriter({ client });
    const own = new BatchWriter({ client, run: "exp-99" });
    const apart = new BatchWriter({ address: t.address, run: "exp-7" });
    assert.equal(shared.run, "exp-42");
    const ids = [await shared.logVariableWeightChange("v", 1, 2), await own.logVariableWeightChange("v", 2, 3), await apart.logRuleActivation("R", "v", 1)];
    await Promise.all([shared.close(), own.close(), apart.close()]);
    const lines = await recordsOf(t.logPath);
    assert.deepEqual(
      ids.map((id) => (lines.get(id) as RunLine).run),
      ["exp-42", "exp-99", "exp-7"],
    );
  });

  it("reads by run and lists runs", async () => {
    await client.logRevisionTrigger("a");
    await client.forRun("exp-43").logRevisionTrigger("b");
    await client.forRun(null).logRevisionTrigger("c");
    await client.logRevisionTrigger("d");
    const read = [];
    for await (const r of client.readEvents({ runs: ["exp-42"] })) read.push(JSON.parse(r.json) as RunLine);
    assert.deepEqual(
      read.map((r) => r.data.reason),
      ["a", "d"],
    );
    const { runs } = await client.listRuns();
    assert.deepEqual(
      runs.map((r) => [r.run, r.eventCount, r.eventTypes]),
      [
        ["exp-42", 2, { symbolic_revision_triggered: 2 }],
        ["exp-43", 1, { symbolic_revision_triggered: 1 }],
      ],
    );
    assert.deepEqual(
      (await client.listRuns(["exp-43"])).runs.map((r) => r.run),
      ["exp-43"],
    );
    await assert.rejects(client.readEvents({ runs: ['x"'] }).next(), (err: unknown) => err instanceof InvalidRunId && err.option === "runs[0]");
    await assert.rejects(client.listRuns(["ok", ""]), (err: unknown) => err instanceof InvalidRunId && err.option === "runs[1]");
  });

  it("withRun writes run_started, the events, then run_finished; the run is listed as finished", async () => {
    const result = await client.withRun("train-1", { params: { lr: 0.01, layers: [64, 32] } }, async (scope) => {
      assert.equal(scope.run, "train-1");
      await scope.holdTaken();
      assert.equal(scope.held, true);
      await scope.client.logVariableWeightChange("w", 0.1, 0.2);
      const writer = new BatchWriter({ client: scope.client });
      await writer.logRuleActivation("R1", "v1", "fired");
      await writer.close();
      // While the scope is open the server lists the run as logging.
      const [info] = (await client.listRuns(["train-1"])).runs;
      assert.equal(info.status, "logging");
      return 7;
    });
    assert.equal(result, 7);
    const lines = (await linesOf(t.logPath)).filter((l) => l.run === "train-1");
    assert.deepEqual(
      lines.map((l) => l.event_type),
      ["run_started", "variable_weight_update", "rule_activation", "run_finished"],
    );
    assert.deepEqual(lines[0].data, { params: { lr: 0.01, layers: [64, 32] }, pid: process.pid, host: hostname() });
    assert.deepEqual(lines[3].data, { status: "finished" });
    const [info] = (await client.listRuns(["train-1"])).runs;
    assert.equal(info.status, "finished");
    assert.equal(info.eventCount, 4);
  });

  it("withRun records a failure with the error's type and message, and rethrows it", async () => {
    class DivergedError extends Error {}
    await assert.rejects(
      client.withRun("train-2", async (scope) => {
        await scope.client.logRevisionTrigger("loss exploded");
        throw new DivergedError("loss is NaN at step 12");
      }),
      DivergedError,
    );
    const lines = (await linesOf(t.logPath)).filter((l) => l.run === "train-2");
    assert.deepEqual(lines.at(-1)?.data, { status: "failed", error: { type: "DivergedError", message: "loss is NaN at step 12" } });
    assert.deepEqual(lines[0].data.params, {}, "params default to {}");
    const [info] = (await client.listRuns(["train-2"])).runs;
    assert.equal(info.status, "failed");
    assert.match(info.error, /DivergedError/);
  });

  it("a scope ended without finish or fail leaves the run ended without a finish record", async () => {
    let scope: RunScope | undefined;
    {
      await using s = await client.runScope("train-3", { processInfo: false });
      scope = s;
      await s.holdTaken();
      await s.client.logRevisionTrigger("then the process died");
    }
    assert.equal(scope.held, false);
    const lines = (await linesOf(t.logPath)).filter((l) => l.run === "train-3");
    assert.deepEqual(lines[0].data, { params: {} }, "processInfo: false leaves out pid and host");
    assert.equal(lines.at(-1)?.event_type, "symbolic_revision_triggered");
    // The server learns of the hold's end from the cancelled call, a moment
    // later: ask until it says so (each answer is an event, not a sleep; the
    // test's timeout bounds the wait, however loaded the machine).
    for (;;) {
      const [info] = (await client.listRuns(["train-3"])).runs;
      if (info.status === "ended_without_finish") break;
      assert.equal(info.status, "logging", "until the server learns of the hold's end, the run is logging");
    }
  });

  it("re-opens the hold after the connection breaks, and ends it after run_finished", async () => {
    const proxy = await TcpProxy.start(t.address);
    const viaProxy = new LearningLogClient({ address: proxy.address, run: null });
    try {
      const scope = await viaProxy.runScope("train-4");
      await scope.holdTaken(1);
      proxy.cut(); // the hold fails with UNAVAILABLE and is opened again
      await scope.holdTaken(2);
      assert.equal(scope.holdCount, 2);
      await scope.finish();
      assert.equal(scope.held, false);
      await assert.rejects(scope.finish(), /already ended \(finished\)/);
      const [info] = (await viaProxy.listRuns(["train-4"])).runs;
      assert.equal(info.status, "finished");
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });

  it("a run_finished whose answer was lost keeps the hold; finishing again answers the same record as a duplicate", async () => {
    const proxy = await TcpProxy.start(t.address);
    const viaProxy = new LearningLogClient({ address: proxy.address, run: null });
    try {
      const scope = await viaProxy.runScope("train-6");
      await scope.holdTaken(1);
      proxy.holdAnswers(); // the server writes run_finished; its answer never arrives
      const first = scope.finish({ timeoutMs: 2_000 });
      await assert.rejects(first, /DEADLINE_EXCEEDED/);
      // Written before the connection breaks, however late the server got to it.
      await runFinishedWritten(t, "train-6");
      assert.equal(scope.held, true, "the run is not over for this process: the hold stays");
      proxy.cut();
      const ack = await scope.finish();
      assert.equal(ack.duplicate, true);
      assert.equal(scope.held, false);
      const finished = (await linesOf(t.logPath)).filter((l) => l.run === "train-6" && l.event_type === "run_finished");
      assert.equal(finished.length, 1, "written once");
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });

  it("closing the client ends its scopes' holds", async () => {
    const other = new LearningLogClient({ address: t.address });
    const scope = await other.runScope("train-5");
    await scope.holdTaken();
    other.close();
    await assert.rejects(scope.holdTaken(2), /has ended/);
    assert.equal(scope.held, false);
  });
});
