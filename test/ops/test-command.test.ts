import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const run = promisify(execFile);

describe("npm test (scripts/test.sh): every suite runs, whatever failed before it", function () {
  this.timeout(60_000);
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir("pulse-test-command-");
  });
  afterEach(async () => {
    await dir.remove();
  });

  /** Runs scripts/test.sh with stand-ins for npx (its steps) and the Python interpreter that record what ran. */
  async function testCommand(mochaExit: number): Promise<{ code: number; stderr: string; ran: string[] }> {
    const record = join(dir.path, "ran");
    await writeFile(record, "");
    const npx = join(dir.path, "npx");
    await writeFile(npx, `#!/bin/sh\necho "npx $1" >> ${record}\n[ "$1" = mocha ] && exit ${mochaExit}\nexit 0\n`);
    const python = join(dir.path, "python");
    await writeFile(python, `#!/bin/sh\necho "python $1" >> ${record}\nexit 0\n`);
    await chmod(npx, 0o755);
    await chmod(python, 0o755);
    const env = { PATH: `${dir.path}:${process.env.PATH ?? ""}`, PYTHON: python, PULSE_SKIP_SYSTEM_PACKAGES: "1" };
    const outcome = await run("sh", [join(repoRoot, "scripts", "test.sh")], { env }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    const ran = (await readFile(record, "utf8")).trim().split("\n");
    return { ...outcome, ran };
  }

  it("runs the Python suite after mocha failed, and exits 1 naming the failed step", async () => {
    const r = await testCommand(1);
    // The type-check and the build first; then mocha and the Python suite side by side (either may record first).
    assert.deepEqual(r.ran.slice(0, 2), ["npx tsc", "npx tsc"]);
    assert.deepEqual(r.ran.slice(2).sort(), ["npx mocha", "python clients/python/run_tests.py"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "npm test: failed: mocha\n");
  });

  it("exits 0 when every step passed", async () => {
    const r = await testCommand(0);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.ran.length, 4);
  });

  it("mocha exits when its run ends, even with a socket left open (exit in .mocharc.json)", async () => {
    const config = JSON.parse(await readFile(join(repoRoot, ".mocharc.json"), "utf8")) as { exit?: boolean };
    assert.equal(config.exit, true);
  });

  /** Runs scripts/system-packages.sh with stand-ins: dpkg-query says only `installed` are there, id -u prints `uid`, apt-get records its calls. */
  async function setUp(uid: number, installed: string[]): Promise<{ code: number; stdout: string; stderr: string; apt: string[] }> {
    const record = join(dir.path, "apt");
    await writeFile(record, "");
    const stub = async (name: string, body: string) => {
      await writeFile(join(dir.path, name), `#!/bin/sh\n${body}\n`);
      await chmod(join(dir.path, name), 0o755);
    };
    await stub("dpkg-query", `for last; do :; done; case " ${installed.join(" ")} " in *" $last "*) printf 'install ok installed';; *) exit 1;; esac`);
    await stub("id", `echo ${uid}`);
    await stub("apt-get", `echo "$*" >> ${record}`);
    const env = { PATH: `${dir.path}:${process.env.PATH ?? ""}` };
    const outcome = await run("sh", [join(repoRoot, "scripts", "system-packages.sh")], { env }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
    return { ...outcome, apt: (await readFile(record, "utf8")).trim().split("\n").filter((l) => l !== "") };
  }

  const listed = async () =>
    (await readFile(join(repoRoot, "scripts", "system-packages.txt"), "utf8"))
      .split("\n")
      .map((l) => l.replace(/#.*/, "").trim())
      .filter((l) => l !== "");

  it("set-up: as root, installs only what is missing, after one apt-get update", async () => {
    const all = await listed();
    for (const p of ["python3-grpcio", "python3-protobuf", "python3-mypy", "protobuf-compiler", "protobuf-compiler-grpc", "openssl", "chromium", "strace", "nats-server", "redis-server"]) assert.ok(all.includes(p), p);
    const r = await setUp(0, all.filter((p) => p !== "strace" && p !== "nats-server"));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.apt, ["update -qq", "install -y -qq --no-install-recommends strace nats-server"]);
    const none = await setUp(0, all);
    assert.deepEqual([none.code, none.apt], [0, []]);
  });

  it("set-up: not root, stops at once naming the one command to run", async () => {
    const all = await listed();
    const r = await setUp(1000, all.filter((p) => p !== "strace"));
    assert.equal(r.code, 1);
    assert.deepEqual(r.apt, []);
    assert.equal(r.stderr, "set-up: missing system packages: strace\nrun this once, then npm test again:\n  sudo apt-get update && sudo apt-get install -y strace\n");
  });
});
