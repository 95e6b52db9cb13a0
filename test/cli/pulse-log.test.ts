import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient } from "../../src/rpc/client.js";
import { productVersion } from "../../src/version.js";
import { cli, PULSE_LOG_BIN } from "../helpers/cli.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";




const nonEmptyLines = (text: string) => text.split("\n").filter((l) => l !== "");

describe("pulse-log CLI", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let ts: TestServer;
  let lines: string[];

  before(async () => {
    dir = await tempDir();
    ts = await startServer(dir.path);
    const trust = createClient(TrustService, ts.address);
    try {
      for (let i = 0; i < 40; i++) {
        await ts.client.logVariableWeightChange({ variable: `v${i % 4}`, oldWeight: i, newWeight: i + 0.5 });
        if (i % 4 === 0) await trust.update({ outcome: { key: "rule-a", success: i % 8 === 0 } });
        await ts.client.logRuleEffectiveness({ ruleId: `r${i % 3}`, activationCount: BigInt(i), successRate: 0.5, impactScore: i / 40 });
      }
    } finally {
      trust.close();
    }
    lines = nonEmptyLines(await readFile(ts.logPath, "utf8"));
  });
  after(async () => {
    await ts.stop();
    await dir.remove();
  });

  it("teaches with --help (commands, examples, exit codes) and exits 0", async () => {
    const top = await cli(["--help"], dir.path);
    assert.equal(top.code, 0);
    for (const word of ["serve", "tail", "replay", "stats", "summary", "trust", "Exit codes:", "3  server unreachable", "Examples:"]) assert.ok(top.stdout.includes(word), word);
    const tail = await cli(["tail", "--help"], dir.path);
    assert.equal(tail.code, 0);
    assert.match(tail.stdout, /pulse-log tail -f --json/);
  });

  it("exits 2 on usage errors and 3 when the server is unreachable", async () => {
    const unknown = await cli(["replay", "--no-such-flag"], dir.path);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option/);
    const badTime = await cli(["replay", "--since", "yesterday"], dir.path);
    assert.equal(badTime.code, 2);
    assert.match(badTime.stderr, /--since "yesterday"/);
    const badCommand = await cli(["frobnicate"], dir.path);
    assert.equal(badCommand.code, 2);
    const down = await cli(["tail", "--addr", "127.0.0.1:1"], dir.path);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /unreachable/);
  });

  it("replay --json prints the log's lines byte for byte, filtered by type, seq and limit", async () => {
    const all = await cli(["replay", "--json"], dir.path, { PULSE_LEARNING_LOG_ADDR: ts.address });
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(nonEmptyLines(all.stdout), lines);
    const some = await cli(["replay", "--addr", ts.address, "--json", "--type", "rule_effectiveness", "--from-seq", "10", "--limit", "3"], dir.path);
    assert.equal(some.code, 0, some.stderr);
    const want = lines.filter((l) => JSON.parse(l).event_type === "rule_effectiveness" && JSON.parse(l).seq >= 10).slice(0, 3);
    assert.deepEqual(nonEmptyLines(some.stdout), want);
    // Text output: one readable line per record with seq, timestamp, type and data.
    const text = await cli(["replay", "--addr", ts.address, "--from-seq", "1", "--limit", "1"], dir.path);
    const first = JSON.parse(lines[0]);
    assert.equal(text.stdout.trim(), `1  ${first.timestamp}  ${first.event_type}  ${JSON.stringify(first.data)}`);
  });

  it("tail prints the last records (of a type), and -f follows new ones until interrupted, exiting 0", async () => {
    const last = await cli(["tail", "--addr", ts.address, "-n", "3", "--json"], dir.path);
    assert.equal(last.code, 0, last.stderr);
    assert.deepEqual(nonEmptyLines(last.stdout), lines.slice(-3));
    const weights = await cli(["tail", "--addr", ts.address, "-n", "2", "--json", "--type", "variable_weight_update"], dir.path);
    assert.deepEqual(nonEmptyLines(weights.stdout), lines.filter((l) => JSON.parse(l).event_type === "variable_weight_update").slice(-2));

    const child = spawn(process.execPath, [PULSE_LOG_BIN, "tail", "-f", "-n", "1", "--json", "--addr", ts.address], { cwd: dir.path, stdio: ["ignore", "pipe", "pipe"] });
    const out = createInterface({ input: child.stdout });
    const seen: string[] = [];
    const nextLine = () => new Promise<string>((resolve) => out.once("line", resolve));
    seen.push(await nextLine()); // the last existing record: the follow call comes next
    assert.equal(seen[0], lines[lines.length - 1]);
    const ack = (await ts.client.logRevisionTrigger({ reason: "after tail -f started" })).ack!;
    const followed = JSON.parse(await nextLine());
    assert.equal(followed.event_id, ack.eventId);
    assert.equal(followed.data.reason, "after tail -f started");
    child.kill("SIGINT");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
    lines = nonEmptyLines(await readFile(ts.logPath, "utf8"));
  });

  it("stats --json counts the log's records by type, with seq and time range and file sizes", async () => {
    const res = await cli(["stats", "--json"], dir.path, { PULSE_LEARNING_LOG_PATH: ts.logPath });
    assert.equal(res.code, 0, res.stderr);
    const stats = JSON.parse(res.stdout);
    const parsed = lines.map((l) => JSON.parse(l));
    const counts: Record<string, number> = {};
    for (const r of parsed) counts[r.event_type] = (counts[r.event_type] ?? 0) + 1;
    assert.equal(stats.records, parsed.length);
    assert.deepEqual(stats.countsByType, counts);
    assert.equal(stats.firstSeq, 1);
    assert.equal(stats.lastSeq, parsed.length);
    assert.equal(stats.firstTime, parsed[0].timestamp);
    assert.equal(stats.lastTime, parsed[parsed.length - 1].timestamp);
    assert.equal(stats.totalBytes, (await readFile(ts.logPath)).length);
    const text = await cli(["stats", "--log-path", ts.logPath], dir.path);
    assert.match(text.stdout, new RegExp(`${parsed.length} records in 1 file`));
    const missing = await cli(["stats", "--log-path", join(dir.path, "none.jsonl")], dir.path);
    assert.equal(missing.code, 4);
  });

  it("stats and summary read through a server's ReadEvents with --server, giving what the files give", async () => {
    const fromFile = JSON.parse((await cli(["stats", "--json", "--log-path", ts.logPath], dir.path)).stdout);
    const remote = await cli(["stats", "--json", "--server", ts.address], dir.path);
    assert.equal(remote.code, 0, remote.stderr);
    const fromServer = JSON.parse(remote.stdout);
    assert.deepEqual(
      [fromServer.records, fromServer.countsByType, fromServer.firstSeq, fromServer.lastSeq, fromServer.firstTime],
      [fromFile.records, fromFile.countsByType, fromFile.firstSeq, fromFile.lastSeq, fromFile.firstTime],
    );
    const fileSummary = JSON.parse((await cli(["summary", "--json", "--log-path", ts.logPath], dir.path)).stdout);
    const serverSummary = JSON.parse((await cli(["summary", "--json", "--server", ts.address], dir.path)).stdout);
    assert.deepEqual(serverSummary, fileSummary);
  });

  it("verify says the log is intact with its last hash, and exits 5 naming the line an edit broke", async () => {
    const ok = await cli(["verify", "--json", "--log-path", ts.logPath], dir.path);
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.records, lines.length);
    assert.equal(report.lastHash, JSON.parse(lines[lines.length - 1]).hash);
    // An edited copy of the log.
    const copy = join(dir.path, "edited", "pulse_learning_log.jsonl");
    await import("node:fs/promises").then((fs) => fs.mkdir(join(dir.path, "edited")));
    await writeFile(copy, lines.map((l, i) => (i === 5 ? l.replace(/"to":[0-9.]+/, '"to":99') : l)).join("\n") + "\n");
    const broken = await cli(["verify", "--log-path", copy], dir.path);
    assert.equal(broken.code, 5);
    assert.match(broken.stderr, /line 6 \(seq 6\): hash does not match/);
    const text = await cli(["verify", "--log-path", ts.logPath], dir.path);
    assert.match(text.stdout, new RegExp(`^intact: the hash chain holds over ${lines.length} records, seq 1\\.\\.${lines.length} in 1 file\\(s\\)\n`));
  });

  it("verify on a log without a hash chain says plainly that nothing could be verified", async () => {
    const unhashed = join(dir.path, "unhashed", "pulse_learning_log.jsonl");
    await import("node:fs/promises").then((fs) => fs.mkdir(join(dir.path, "unhashed")));
    await writeFile(unhashed, lines.map((l) => l.replace(/,"hash":"[0-9a-f]+"/, "")).join("\n") + "\n");
    const out = await cli(["verify", "--log-path", unhashed], dir.path);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `nothing verified: none of the ${lines.length} records carries a hash (written with --hash-chain off, or by the original module); only the seq order and the JSON were checked (seq 1..${lines.length} in 1 file(s))\n`);
    assert.doesNotMatch(out.stdout, /intact/);
    const json = JSON.parse((await cli(["verify", "--json", "--log-path", unhashed], dir.path)).stdout) as { hashedRecords: number; records: number };
    assert.deepEqual([json.hashedRecords, json.records], [0, lines.length]);
  });

  it("summary prints the learning in text, and --html writes a self-contained page", async () => {
    const text = await cli(["summary", "--log-path", ts.logPath], dir.path);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Most changed variables/);
    assert.match(text.stdout, /Rules by effectiveness/);
    const html = join(dir.path, "summary.html");
    const page = await cli(["summary", "--log-path", ts.logPath, "--html", html, "--since", "1d"], dir.path);
    assert.equal(page.code, 0, page.stderr);
    const body = await readFile(html, "utf8");
    assert.match(body, /^<!doctype html>/);
    assert.ok(!/<script[^>]+src=|<link[^>]+href=/i.test(body), "nothing is fetched");
    assert.match(body, /Chart\.js v4/);
  });

  it("trust report, export and import go through the server's TrustService", async () => {
    const report = await cli(["trust", "report", "--addr", ts.address, "--min-samples", "1", "--json"], dir.path);
    assert.equal(report.code, 0, report.stderr);
    const parsed = JSON.parse(report.stdout);
    assert.equal(parsed.summary.total_keys, 1);
    const file = join(dir.path, "trust.json");
    const exported = await cli(["trust", "export", file, "--addr", ts.address], dir.path);
    assert.equal(exported.code, 0, exported.stderr);
    const data = JSON.parse(await readFile(file, "utf8"));
    assert.deepEqual(Object.keys(data.stats), ["rule-a"]);
    // Import a changed state and read it back.
    data.stats["rule-b"] = [9.0, 1.0];
    await writeFile(file, JSON.stringify(data));
    const imported = await cli(["trust", "import", file, "--addr", ts.address, "--json"], dir.path);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(JSON.parse(imported.stdout).keys, 2);
    const again = await cli(["trust", "export", "-", "--addr", ts.address], dir.path);
    assert.deepEqual(JSON.parse(again.stdout).stats["rule-b"], [9, 1]);
    const missing = await cli(["trust", "import", join(dir.path, "nope.json"), "--addr", ts.address], dir.path);
    assert.equal(missing.code, 4);
  });

  it("serve runs the server with the same flags as npm start, and stops on SIGTERM with exit 0", async () => {
    const bad = await cli(["serve", "--no-such-flag"], dir.path);
    assert.equal(bad.code, 2);
    // The one wrong thing and where the help is, not the whole help.
    assert.equal(bad.stderr, "pulse-log: unknown option '--no-such-flag' (see pulse-log serve --help)\n");
    for (const args of [["serve", "--version"], ["--version"]]) {
      const version = await cli(args, dir.path);
      assert.deepEqual([version.code, version.stdout], [0, `pulse-log ${productVersion()}\n`], args.join(" "));
    }
    const help = await cli(["serve", "--help"], dir.path);
    assert.match(help.stdout, /Usage: pulse-log serve/);
    const logPath = join(dir.path, "served", "pulse_learning_log.jsonl");
    const child = spawn(process.execPath, [PULSE_LOG_BIN, "serve", "--addr", "127.0.0.1:0", "--log-path", logPath], { cwd: dir.path, stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === "listening") resolve(entry.port!);
      });
    });
    const replay = await cli(["replay", "--addr", `127.0.0.1:${port}`], dir.path);
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal(replay.stdout, "");
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
  });
});
