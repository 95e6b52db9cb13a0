import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { acquireLogLock, lockTakeoverOf, LockFileError, LogLockedError, type LockOwner } from "../../../src/store/file/lock.js";
import { repoRoot } from "../../helpers/child-server.js";
import { zombie } from "../../helpers/zombie.js";
import { tempDir, type TempDir } from "../../helpers/server.js";

const hasProc = existsSync("/proc/self/stat");

/** Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot. */
async function startedOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "latin1");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}


/** A live process that is not this one (and not the server): `sleep 60` until killed. */
function sleeper(): ChildProcess {
  return spawn("sleep", ["60"], { stdio: "ignore" });
}


describe("log lock: taking over what a kill -9 leaves behind", () => {
  let dir: TempDir;
  let logPath: string;
  let lockPath: string;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    dir = await tempDir("pulse-lock-");
    logPath = join(dir.path, "log.jsonl");
    lockPath = `${logPath}.lock`;
  });
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill("SIGKILL");
    await dir.remove();
  });

  const writeLock = (owner: Partial<LockOwner>) => writeFile(lockPath, JSON.stringify({ host: hostname(), since: "2026-01-01T00:00:00.000Z", ...owner }) + "\n");
  const ownerNow = async () => JSON.parse(await readFile(lockPath, "utf8")) as LockOwner;

  it("writes a complete lock naming this process (pid, host, start time, boot) and removes it at release", async () => {
    const lock = await acquireLogLock(logPath);
    const owner = await ownerNow();
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, hostname());
    if (hasProc) {
      assert.equal(owner.started, await startedOf(process.pid));
      assert.match(owner.boot ?? "", /^[0-9a-f-]{36}$/);
    }
    assert.equal(lockTakeoverOf(logPath), undefined);
    await lock.release();
    assert.equal(existsSync(lockPath), false);
    // No temporary file is left beside it.
    assert.deepEqual(await readdir(dir.path), []);
  });

  it("takes over a lock file left empty by a process killed while writing it (an older version's non-atomic write)", async () => {
    await writeFile(lockPath, "");
    const old = new Date(Date.now() - 60_000);
    await utimes(lockPath, old, old);
    const lock = await acquireLogLock(logPath);
    assert.equal((await ownerNow()).pid, process.pid);
    const t = lockTakeoverOf(logPath);
    assert.equal(t?.reason, "corrupt");
    assert.equal(t?.content, '""');
    await lock.release();
  });

  it("takes over a lock file cut short mid-write", async () => {
    await writeFile(lockPath, `{"pid":${process.pid + 1},"host":"${hostname()}","si`);
    const old = new Date(Date.now() - 60_000);
    await utimes(lockPath, old, old);
    const lock = await acquireLogLock(logPath);
    assert.equal((await ownerNow()).pid, process.pid);
    assert.equal(lockTakeoverOf(logPath)?.reason, "corrupt");
    await lock.release();
  });

  it("does not take over a fresh empty lock at once: it may be a live process's lock being written", async function () {
    if (!hasProc) this.skip();
    const live = sleeper();
    children.push(live);
    await writeFile(lockPath, "");
    const started = await startedOf(live.pid!);
    // The writer finishes its lock 200 ms later: the start must see it, and be refused.
    setTimeout(() => void writeLock({ pid: live.pid!, started }), 200);
    await assert.rejects(acquireLogLock(logPath, { corruptGraceMs: 2_000 }), (err: Error) => {
      assert.ok(err instanceof LogLockedError, String(err));
      assert.match(err.message, new RegExp(`process ${live.pid} `));
      return true;
    });
  });

  it("takes over the lock of a killed process its parent has not reaped yet (a zombie)", async function () {
    if (!hasProc) this.skip();
    const z = await zombie();
    children.push(z.parent);
    await writeLock({ pid: z.pid });
    const lock = await acquireLogLock(logPath);
    assert.equal((await ownerNow()).pid, process.pid);
    assert.deepEqual({ reason: lockTakeoverOf(logPath)?.reason }, { reason: "dead" });
    await lock.release();
  });

  it("takes over a lock whose pid now belongs to another process (pid reused: another start time)", async function () {
    if (!hasProc) this.skip();
    const other = sleeper();
    children.push(other);
    await new Promise((r) => other.once("spawn", r));
    await writeLock({ pid: other.pid!, started: (await startedOf(other.pid!)) - 1 });
    const lock = await acquireLogLock(logPath);
    assert.equal((await ownerNow()).pid, process.pid);
    assert.equal(lockTakeoverOf(logPath)?.reason, "reused-pid");
    await lock.release();
  });

  it("takes over a lock written before the last boot", async function () {
    if (!hasProc) this.skip();
    const other = sleeper();
    children.push(other);
    await new Promise((r) => other.once("spawn", r));
    await writeLock({ pid: other.pid!, boot: "00000000-0000-0000-0000-000000000000" });
    const lock = await acquireLogLock(logPath);
    assert.equal(lockTakeoverOf(logPath)?.reason, "rebooted");
    await lock.release();
  });

  it("refuses a lock held by a live process of this host with the same start time", async function () {
    if (!hasProc) this.skip();
    const live = sleeper();
    children.push(live);
    await new Promise((r) => live.once("spawn", r));
    await writeLock({ pid: live.pid!, started: await startedOf(live.pid!) });
    await assert.rejects(acquireLogLock(logPath), LogLockedError);
    // The holder's file is untouched.
    assert.equal((await ownerNow()).pid, live.pid);
  });

  it("refuses a lock of a live process written without a start time (an older version's lock)", async () => {
    const live = sleeper();
    children.push(live);
    await new Promise((r) => live.once("spawn", r));
    await writeLock({ pid: live.pid! });
    await assert.rejects(acquireLogLock(logPath), LogLockedError);
  });

  it("takes over a lock of a dead pid and removes the temporary files killed acquisitions left", async () => {
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    await writeLock({ pid: dead });
    await writeFile(`${lockPath}.${dead}.tmp`, "");
    await writeFile(`${lockPath}.${dead}.0b6f3e0e-8d0e-4c39-9d7c-3f5d1c0e2a11.tmp`, "{");
    await writeFile(`${lockPath}.${dead}.0b6f3e0e-8d0e-4c39-9d7c-3f5d1c0e2a12.stale`, "{}");
    const lock = await acquireLogLock(logPath);
    assert.equal(lockTakeoverOf(logPath)?.reason, "dead");
    assert.deepEqual(await readdir(dir.path), ["log.jsonl.lock"]);
    await lock.release();
  });

  it("clears the takeover guard of a process killed during a takeover, then takes over the stale lock", async () => {
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    await writeLock({ pid: dead });
    await writeFile(`${lockPath}.takeover`, JSON.stringify({ pid: dead, host: hostname(), since: "2026-01-01T00:00:00.000Z" }) + "\n");
    const lock = await acquireLogLock(logPath);
    assert.equal((await ownerNow()).pid, process.pid);
    assert.equal(lockTakeoverOf(logPath)?.reason, "dead");
    assert.deepEqual(await readdir(dir.path), ["log.jsonl.lock"]);
    await lock.release();
  });

  it("waits while another process holds the takeover guard, then is refused by the lock it took", async function () {
    if (!hasProc) this.skip();
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    const taker = sleeper();
    children.push(taker);
    await new Promise((r) => taker.once("spawn", r));
    const started = await startedOf(taker.pid!);
    await writeLock({ pid: dead });
    await writeFile(`${lockPath}.takeover`, JSON.stringify({ pid: taker.pid, host: hostname(), since: "x", started }) + "\n");
    // The taker finishes 200 ms later: its lock in place, its guard removed.
    setTimeout(() => {
      void writeLock({ pid: taker.pid!, started }).then(() => import("node:fs/promises").then((f) => f.unlink(`${lockPath}.takeover`)));
    }, 200);
    await assert.rejects(acquireLogLock(logPath), (err: Error) => err instanceof LogLockedError && err.message.includes(`process ${taker.pid} `));
  });

  it("names the lock file when it cannot be used (a folder in its place)", async () => {
    await mkdir(lockPath);
    await assert.rejects(acquireLogLock(logPath), (err: Error) => {
      assert.ok(err instanceof LockFileError, String(err));
      assert.ok(err.message.startsWith(`lock file ${lockPath}: `), err.message);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });

  it("of two acquisitions at once in this process (two appenders opened together), exactly one gets it", async () => {
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    await writeLock({ pid: dead });
    const outcomes = await Promise.allSettled([acquireLogLock(logPath), acquireLogLock(logPath)]);
    const held = outcomes.filter((o) => o.status === "fulfilled");
    assert.equal(held.length, 1, JSON.stringify(outcomes.map((o) => o.status)));
    const refused = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    assert.ok(refused.reason instanceof LogLockedError, String(refused.reason));
    await (held[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLogLock>>>).value.release();
    assert.equal(existsSync(lockPath), false);
  });

  it("of eight processes racing for a stale lock, exactly one gets it", async function () {
    this.timeout(90_000);
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    // Each process waits for the same moment, tries, prints the outcome and stays alive (holding, if it got the lock).
    const script = `
      const { acquireLogLock } = await import(${JSON.stringify(join(repoRoot, "src/store/file/lock.ts"))});
      await new Promise((r) => setTimeout(r, Number(process.argv[1]) - Date.now()));
      try {
        await acquireLogLock(process.argv[2], { corruptGraceMs: 0 });
        console.log("held");
      } catch (err) {
        console.log(err.name);
      }
      setTimeout(() => {}, 60_000);
    `;
    for (let round = 0; round < 3; round++) {
      await writeLock({ pid: dead });
      const go = Date.now() + 4000;
      const procs = Array.from({ length: 8 }, () =>
        spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, String(go), logPath], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] }),
      );
      children.push(...procs);
      const outcomes = await Promise.all(procs.map((p) => new Promise<string>((resolve) => createInterface({ input: p.stdout! }).once("line", resolve))));
      for (const p of procs) p.kill("SIGKILL");
      assert.equal(outcomes.filter((o) => o === "held").length, 1, `round ${round}: ${JSON.stringify(outcomes)}`);
      assert.equal(outcomes.filter((o) => o === "LogLockedError").length, 7, `round ${round}: ${JSON.stringify(outcomes)}`);
    }
  });
});
