import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { cli } from "../helpers/cli.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";
import { logOfRecords, RUN_A, RUN_B, runRecords } from "./synthetic-log.js";

describe("pulse-log summary --run", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let logPath: string;
  const lines = logOfRecords(runRecords({ ...RUN_A, weightChanges: 300, activations: 60 }), runRecords({ ...RUN_B, weightChanges: 200, activations: 45 }), [{ micros: RUN_A.startMicros + 5, type: "custom_event", data: {} }]);

  before(async () => {
    dir = await tempDir();
    logPath = join(dir.path, "pulse_learning_log.jsonl");
    await writeFile(logPath, lines.join("\n") + "\n");
  });
  after(async () => dir?.remove());

  it("summarises one run: its records only, its status and params", async () => {
    const r = await cli(["summary", "--log-path", logPath, "--run", "exp-42"], dir.path);
    assert.equal(r.code, 0, r.stderr);
    const n = lines.filter((l) => l.includes(',"run":"exp-42","seq"')).length;
    assert.match(r.stdout, new RegExp(`^${n} records, seq \\d+\\.\\.${lines.length}, `));
    assert.match(r.stdout, /^run exp-42: failed: ValueError: loss is NaN\n {2}params \{"lr":0\.02\} pid 4242 host trainer-1$/m);
    assert.doesNotMatch(r.stdout, /rule_z|custom_event/);
    const json = JSON.parse((await cli(["summary", "--json", "--log-path", logPath, "--run", "exp-42"], dir.path)).stdout) as { records: number; runs: Array<{ run: string }> };
    assert.deepEqual([json.records, json.runs.map((x) => x.run)], [n, ["exp-42"]]);
    const none = await cli(["summary", "--log-path", logPath, "--run", "exp-0"], dir.path);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, "no records of run exp-0 in range\n");
  });

  it("compares two runs in text, as JSON and as a page", async () => {
    const text = await cli(["summary", "--log-path", logPath, "--run", "exp-41", "--run", "exp-42"], dir.path);
    assert.equal(text.code, 0, text.stderr);
    for (const line of ["  variables only in exp-41 (1): v_only_a", "  variables only in exp-42 (1): v_only_b", "  rules only in exp-41 (1): rule_z", "  rules only in exp-42 (1): rule_w"]) {
      assert.ok(text.stdout.split("\n").includes(line), line);
    }
    assert.match(text.stdout, /^ {2}variable_weight_update +300 +200$/m);
    const json = JSON.parse((await cli(["summary", "--json", "--log-path", logPath, "--run", "exp-41", "--run", "exp-42"], dir.path)).stdout) as { runs: string[]; diff: { rules: { onlyA: string[]; onlyB: string[] } } };
    assert.deepEqual([json.runs, json.diff.rules.onlyA, json.diff.rules.onlyB], [["exp-41", "exp-42"], ["rule_z"], ["rule_w"]]);
    const html = join(dir.path, "compare.html");
    const page = await cli(["summary", "--log-path", logPath, "--run", "exp-41", "--run", "exp-42", "--html", html], dir.path);
    assert.equal(page.code, 0, page.stderr);
    assert.match(page.stderr, /wrote .*compare\.html \(run exp-41: \d+ records, run exp-42: \d+ records\)/);
    const written = await readFile(html, "utf8");
    assert.match(written, /data-view="compare"/);
    assert.match(written, /Variables only in exp-41 \(1\): v_only_a/);
  });

  it("refuses a bad run id and more than two runs with a usage error", async () => {
    const bad = await cli(["summary", "--log-path", logPath, "--run", 'a"b'], dir.path);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--run "a\\"b": must not contain '"' or '\\' \(character 2\)/);
    const long = await cli(["summary", "--log-path", logPath, "--run", "x".repeat(129)], dir.path);
    assert.equal(long.code, 2);
    assert.match(long.stderr, /--run "x+": longer than 128 characters/);
    const three = await cli(["summary", "--log-path", logPath, "--run", "a", "--run", "b", "--run", "c"], dir.path);
    assert.equal(three.code, 2);
    assert.match(three.stderr, /--run: give one run to summarise or two to compare, not 3/);
  });

  describe("through a server (--addr)", () => {
    let server: TestServer;
    before(async () => {
      // The server serves the same log file.
      server = await startServer(dir.path);
    });
    after(async () => server?.stop());

    it("gives what the file gives, for one run and for two", async () => {
      for (const runs of [["--run", "exp-41"], ["--run", "exp-41", "--run", "exp-42"]]) {
        const fromFile = await cli(["summary", "--json", "--log-path", logPath, ...runs], dir.path);
        const remote = await cli(["summary", "--json", "--addr", server.address, ...runs], dir.path);
        assert.equal(remote.code, 0, remote.stderr);
        assert.deepEqual(JSON.parse(remote.stdout), JSON.parse(fromFile.stdout));
      }
    });

    it("says a run without a finish record is still logging, as the server's run index knows", async () => {
      const metadata = new Metadata();
      metadata.set("pulse-run", "live-1");
      await server.client.logEvent({ eventType: "run_started", data: { params: { lr: 0.5 } } }, { metadata });
      await server.client.logEvent({ eventType: "variable_weight_update", data: { variable: "v1", from: 1, to: 2 } }, { metadata });
      const remote = await cli(["summary", "--addr", server.address, "--run", "live-1"], dir.path);
      assert.equal(remote.code, 0, remote.stderr);
      assert.match(remote.stdout, /^2 records, .*\nrun live-1: still logging\n {2}params \{"lr":0\.5\}\n/);
      // The file alone cannot tell whether a process still holds the run.
      const fromFile = await cli(["summary", "--log-path", logPath, "--run", "live-1"], dir.path);
      assert.match(fromFile.stdout, /^run live-1: no run_finished record \(still logging, or ended without one\)$/m);
    });
  });
});
