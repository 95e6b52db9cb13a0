import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { cli } from "../helpers/cli.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

const inRun = (run: string) => {
  const metadata = new Metadata();
  metadata.set("pulse-run", run);
  return { metadata };
};

describe("pulse-log: runs, export and --run", function () {
  // Each pulse-log call starts a Node process: slow on a busy machine.
  this.timeout(120_000);
  let dir: TempDir;
  let ts: TestServer;
  before(async () => {
    dir = await tempDir();
    ts = await startServer(dir.path);
    const a = inRun("exp-41");
    const b = inRun("exp-42");
    await ts.client.logEvent({ eventType: "run_started", data: { params: { lr: 0.1 } } }, a);
    await ts.client.logEvent({ eventType: "run_started", data: { params: { lr: 0.2 } } }, b);
    for (let i = 0; i < 5; i++) {
      await ts.client.logVariableWeightChange({ variable: `v${i}`, oldWeight: i, newWeight: i + 1 }, a);
      await ts.client.logRuleActivation({ ruleId: `r${i}`, variableId: "x", outcome: { kind: { case: "stringValue", value: "ok" } }, success: true }, b);
    }
    await ts.client.logVariableWeightChange({ variable: "none", oldWeight: 0, newWeight: 1 });
    await ts.client.logEvent({ eventType: "run_finished", data: { status: "failed", error: { type: "ValueError", message: "nan loss" } } }, b);
    await ts.client.logEvent({ eventType: "run_finished", data: { status: "finished" } }, a);
  });
  after(async () => {
    await ts.stop();
    await dir.remove();
  });
  const call = (args: string[]) => cli([...args, "--addr", ts.address], dir.path);

  it("lists the runs with status, counts, seq range and types; --json gives one object per run", async () => {
    const text = await call(["runs"]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^RUN\s+STATUS\s+EVENTS\s+SEQ/);
    assert.match(lines[1], /^exp-41\s+finished\s+7\s+1\.\.15/);
    assert.match(lines[2], /^exp-42\s+failed \(ValueError: nan loss\)\s+7\s+2\.\.14/);
    const json = await call(["runs", "--json"]);
    const runs = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      runs.map((r) => [r.run, r.status, r.events]),
      [
        ["exp-41", "finished", 7],
        ["exp-42", "failed", 7],
      ],
    );
    assert.deepEqual(runs[1].event_types, { run_started: 1, rule_activation: 5, run_finished: 1 });
    const missing = await call(["runs", "--run", "nope"]);
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(missing.stderr, /no run named "nope"/);
  });

  it("replays, tails and counts one run", async () => {
    const replay = await call(["replay", "--run", "exp-41", "--json"]);
    assert.equal(replay.code, 0, replay.stderr);
    const records = replay.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { run: string; seq: number });
    assert.equal(records.length, 7);
    assert.ok(records.every((r, i) => r.run === "exp-41" && (i === 0 || r.seq > records[i - 1].seq)));
    const tail = await call(["tail", "-n", "2", "--run", "exp-42", "--json"]);
    assert.deepEqual(
      tail.stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as { event_type: string }).event_type),
      ["rule_activation", "run_finished"],
    );
    const stats = await call(["stats", "--run", "exp-42", "--json"]);
    assert.equal((JSON.parse(stats.stdout) as { records: number }).records, 7);
    // stats reads the file by run too.
    const fileStats = await cli(["stats", "--run", "exp-41", "--json", "--log-path", ts.logPath], dir.path);
    assert.equal((JSON.parse(fileStats.stdout) as { records: number }).records, 7);
  });

  it("exports one run as a JSONL file of the log's own lines, which the original module's reader reads", async () => {
    const out = join(dir.path, "exp-42.jsonl");
    const res = await call(["export", "--run", "exp-42", "--output", out]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /7 records of run exp-42/);
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    const exported = (await readFile(out, "utf8")).trimEnd().split("\n");
    const log = (await readFile(ts.logPath, "utf8")).trimEnd().split("\n");
    assert.deepEqual(exported, log.filter((l) => (JSON.parse(l) as { run?: string }).run === "exp-42"));
    // What the original module's readers do with a log: json.loads each line and read the contract's keys.
    for (const line of exported) {
      const r = JSON.parse(line) as Record<string, unknown>;
      assert.deepEqual(Object.keys(r).slice(0, 4), ["event_id", "timestamp", "event_type", "data"]);
    }
    const again = await call(["export", "--run", "exp-42", "--output", out]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists/);
    const toStdout = await call(["export", "--run", "exp-41"]);
    assert.equal(toStdout.stdout.trimEnd().split("\n").length, 7);
    const unknown = await call(["export", "--run", "nope"]);
    assert.equal(unknown.code, 4);
  });
});
