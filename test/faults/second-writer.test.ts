import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { link, mkdir, readdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { v4 as uuidv4 } from "uuid";
import { Appender } from "../../src/store/file/appender.js";
import { LogLockedError } from "../../src/store/file/lock.js";
import { repoRoot, serverEntry, spawnServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const entry = (n: number) => ({ eventId: uuidv4(), clientChosenId: false, body: `"event_type":"test","data":{"n":${n}}` });

/** Runs the server on `logPath` until it exits (a refused start exits at once); its exit code and stderr. */
function startRefused(logPath: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...serverEntry(), "--addr", "127.0.0.1:0", "--log-path", logPath], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    // A start that was not refused: stop it, the test fails on its exit code.
    if (stdout.includes('"msg":"listening"')) child.kill("SIGTERM");
  });
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stderr })));
}

/** The other names a second server could be given for the live log `logPath` in `dir`. */
async function otherNames(dir: string, logPath: string): Promise<Record<string, string>> {
  await mkdir(join(dir, "elsewhere"));
  await symlink(logPath, join(dir, "elsewhere", "link.jsonl"));
  await symlink(join(dir, "log"), join(dir, "log-link"));
  await link(logPath, join(dir, "log", "hard.jsonl"));
  return {
    "a symlink to the file": join(dir, "elsewhere", "link.jsonl"),
    "the file through a symlinked folder": join(dir, "log-link", "pulse_learning_log.jsonl"),
    "a hard link to the file": join(dir, "log", "hard.jsonl"),
    "a `..` path": join(dir, "log", "..", "log-link", "..", "log", "pulse_learning_log.jsonl"),
  };
}

describe("one writer per log file, whatever its name", () => {
  let tmp: TempDir;
  let logPath: string;
  beforeEach(async () => {
    tmp = await tempDir("pulse-second-writer-");
    logPath = join(tmp.path, "log", "pulse_learning_log.jsonl");
  });
  afterEach(() => tmp.remove());

  it("a second writer on any other name of the live log file is refused with LogLockedError, and the first writes on", async () => {
    const { appender } = await Appender.open({ path: logPath });
    try {
      await appender.append([entry(1)]);
      for (const [what, name] of Object.entries(await otherNames(tmp.path, logPath))) {
        await assert.rejects(Appender.open({ path: name }), (err: unknown) => err instanceof LogLockedError, what);
      }
      assert.equal((await appender.append([entry(2)]))[0].seq, 2);
    } finally {
      await appender.close();
    }
    // Released at close: the identity lock and the name lock are gone, only the log files and the links stay.
    assert.deepEqual((await readdir(join(tmp.path, "log"))).sort(), ["hard.jsonl", "pulse_learning_log.jsonl"]);
  });

  it("the identity lock moves to the new active file at a rotation: a hard link to the new file is refused", async () => {
    const { appender } = await Appender.open({ path: logPath, segmentBytesMax: 300 });
    try {
      // A line is 216 bytes: every second commit rotates, after its appends are answered. The
      // fifth commit runs after the fourth's rotation (commits are serial) and rotates nothing, so
      // once it is answered the active file is the new one, under its lock.
      for (let i = 0; i < 5; i++) await appender.append([entry(i)]);
      const hard = join(tmp.path, "log", "hard-after-rotation.jsonl");
      await link(logPath, hard);
      await assert.rejects(Appender.open({ path: hard }), LogLockedError);
    } finally {
      await appender.close();
    }
  });

  it("a folder bind-mounted elsewhere: the second server meets the same locks (skipped where mount is not permitted)", async function () {
    const { appender } = await Appender.open({ path: logPath });
    const mountPoint = join(tmp.path, "bound");
    await mkdir(mountPoint);
    const mounted = spawnSync("mount", ["--bind", join(tmp.path, "log"), mountPoint]);
    try {
      if (mounted.status !== 0) this.skip();
      await assert.rejects(Appender.open({ path: join(mountPoint, "pulse_learning_log.jsonl") }), LogLockedError);
      await link(logPath, join(tmp.path, "log", "hard.jsonl"));
      await assert.rejects(Appender.open({ path: join(mountPoint, "hard.jsonl") }), LogLockedError);
    } finally {
      if (mounted.status === 0) spawnSync("umount", ["-l", mountPoint]);
      await appender.close();
    }
  });

  it("the real server: a second start on a symlink or a hard link to the live log exits 3 with the lock message", async () => {
    const first = await spawnServer({ logPath });
    try {
      const names = await otherNames(tmp.path, logPath);
      for (const what of ["a symlink to the file", "a hard link to the file"]) {
        const second = await startRefused(names[what]);
        assert.equal(second.code, 3, `${what}: ${second.stderr}`);
        assert.match(second.stderr, /^pulse-learning-log: the log is already being written by process \d+ on .*; lock file /, what);
      }
    } finally {
      assert.equal(await first.stop(), 0);
    }
  });
});
