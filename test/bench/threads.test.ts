import assert from "node:assert/strict";
import { SERVER_PROBE_FLAGS, ServerWindow } from "../../bench/server-window.js";
import { ServerProcess } from "../../bench/servers/spawn.js";
import { groupCpuBetween, mainRunShare, snapshotThreads, threadGroupOf, type ThreadGroup } from "../../bench/threads.js";

describe("bench/threads: a server's CPU by thread group", () => {
  it("groups threads by name, the main thread by its tid", () => {
    assert.equal(threadGroupOf(100, 100, "node"), "main");
    assert.equal(threadGroupOf(100, 100, "libuv-worker"), "main", "the main thread whatever its name");
    assert.equal(threadGroupOf(100, 101, "libuv-worker"), "libuv");
    assert.equal(threadGroupOf(100, 102, "V8 DefaultWorke"), "v8");
    assert.equal(threadGroupOf(100, 103, "DelayedTaskSch"), "v8");
    assert.equal(threadGroupOf(100, 104, "WorkerThread"), "workers");
    assert.equal(threadGroupOf(100, 105, "node"), "other", "an unnamed thread");
  });

  it("counts a thread that started in between from zero, and the time of one that ended as other", () => {
    const from = { processCpuS: 10, threads: [{ tid: 1, name: "node", cpuS: 6 }, { tid: 2, name: "libuv-worker", cpuS: 1 }, { tid: 3, name: "WorkerThread", cpuS: 2 }] };
    // Thread 3 ended (its 2 s stay in the process's counter, plus 0.5 s it used before ending); thread 4 started.
    const to = { processCpuS: 14, threads: [{ tid: 1, name: "node", cpuS: 8 }, { tid: 2, name: "libuv-worker", cpuS: 1.5 }, { tid: 4, name: "V8 DefaultWorke", cpuS: 1 }] };
    const groups = groupCpuBetween(1, from, to);
    assert.deepEqual(groups, { main: 2, libuv: 0.5, v8: 1, workers: 0, other: 0.5 });
  });

  it("gives the main thread's share of its runnable time on a CPU, from its scheduler times", () => {
    const at = (runS: number, waitS: number) => ({ processCpuS: 0, threads: [], main: { runS, waitS } });
    // 1 s run and 3 s waiting for a CPU in between: it ran a quarter of the time it wanted to.
    assert.equal(mainRunShare(at(10, 5), at(11, 8)), 0.25);
    assert.ok(Number.isNaN(mainRunShare({ processCpuS: 0, threads: [] }, at(1, 1))), "no schedstat: no share");
  });

  describe("with bench/server-probe.mjs preloaded into a busy process", function () {
    this.timeout(120_000);
    let server: ServerProcess;

    before(async () => {
      server = await ServerProcess.start({ name: "busy", script: "test/bench/fixtures/busy-process.mjs", args: [], nodeFlags: [...SERVER_PROBE_FLAGS] });
    });
    after(async () => {
      await server?.stop();
    });

    it("names the threads: the main thread, the worker, libuv's pool and the V8 platform each get CPU time, and the main thread's GC pauses count", async () => {
      const window = new ServerWindow(server, { probe: true });
      window.start();
      const first = snapshotThreads(server.pid)!;
      // Until each kind of thread has used a few clock ticks (however loaded the machine is).
      const busy: ThreadGroup[] = ["main", "workers", "libuv"];
      for (;;) {
        const groups = groupCpuBetween(server.pid, first, snapshotThreads(server.pid)!);
        if (busy.every((g) => groups[g] >= 0.05)) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      window.end();
      const result = await window.result();
      const cores = result.threadCores!;
      for (const g of busy) assert.ok(cores[g] > 0, `${g}: ${cores[g]}`);
      const sum = Object.values(cores).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - result.server!.cores) < 0.05 + 0.02 / result.server!.wallS, `groups ${sum} against the process's ${result.server!.cores} cores`);
      assert.ok(result.gcPauseCores! > 0, "the main thread's garbage was collected");
      // The pauses' wall time scaled by the share of its runnable time the main thread ran: main-thread CPU, within a tick or so.
      assert.ok(result.gcPauseCores! <= cores.main + 0.02 / result.server!.wallS + 0.05, `GC pauses ${result.gcPauseCores} cores, main thread ${cores.main}`);
      assert.ok(result.gcPauseWallCores! >= result.gcPauseCores!);
      assert.ok((result.gcPauseMsByKind!.minor ?? 0) > 0, "scavenges");
    });
  });
});
