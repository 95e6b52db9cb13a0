/**
 * Two builds of the server, one change apart (or one build alone): server CPU
 * per durable event of each, measured alternately on warm servers, with the
 * ratio of the medians.
 *
 *   npm run build && node --import tsx bench/ab.ts \
 *     [--baseline-server OTHER/dist/src/main.js] [--server dist/src/main.js] \
 *     [--rounds 3] [--warmup-s 3] [--measure-s 3] [--loads seed-1000,typed-1000] [--cpu-prof DIR] \
 *     [--node-flags "--max-semi-space-size=32"] [--baseline-node-flags "..."]
 *
 * Loads: IngestEvents batches of 1,000 (16 in flight on one stream) of any
 * payload of drivers/fixtures.ts (`seed-1000`: the seed mix with object rule
 * outcomes; `seed-string-1000`, `seed-run-1000`, `typed-1000`: weight
 * changes, `generic-1000`: flat Struct LogEvents); lone events and small
 * batches, where the per-request cost (HTTP/2 frames, the call's context, the
 * commit turn, the answer) is shared by few events: `unary`
 * (LogVariableWeightChange, 64 in flight) and `batch-1`, `batch-10`,
 * `batch-100` (seed mix).
 *
 * Each build starts once with an empty log and is warmed with every load
 * (unmeasured). Then, per round and load, each build runs once (1 s warm-up,
 * then the measured part), the order swapped every round. Prints per load and
 * build min / median / max of CPU us per event and events/s, the ratio of the
 * medians to the baseline, and each load's CPU per event relative to
 * batches of 100 of the same build (the per-request share) when batch-100 ran.
 * `--cpu-prof DIR` starts the measured server with `node --cpu-prof` and
 * writes its profile there on stop (summarise with bench/profile-summary.ts).
 * `--node-flags` and `--baseline-node-flags` start each build's node with
 * these flags (space-separated): one build under two V8 settings, for one.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { CpuWindow, loadAverage1m, microsPerEvent } from "./cpu.js";
import { driveBidi } from "./drivers/bidi.js";
import type { DriverResult, LogClient, RunTiming } from "./drivers/driver.js";
import { driveUnary } from "./drivers/unary.js";
import { minMedianMax, ratioOfMedians, textTable } from "./figures.js";
import { STREAM_IN_FLIGHT } from "./scenarios.js";
import { PAYLOAD_KINDS } from "./drivers/fixtures.js";
import { PULSE_SERVER_SCRIPT, ServerProcess } from "./servers/spawn.js";

type Load = { label: string; drive: (client: LogClient, timing: RunTiming) => Promise<DriverResult> };
const LOADS: Record<string, Load> = {
  ...Object.fromEntries(
    PAYLOAD_KINDS.map((kind): [string, Load] => [`${kind}-1000`, { label: `IngestEvents, ${kind}, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`, drive: (c, timing) => driveBidi(c, { batchEvents: 1000, kind, inFlight: STREAM_IN_FLIGHT, timing }) }]),
  ),
  unary: { label: "unary LogVariableWeightChange, 64 in flight", drive: (c, timing) => driveUnary(c, { ...timing, inFlight: 64 }) },
  "batch-1": { label: `IngestEvents, seed mix, batches of 1, ${STREAM_IN_FLIGHT} in flight`, drive: (c, timing) => driveBidi(c, { batchEvents: 1, kind: "seed", inFlight: STREAM_IN_FLIGHT, timing }) },
  "batch-10": { label: `IngestEvents, seed mix, batches of 10, ${STREAM_IN_FLIGHT} in flight`, drive: (c, timing) => driveBidi(c, { batchEvents: 10, kind: "seed", inFlight: STREAM_IN_FLIGHT, timing }) },
  "batch-100": { label: `IngestEvents, seed mix, batches of 100, ${STREAM_IN_FLIGHT} in flight`, drive: (c, timing) => driveBidi(c, { batchEvents: 100, kind: "seed", inFlight: STREAM_IN_FLIGHT, timing }) },
};

const { values } = parseArgs({
  options: {
    server: { type: "string", default: PULSE_SERVER_SCRIPT },
    "baseline-server": { type: "string" },
    rounds: { type: "string", default: "3" },
    "warmup-s": { type: "string", default: "3" },
    "measure-s": { type: "string", default: "3" },
    loads: { type: "string", default: "seed-1000,typed-1000" },
    "cpu-prof": { type: "string" },
    "node-flags": { type: "string", default: "" },
    "baseline-node-flags": { type: "string", default: "" },
  },
});
const rounds = Number(values.rounds);
const warmupS = Number(values["warmup-s"]);
const measureS = Number(values["measure-s"]);
if (!(rounds >= 1) || !(warmupS >= 0) || !(measureS > 0)) throw new Error("--rounds, --warmup-s and --measure-s must be positive numbers");
const loads = values.loads.split(",");
for (const l of loads) if (!(l in LOADS)) throw new Error(`--loads: unknown load ${l} (${Object.keys(LOADS).join(", ")})`);

const flagsOf = (text: string): string[] => text.split(" ").filter((f) => f !== "");
const builds = [{ name: "measured", script: resolve(values.server), nodeFlags: [...flagsOf(values["node-flags"]), ...(values["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${resolve(values["cpu-prof"])}`] : [])] }];
if (values["baseline-server"] !== undefined) builds.push({ name: "baseline", script: resolve(values["baseline-server"]), nodeFlags: flagsOf(values["baseline-node-flags"]) });

const started = await Promise.all(
  builds.map(async (b) => {
    const dir = await mkdtemp(join(tmpdir(), "pulse-ab-"));
    const server = await ServerProcess.start({ name: b.name, script: b.script, nodeFlags: b.nodeFlags, args: ["--addr", "127.0.0.1:0", "--log-path", join(dir, "pulse_learning_log.jsonl")] });
    return { ...b, dir, server, client: createClient(LearningLogService, server.address) };
  }),
);
/** One driver run: server CPU per event over its measured part. */
const run = async (s: (typeof started)[number], load: string, warmup: number, measure: number) => {
  const loadAverage = loadAverage1m();
  const cpu = new CpuWindow(s.server.pid);
  const result = await LOADS[load].drive(s.client, { warmupS: warmup, measureS: measure, marks: cpu });
  // A driver can see its window over before the end mark's timer ran (a loaded machine): end it now.
  cpu.end();
  return { usPerEvent: microsPerEvent(cpu.server, result.eventsPerSecond), eventsPerSecond: result.eventsPerSecond, loadAverage, p50: result.latency.p50Ms };
};

