import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot, serverEntry } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";

/** Runs the server (under `wrapper`) until it exits; a start that listens is stopped and fails the test on its code. */
function runToExit(logPath: string, wrapper: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const [command, ...args] = [...wrapper, process.execPath, ...serverEntry(), "--addr", "127.0.0.1:0", "--log-path", logPath];
  const child = spawn(command, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('"msg":"listening"')) process.kill(-child.pid!, "SIGTERM");
  });
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stderr })));
}

describe("start-up storage errors name the file or folder", function () {
  this.timeout(120_000);
  let dir: TempDir;
  before(function () {
    const probe = spawnSync("strace", ["-f", "-o", "/dev/null", "true"]);
    if (probe.status !== 0) {
      console.log("      SKIPPED: fault injection needs strace with ptrace permitted (apt-get install strace; as root).");
      this.skip();
    }
  });
  beforeEach(async () => (dir = await tempDir("pulse-start-eio-")));
  afterEach(() => dir.remove());

  it("an EIO on the fsync of the log folder: one line naming the folder, exit 1", async () => {
    const logDir = join(dir.path, "log");
    await mkdir(logDir);
    const { code, stderr } = await runToExit(join(logDir, "l.jsonl"), ["strace", "-f", "-o", "/dev/null", "-P", logDir, "-e", "trace=fsync,fdatasync", "-e", "inject=fsync:error=EIO:when=1"]);
    assert.equal(code, 1, stderr);
    assert.equal(stderr.trim().split("\n")[0], `pulse-learning-log: EIO: i/o error, fsync '${logDir}'`);
  });

  it("an EIO on the fsync that cuts a torn tail: one line naming the log file, exit 1", async () => {
    const logDir = join(dir.path, "log");
    const logPath = join(logDir, "l.jsonl");
    await mkdir(logDir);
    // A torn tail: the start cuts it, then syncs the file (ftruncate is not covered by O_DSYNC).
    await writeFile(logPath, '{"event_id":"a","timestamp":"2026-01-01T00:00:00.000000+00:00","event_type":"t","data":{},"seq":1}\n{"event_id":"b","tim', { mode: 0o600 });
    const { code, stderr } = await runToExit(logPath, ["strace", "-f", "-o", "/dev/null", "-P", logPath, "-e", "trace=fsync,fdatasync", "-e", "inject=fdatasync:error=EIO:when=1"]);
    assert.equal(code, 1, stderr);
    assert.equal(stderr.trim().split("\n")[0], `pulse-learning-log: EIO: i/o error, fdatasync '${logPath}'`);
  });
});
