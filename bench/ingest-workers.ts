/**
 * The ingest worker pool against the main thread alone: one build of the
 * server started twice (or more), `--ingest-workers 0` and `--ingest-workers N`,
 * measured alternately on warm servers with the load generator in this
 * process (a TypeScript client: IngestEvents, batches of 1,000, 16 in flight).
 *
 *   npm run build && node --import tsx bench/ingest-workers.ts [--workers 0,2] [--rounds 3] \
 *     [--warmup-s 4] [--measure-s 3] [--load seed] [--server dist/src/main.js]
 *
 * Reported per variant, min/median/max over the rounds: the main thread's
 * CPU per event (/proc/<pid>/task/<pid>/stat: what caps one process however
 * many cores it has), the whole process's CPU per event (all threads), the
 * other threads' share, and events/s; then the ratios of the medians against
 * `--ingest-workers 0` and the one-process ceiling each main-thread figure
 * implies (1 / main-thread CPU per event), and what 8 and 16 cores would take
 * from the per-thread costs measured.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { cpuSecondsOf, loadAverage1m } from "./cpu.js";
import { driveBidi } from "./drivers/bidi.js";
import type { WindowMarks } from "./drivers/driver.js";
import type { PayloadKind } from "./drivers/fixtures.js";
import { minMedianMax, textTable } from "./figures.js";
import { PULSE_SERVER_SCRIPT, ServerProcess } from "./servers/spawn.js";

const { values } = parseArgs({
  options: {
    server: { type: "string", default: PULSE_SERVER_SCRIPT },
    workers: { type: "string", default: "0,2" },
    rounds: { type: "string", default: "3" },
    "warmup-s": { type: "string", default: "4" },
    "measure-s": { type: "string", default: "3" },
    load: { type: "string", default: "seed" },
    "batch-events": { type: "string", default: "1000" },
  },
});
const rounds = Number(values.rounds);
const warmupS = Number(values["warmup-s"]);
const measureS = Number(values["measure-s"]);
const batchEvents = Number(values["batch-events"]);
const workerCounts = values.workers.split(",").map(Number);
if (!(rounds >= 1) || !(warmupS >= 0) || !(measureS > 0) || !(batchEvents >= 1) || workerCounts.some((n) => !(Number.isInteger(n) && n >= 0))) throw new Error("bad arguments");
const kind = values.load as PayloadKind;

/** CPU of the whole process and of its main thread between the driver's marks. */
class ThreadWindow implements WindowMarks {
  private from?: { wall: number; all: number; main: number };
  private to?: { wall: number; all: number; main: number };
  constructor(private readonly pid: number) {}
  private read() {
    return { wall: performance.now() / 1000, all: cpuSecondsOf(this.pid)!, main: cpuSecondsOf(this.pid, this.pid)! };
  }
  start(): void {
    this.from = this.read();
  }
  end(): void {
    if (this.from !== undefined && this.to === undefined) this.to = this.read();
  }
  /** Cores used by the whole process and by the main thread over the window. */
  get cores(): { all: number; main: number } {
    if (this.from === undefined || this.to === undefined) throw new Error("the measured part was not marked");
    const wall = this.to.wall - this.from.wall;
    return { all: (this.to.all - this.from.all) / wall, main: (this.to.main - this.from.main) / wall };
  }
}

interface Run {
  mainUs: number;
  processUs: number;
  eventsPerS: number;
  load: number;
}

const servers = await Promise.all(
  workerCounts.map(async (workers) => {
    const dir = await mkdtemp(join(tmpdir(), "pulse-ingest-workers-"));
    const server = await ServerProcess.start({ name: `workers ${workers}`, script: resolve(values.server), args: ["--addr", "127.0.0.1:0", "--log-path", join(dir, "pulse_learning_log.jsonl"), "--ingest-workers", String(workers)] });
    return { workers, dir, server, client: createClient(LearningLogService, server.address) };
  }),
);

async function run(s: (typeof servers)[number], warmup: number, measure: number): Promise<Run> {
  const load = loadAverage1m();
  const window = new ThreadWindow(s.server.pid);
  const result = await driveBidi(s.client, { batchEvents, kind, inFlight: 16, timing: { warmupS: warmup, measureS: measure, marks: window } });
  const { all, main } = window.cores;
  return { mainUs: (main / result.eventsPerSecond) * 1e6, processUs: (all / result.eventsPerSecond) * 1e6, eventsPerS: result.eventsPerSecond, load };
}

const results = new Map<number, Run[]>();
const peakRssMb = new Map<number, number>();
try {
  console.log(`ingest workers ${workerCounts.join(" vs ")}: ${kind} batches of ${batchEvents}, 16 in flight, ${rounds} rounds of ${measureS} s, server ${values.server}, node ${process.version}, load ${loadAverage1m()}`);
  // Warm every server (JIT, heap growth), unmeasured.
  for (const s of servers) await run(s, warmupS, 1);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < servers.length; k++) {
      // The order turns every round so that no variant always runs first.
      const s = servers[(k + r) % servers.length];
      const x = await run(s, 1, measureS);
      results.set(s.workers, [...(results.get(s.workers) ?? []), x]);
      console.log(`round ${r + 1}, --ingest-workers ${s.workers}: main thread ${x.mainUs.toFixed(2)} us/event, process ${x.processUs.toFixed(2)} us/event, ${Math.round(x.eventsPerS).toLocaleString("en-US")} events/s, load ${x.load}`);
    }
  }
  for (const s of servers) {
    // Peak resident memory of each server over the whole run (worker threads hold a heap each).
    const status = await readFile(`/proc/${s.server.pid}/status`, "utf8");
    peakRssMb.set(s.workers, Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024));
  }
} finally {
  for (const s of servers) {
    s.client.close();
    await s.server.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = results.get(workerCounts[0])!;
console.log(`\nload average at the end ${loadAverage1m()}`);
console.log(
  textTable([
    ["--ingest-workers", "main thread us/event", "process us/event", "other threads us/event", "events/s", "main vs first", "process vs first", "one-process ceiling (1/main)", "peak RSS MB"],
    ...workerCounts.map((w) => {
      const xs = results.get(w)!;
      const main = xs.map((x) => x.mainUs);
      const all = xs.map((x) => x.processUs);
      return [
        String(w),
        minMedianMax(main, 2),
        minMedianMax(all, 2),
        median(xs.map((x) => x.processUs - x.mainUs)).toFixed(2),
        minMedianMax(xs.map((x) => x.eventsPerS), 0),
        `${(median(main) / median(base.map((x) => x.mainUs))).toFixed(2)}x`,
        `${(median(all) / median(base.map((x) => x.processUs))).toFixed(2)}x`,
        `${Math.round(1e6 / median(main)).toLocaleString("en-US")}/s`,
        String(peakRssMb.get(w)),
      ];
    }),
  ]),
);
// A host of C cores takes at most 1/main events/s (one thread), and (C - 1) / other when the other
// threads' work (workers, hash chain, libuv, GC helpers) spreads over the remaining cores.
console.log("\nprojected events/s from the per-thread costs: min(1 / main thread, (cores - 1) / other threads):");
console.log(
  textTable([
    ["--ingest-workers", "2 cores", "8 cores", "16 cores"],
    ...workerCounts.map((w) => {
      const xs = results.get(w)!;
      const main = median(xs.map((x) => x.mainUs));
      const all = median(xs.map((x) => x.processUs));
      const at = (cores: number) => Math.round(Math.min(1e6 / main, ((cores - 1) * 1e6) / (all - main))).toLocaleString("en-US");
      return [String(w), at(2), at(8), at(16)];
    }),
  ]),
);
