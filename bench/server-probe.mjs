/**
 * Preloaded into a server under test (`node --import ./bench/server-probe.mjs
 * dist/src/main.js ...`), it makes two things readable from outside without
 * profiling the server:
 *
 * - Thread names. Node 20 leaves every thread's name "node", so
 *   /proc/<pid>/task/<tid>/comm cannot tell the V8 platform's threads (GC
 *   helpers, concurrent compiling) from libuv's pool or a worker thread. At
 *   load it names them as newer Node does, from the order Node creates them:
 *   the V8 platform's delayed-task thread and its `--v8-pool-size` workers
 *   (default 4) first, then the inspector's signal thread, then libuv's pool
 *   (UV_THREADPOOL_SIZE, default 4); worker threads started later are named
 *   "WorkerThread" when they come online. When the threads are not what that
 *   layout expects it names none and says so on stderr.
 * - The main thread's GC pauses: "gc" performance entries summed, by kind.
 *
 * On SIGUSR2 it writes one line on stderr:
 * `{"probe":{"gcMs":..,"gcCount":..,"byKind":{"minor":..,"major":..,..},"named":true}}`
 * with the totals since the server started (bench/server-window.ts reads it
 * when a driver's measured part begins and ends).
 */
import { readdirSync, readlinkSync, writeFileSync, writeSync } from "node:fs";
import { stat } from "node:fs/promises";
import { constants, PerformanceObserver } from "node:perf_hooks";

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

const pid = process.pid;
const tids = () => readdirSync("/proc/self/task").map(Number).filter((t) => t !== pid).sort((a, b) => a - b);
const name = (tid, text) => {
  try {
    writeFileSync(`/proc/self/task/${tid}/comm`, text);
  } catch {
    /* the thread ended meanwhile */
  }
};
const flagValue = (flag) => {
  for (const arg of process.execArgv) if (arg.startsWith(`${flag}=`)) return Number(arg.slice(flag.length + 1));
  return undefined;
};

let named = false;
let why = "";
function nameThreads(list) {
  const v8Pool = flagValue("--v8-pool-size") || 4;
  const uvPool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const platform = v8Pool + 1;
  let signal;
  if (list.length === platform + 1 + uvPool) signal = 1;
  else if (list.length === platform + uvPool) signal = 0;
  else {
    why = `${list.length} threads beside the main one; expected ${platform} of the V8 platform, 0 or 1 signal thread and ${uvPool} of libuv's pool`;
    return false;
  }
  list.forEach((tid, i) => {
    if (i === 0) name(tid, "DelayedTaskSch");
    else if (i < platform) name(tid, "V8 DefaultWorke");
    else if (i < platform + signal) name(tid, "SignalInspector");
    else name(tid, "libuv-worker");
  });
  return true;
}

// libuv starts its pool on first use: make sure it has, so that its threads are there to name.
let threads = tids();
if (!nameThreads(threads)) {
  await stat("/");
  threads = tids();
  named = nameThreads(threads);
} else named = true;
if (!named) writeSync(2, `${JSON.stringify({ probe: { named: false, why } })}\n`);

// Worker threads: each new thread that appears when a worker comes online is its thread.
let known = new Set(tids());
process.on("worker", (worker) => {
  worker.once("online", () => {
    for (const tid of tids()) if (!known.has(tid)) name(tid, "WorkerThread");
    known = new Set(tids());
  });
});

let gcMs = 0;
let gcCount = 0;
const byKind = {};
const add = (entries) => {
  for (const e of entries) {
    gcMs += e.duration;
    gcCount++;
    const kind = KINDS[e.detail?.kind] ?? "other";
    byKind[kind] = (byKind[kind] ?? 0) + e.duration;
  }
};
const observer = new PerformanceObserver((list) => add(list.getEntries()));
observer.observe({ entryTypes: ["gc"] });

process.on("SIGUSR2", () => {
  // Entries not yet handed to the observer's callback count too.
  add(observer.takeRecords());
  writeSync(2, `${JSON.stringify({ probe: { gcMs, gcCount, byKind, named, thread: readlinkSync("/proc/thread-self") } })}\n`);
});
