import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { CpuWindow, cpuSecondsOf, microsPerEvent } from "../../bench/cpu.js";

/** Seconds per clock tick of /proc's CPU times: readings are truncated to whole ticks, utime and stime each. */
const TICK_S = 1 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
/** Two truncations per reading (utime, stime), and a little for what other threads do between two reads. */
const SLACK_S = 3 * TICK_S;

/** CPU seconds of this process so far, all threads, as getrusage counts them (microsecond resolution). */
const ownCpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Keeps this thread busy until it has used `seconds` more CPU time (CPU time, not wall time: the machine may be loaded). */
function burn(seconds: number): void {
  const until = ownCpuS() + seconds;
  let x = 0;
  while (ownCpuS() < until) for (let i = 0; i < 10_000; i++) x += Math.sqrt(i + x);
  if (x === -1) console.log(x);
}

/**
 * A child process whose name (comm, in /proc/<pid>/stat's parentheses) has
 * spaces and parentheses, which burns 0.3 s of CPU on a worker thread, then
 * the given seconds on its main thread, then prints the CPU time it used (all threads) and waits, idle,
 * until its stdin closes.
 */
const CHILD = `
const { writeFileSync } = require("node:fs");
const { Worker } = require("node:worker_threads");
writeFileSync("/proc/self/comm", process.argv[1]);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
let x = 0;
// The worker burns 0.3 s of CPU while the main thread waits for it: most of the child's CPU is not its main thread's.
const worker = new Worker("const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }; const stop = cpu() + 0.3; let x = 0; while (cpu() < stop) for (let i = 0; i < 1e4; i++) x += Math.sqrt(i + x); require('node:worker_threads').parentPort.postMessage(x);", { eval: true });
worker.once("message", () => {
  const stop = cpu() + Number(process.argv[2]);
  while (cpu() < stop) for (let i = 0; i < 1e4; i++) x += Math.sqrt(i + x);
  void worker.terminate().then(() => {
    process.stdout.write(JSON.stringify({ cpuS: cpu(), x }) + "\\n");
    process.stdin.resume();
    process.stdin.on("end", () => process.exit(0));
  });
});
`;

describe("bench/cpu: CPU time from /proc/<pid>/stat", function () {
  this.timeout(120_000);
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
  });

  async function startChild(name: string, burnS: number): Promise<{ child: ChildProcess; reportedCpuS: number }> {
    const child = spawn(process.execPath, ["-e", CHILD, name, String(burnS)], { stdio: ["pipe", "pipe", "inherit"] });
    children.push(child);
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await once(lines, "line")) as [string];
    return { child, reportedCpuS: (JSON.parse(line) as { cpuS: number }).cpuS };
  }

  it("reads this process's CPU time, all threads, as getrusage counts it", () => {
    const usage0 = ownCpuS();
    const proc0 = cpuSecondsOf(process.pid)!;
    burn(0.3);
    const proc1 = cpuSecondsOf(process.pid)!;
    const usage1 = ownCpuS();
    const procDelta = proc1 - proc0;
    // The /proc readings lie inside the getrusage ones; each is truncated to ticks.
    assert.ok(procDelta <= usage1 - usage0 + SLACK_S, `/proc ${procDelta} s over getrusage ${usage1 - usage0} s`);
    assert.ok(procDelta >= 0.3 - SLACK_S, `/proc ${procDelta} s for 0.3 s burnt`);
    // Seconds, not ticks: the total is of the order of getrusage's.
    assert.ok(Math.abs(proc1 - usage1) <= SLACK_S, `/proc ${proc1} s, getrusage ${usage1} s`);
  });

  it("reads another process whose name holds spaces and parentheses, worker threads included", async () => {
    const name = "x) (y z) w(";
    const { child, reportedCpuS } = await startChild(name, 0.1);
    const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
    // The stat line really has the awkward name: the parser must find utime and stime after its last ")".
    assert.ok(stat.startsWith(`${child.pid} (${name}) `), stat);
    const read = cpuSecondsOf(child.pid!)!;
    // 0.3 s on the worker, 0.1 s on the main thread: a reader of the main thread alone would see a third of it.
    assert.ok(reportedCpuS >= 0.4, `child reported ${reportedCpuS} s`);
    assert.ok(read >= reportedCpuS - SLACK_S, `/proc ${read} s, the child counted ${reportedCpuS} s`);
    // Idle after its report: a little more at most (its pipe write, a GC).
    assert.ok(read <= reportedCpuS + 5 * TICK_S, `/proc ${read} s, the child counted ${reportedCpuS} s`);
    child.stdin!.end();
    await once(child, "exit");
    assert.equal(cpuSecondsOf(child.pid!), undefined, "a process that is gone reads as undefined");
  });

  it("orders readings of a process that burns more CPU after one that burns less", async () => {
    const [light, heavy] = await Promise.all([startChild("light", 0.1), startChild("heavy", 0.5)]);
    assert.ok(cpuSecondsOf(heavy.child.pid!)! > cpuSecondsOf(light.child.pid!)!);
    for (const c of [light, heavy]) c.child.stdin!.end();
    await Promise.all([light, heavy].map((c) => once(c.child, "exit")));
  });

  it("CpuWindow gives the CPU used between its marks, and microsPerEvent divides the cores by the rate", () => {
    const window = new CpuWindow(process.pid);
    assert.equal(window.server, undefined, "no reading before start");
    window.start();
    burn(0.2);
    window.end();
    const use = window.server!;
    assert.ok(use.cpuS >= 0.2 - SLACK_S, `${use.cpuS} s`);
    assert.ok(use.wallS > 0);
    assert.equal(use.cores, use.cpuS / use.wallS);
    assert.equal(window.client!.cpuS, use.cpuS, "the client defaults to this process");

    assert.equal(microsPerEvent({ cpuS: 1, wallS: 2, cores: 0.5 }, 100_000), 5);
    assert.equal(microsPerEvent({ cpuS: 3, wallS: 2, cores: 1.5 }, 500_000), 3);
    assert.ok(Number.isNaN(microsPerEvent(undefined, 100_000)));
    assert.ok(Number.isNaN(microsPerEvent({ cpuS: 1, wallS: 1, cores: 1 }, 0)));
    assert.ok(Number.isNaN(microsPerEvent({ cpuS: 1, wallS: 1, cores: 1 }, undefined)));
  });
});
