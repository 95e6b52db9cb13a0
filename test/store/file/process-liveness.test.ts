import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { hostname } from "node:os";
import { currentBoot, livenessOf, ownStartTime, pidExists } from "../../../src/store/file/process-liveness.js";

/** The pid of a process that ran and was reaped. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  return child.pid!;
}

describe("process liveness", () => {
  const host = hostname();

  it("a running process with its own start time and boot is alive", async () => {
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    try {
      await once(child, "spawn");
      assert.equal(pidExists(child.pid!), true);
      assert.deepEqual(await livenessOf({ pid: child.pid!, host, boot: await currentBoot() }, host), { state: "alive" });
    } finally {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  });

  it("a pid that no longer exists is dead", async () => {
    const pid = await deadPid();
    assert.equal(pidExists(pid), false);
    assert.deepEqual(await livenessOf({ pid, host }, host), { state: "dead", reason: "dead" });
  });

  it("a live pid with another start time was reused", async () => {
    const started = await ownStartTime();
    if (started === undefined) return; // no /proc: start times cannot be told apart
    // The parent runs, but started before us: as a ref naming our start time, it is another process.
    assert.deepEqual(await livenessOf({ pid: process.ppid, host, started: started + 1 }, host), { state: "dead", reason: "reused-pid" });
  });

  it("our own pid in a ref is a dead predecessor's (pid reuse in containers)", async () => {
    assert.deepEqual(await livenessOf({ pid: process.pid, host }, host), { state: "dead", reason: "reused-pid" });
  });

  it("a ref from an earlier boot is dead; one from another host counts as alive", async () => {
    if ((await currentBoot()) !== undefined) {
      assert.deepEqual(await livenessOf({ pid: process.ppid, host, boot: "another-boot" }, host), { state: "dead", reason: "rebooted" });
    }
    assert.deepEqual(await livenessOf({ pid: await deadPid(), host: `${host}-elsewhere` }, host), { state: "alive" });
  });
});
