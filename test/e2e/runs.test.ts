import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { BatchWriter, LearningLogClient } from "../../clients/ts/src/index.js";
import { cli } from "../helpers/cli.js";
import { repoRoot, spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";

/** A Python trainer: the drop-in client, its run from the environment or a with-block, as a Pulse user writes it. */
const TRAINER = `
import os, sys
import pulse_learning_log as log
mode = sys.argv[1]
def train(n):
    for step in range(n):
        log.log_variable_weight_change("w%d" % (step % 5), step, step + 1)
        log.log_rule_activation("r%d" % (step % 3), "w0", {"delta": step / 10, "applied": True}, success=step % 2 == 0)
if mode == "env":
    train(60)
elif mode == "raise":
    with log.run(os.environ["RUN_NAME"], params={"lr": 0.1}):
        train(20)
        raise ValueError("loss diverged")
elif mode == "hang":
    with log.run(os.environ["RUN_NAME"]):
        train(10)
        print("ready", flush=True)
        sys.stdin.read()
`;

function python(mode: string, address: string, env: Record<string, string>): ChildProcess {
  return spawn(PYTHON, ["-c", TRAINER, mode], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", PYTHONPATH: `${join(repoRoot, "gen/python")}:${join(repoRoot, "clients/python")}`, PULSE_LEARNING_LOG_ADDR: address, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
}

async function exited(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stderr };
}

/** Resolves once `check` holds, asking again after each answer; fails after `ms`. */
async function until(check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) assert.fail("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface RunLine {
  run: string;
  status: string;
  events: number;
  error?: string;
}

describe("runs end to end: Python trainers, a TypeScript writer and an OpenTelemetry exporter in one log", function () {
  this.timeout(180_000);
  let dir: TempDir;
  let server: ChildServer;
  before(async () => {
    dir = await tempDir();
    server = await spawnServer({ logPath: join(dir.path, "log.jsonl") });
  });
  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it("lists each run with its counts and status, and replays exactly each run's events in seq order", async () => {
    const runs = async (): Promise<RunLine[]> => {
      const res = await cli(["runs", "--json", "--addr", server.address], dir.path);
      assert.equal(res.code, 0, res.stderr);
      return res.stdout.trimEnd().split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as RunLine);
    };
    // Two trainers at once with different runs, one that raises in its run block, one killed mid-run.
    const hanging = python("hang", server.address, { RUN_NAME: "py-killed" });
    const hangingReady = once(hanging.stdout!, "data");
    const trainers = [python("env", server.address, { PULSE_LEARNING_LOG_RUN: "py-A" }), python("env", server.address, { PULSE_LEARNING_LOG_RUN: "py-B" }), python("raise", server.address, { RUN_NAME: "py-failed" })];
    // A TypeScript BatchWriter inside a run scope, and an OTLP exporter naming its run by resource attribute, at the same time.
    const ts = (async () => {
      const client = new LearningLogClient({ address: server.address });
      try {
        await client.withRun("ts-run", { params: { batch: 100 } }, async (scope) => {
          const writer = new BatchWriter({ client: scope.client });
          const logged = Array.from({ length: 300 }, (_, i) => writer.logVariableWeightChange(`v${i % 4}`, i, i + 1));
          await writer.close();
          await Promise.all(logged);
        });
      } finally {
        client.close();
      }
    })();
    const otlp = (async () => {
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ "service.name": "trainer", "pulse.run.id": "otlp-run" }),
        processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `http://${server.address}`, credentials: grpc.credentials.createInsecure() }) })],
      });
      const logger = provider.getLogger("pulse.trainer");
      for (let i = 0; i < 40; i++) logger.emit({ eventName: "variable_weight_update", body: { variable: "o", from: i, to: i + 1 } });
      await provider.forceFlush();
      await provider.shutdown();
    })();
    const results = await Promise.all(trainers.map(exited));
    assert.deepEqual(
      results.map((r) => r.code),
      [0, 0, 1],
      results.map((r) => r.stderr).join("\n"),
    );
    assert.match(results[2].stderr, /ValueError: loss diverged/);
    await Promise.all([ts, otlp]);
    await hangingReady;
    hanging.kill("SIGKILL");
    await once(hanging, "exit");

    // The server learns that a holder went away when its connection closes: ask until it has.
    const ended = ["py-A", "py-B", "py-killed"];
    await until(async () => (await runs()).filter((r) => ended.includes(r.run) && r.status === "ended without a finish record").length === ended.length);
    const listed = new Map((await runs()).map((r) => [r.run, r]));
    const expected: Array<[string, string, number]> = [
      // Named by the environment: no block, so no finish record; the process held the run while it ran, then exited.
      ["py-A", "ended without a finish record", 120],
      ["py-B", "ended without a finish record", 120],
      // run_started, 20 x 2 events, run_finished
      ["py-failed", "failed", 42],
      ["py-killed", "ended without a finish record", 21],
      ["ts-run", "finished", 302],
      // Nothing holds an OTLP exporter's run: it is logging until --run-idle-seconds pass.
      ["otlp-run", "still logging", 40],
    ];
    for (const [run, status, events] of expected) {
      const r = listed.get(run);
      assert.ok(r, `${run} is listed: ${JSON.stringify([...listed.keys()])}`);
      assert.equal(r.status, status, run);
      assert.equal(r.events, events, run);
    }
    assert.equal(listed.get("py-failed")!.error, "ValueError: loss diverged");

    // replay --run: exactly the run's lines of the log, in seq order.
    const log = (await readFile(join(dir.path, "log.jsonl"), "utf8")).trimEnd().split("\n");
    for (const [run] of expected) {
      const res = await cli(["replay", "--run", run, "--json", "--addr", server.address], dir.path);
      assert.equal(res.code, 0, res.stderr);
      const lines = res.stdout.trimEnd().split("\n");
      assert.deepEqual(lines, log.filter((l) => (JSON.parse(l) as { run?: string }).run === run), run);
    }
  });
});