const cpu = new Map<string, number[]>();
const rate = new Map<string, number[]>();
const loadAverages: number[] = [loadAverage1m()];
const push = (m: Map<string, number[]>, key: string, v: number) => m.set(key, [...(m.get(key) ?? []), v]);
try {
  console.log(`A/B: ${started.map((s) => `${s.name} = ${s.script}`).join(", ")}; ${rounds} rounds, ${measureS} s measured per run, node ${process.version}, load ${loadAverages[0]}`);
  for (const s of started) for (const load of loads) await run(s, load, warmupS, 1);
  for (let r = 0; r < rounds; r++) {
    loadAverages.push(loadAverage1m());
    for (const load of loads) {
      for (let k = 0; k < started.length; k++) {
        const s = started[(k + r) % started.length];
        const x = await run(s, load, 1, measureS);
        push(cpu, `${load}\n${s.name}`, x.usPerEvent);
        push(rate, `${load}\n${s.name}`, x.eventsPerSecond);
        console.log(`round ${r + 1}, ${load}, ${s.name}: ${x.usPerEvent.toFixed(2)} us/event, ${Math.round(x.eventsPerSecond).toLocaleString("en-US")} events/s, ack p50 ${x.p50?.toFixed(2)} ms, load ${x.loadAverage}`);
      }
    }
  }
} finally {
  for (const s of started) {
    s.client.close();
    await s.server.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
}
loadAverages.push(loadAverage1m());

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const header = ["load", ...started.flatMap((s) => [`${s.name} CPU us/event min / median / max`, `${s.name} events/s (median)`, `${s.name} / batches of 100`])];
if (started.length > 1) header.push("measured / baseline (CPU per event, medians)");
const table = [header];
for (const load of loads) {
  const row = [LOADS[load].label];
  for (const s of started) {
    const xs = cpu.get(`${load}\n${s.name}`)!;
    const per100 = cpu.get(`batch-100\n${s.name}`);
    row.push(minMedianMax(xs), Math.round(median(rate.get(`${load}\n${s.name}`)!)).toLocaleString("en-US"), per100 ? `${(median(xs) / median(per100)).toFixed(1)}x` : "-");
  }
  if (started.length > 1) row.push(ratioOfMedians(cpu.get(`${load}\nmeasured`)!, cpu.get(`${load}\nbaseline`)!, 3));
  table.push(row);
}
console.log(`\n1-minute load average at the start and at each round: ${loadAverages.join(", ")}\n\n${textTable(table)}`);
