/**
 * A server's CPU time per thread, from /proc/<pid>/task/<tid>/stat (utime +
 * stime) with each thread's name from /proc/<pid>/task/<tid>/comm, grouped
 * by what the thread does: the main thread (tid = pid: grpc-js, decoding,
 * encoding, the event loop), worker threads (the server's hash chain
 * worker), libuv's pool (file system calls: the O_DSYNC writes), the V8
 * platform (GC helpers: parallel scavenge, concurrent marking, sweeping; and
 * concurrent compiling), and the rest. Node 20 names no thread: the names
 * come from bench/server-probe.mjs preloaded into the server, or from a Node
 * that names its threads itself.
 */
import { readdirSync, readFileSync } from "node:fs";
import { cpuSecondsOf } from "./cpu.js";

/** What a thread does, as far as its name tells. */
export type ThreadGroup = "main" | "workers" | "libuv" | "v8" | "other";

/** The groups in the order the tables give them. */
export const THREAD_GROUPS: readonly ThreadGroup[] = ["main", "workers", "libuv", "v8", "other"];

/** The groups' names in the tables. */
export const THREAD_GROUP_LABEL: Record<ThreadGroup, string> = {
  main: "main thread",
  workers: "worker threads (hash chain)",
  libuv: "libuv pool (disk writes)",
  v8: "V8 platform (GC helpers, compiler)",
  other: "other (and threads that ended)",
};

/** One thread's CPU time so far. */
export interface ThreadReading {
  tid: number;
  /** Its name (comm), at most 15 characters. */
  name: string;
  cpuS: number;
}

/** The group of thread `tid` of process `pid`, named `name`. */
export function threadGroupOf(pid: number, tid: number, name: string): ThreadGroup {
  if (tid === pid) return "main";
  if (name.startsWith("libuv-worker")) return "libuv";
  if (name.startsWith("V8 ") || name.startsWith("DelayedTaskSch")) return "v8";
  if (name.startsWith("WorkerThread")) return "workers";
  return "other";
}

/** Every thread of `pid` with its CPU time; undefined when the process is gone. A thread that ends while being read is left out. */
export function readThreads(pid: number): ThreadReading[] | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const out: ThreadReading[] = [];
  for (const t of tids) {
    const tid = Number(t);
    const cpuS = cpuSecondsOf(pid, tid);
    let name: string;
    try {
      name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
    } catch {
      continue;
    }
    if (cpuS !== undefined) out.push({ tid, name, cpuS });
  }
  return out;
}

/** How long a thread has run on a CPU and waited for one while runnable, in seconds (/proc/<pid>/task/<tid>/schedstat, nanoseconds). */
export interface SchedReading {
  runS: number;
  waitS: number;
}

/** The scheduler's times of one thread; undefined when it is gone or the kernel keeps none. */
export function readSchedstat(pid: number, tid: number): SchedReading | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").trim().split(" ").map(Number);
    return Number.isFinite(run) && Number.isFinite(wait) ? { runS: run / 1e9, waitS: wait / 1e9 } : undefined;
  } catch {
    return undefined;
  }
}

/** A process's CPU time and its threads', read together, with the main thread's scheduler times. */
export interface ThreadSnapshot {
  processCpuS: number;
  threads: ThreadReading[];
  main?: SchedReading;
}

/** Reads a {@link ThreadSnapshot} of `pid`; undefined when the process is gone. */
export function snapshotThreads(pid: number): ThreadSnapshot | undefined {
  const threads = readThreads(pid);
  const processCpuS = cpuSecondsOf(pid);
  return threads === undefined || processCpuS === undefined ? undefined : { processCpuS, threads, main: readSchedstat(pid, pid) };
}

/**
 * The share of the time the main thread wanted a CPU that it had one between
 * two snapshots: run / (run + wait on the run queue). 1 on an idle machine;
 * on a loaded one a GC pause of t ms of wall time holds about t x this share
 * of CPU (the thread is runnable all through a pause). NaN without schedstat.
 */
export function mainRunShare(from: ThreadSnapshot, to: ThreadSnapshot): number {
  if (from.main === undefined || to.main === undefined) return Number.NaN;
  const run = to.main.runS - from.main.runS;
  const wait = to.main.waitS - from.main.waitS;
  return run + wait > 0 ? run / (run + wait) : Number.NaN;
}

/**
 * CPU seconds each group used between two snapshots of process `pid`. A
 * thread that started in between counts from 0; what the process used
 * beyond its threads' sum (threads that ended in between) counts as "other".
 */
export function groupCpuBetween(pid: number, from: ThreadSnapshot, to: ThreadSnapshot): Record<ThreadGroup, number> {
  const groups: Record<ThreadGroup, number> = { main: 0, workers: 0, libuv: 0, v8: 0, other: 0 };
  const before = new Map(from.threads.map((t) => [t.tid, t.cpuS]));
  let sum = 0;
  for (const t of to.threads) {
    const used = t.cpuS - (before.get(t.tid) ?? 0);
    groups[threadGroupOf(pid, t.tid, t.name)] += used;
    sum += used;
  }
  // Threads gone by the second snapshot took their time with them; the process's counter kept it.
  groups.other += Math.max(0, to.processCpuS - from.processCpuS - sum);
  return groups;
}
