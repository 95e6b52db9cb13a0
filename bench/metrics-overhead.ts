/**
 * What observability costs the server: CPU per event with Prometheus metrics
 * and per-call log lines on and off, in the same run.
 *
 *   npm run build && node --import tsx bench/metrics-overhead.ts [--measure-s 3] [--warmup-s 1] [--repeats 3] [--source]
 *
 * Server variants (the real server, a fresh one with an empty log per
 * variant and repeat):
 *  - off: no --metrics-addr, --log-level info (the default);
 *  - metrics: --metrics-addr on a loopback port (grpc_server_* and
 *    pulse_events_* counted for every call and event), scraped once at the
 *    end of each run to check the counters moved;
 *  - metrics + call log: the same and --log-level debug (one "call" line per
 *    call on stdout, which the benchmark reads and drops).
 * Loads, each run against every variant: IngestEvents batches of 1,000 of
 * the seed mix and of weight changes, 16 in flight; unary
 * LogVariableWeightChange, 64 in flight (one call, so one log line, per event).
 *
 * Server CPU per event = utime + stime of the server process (all threads,
 * /proc/<pid>/stat) over the driver's measured part / events acknowledged in
 * it. Variants rotate across repeats; each prints min / median / max and the
 * ratio of its median to the "off" median; the 1-minute load average at the
 * start of each run is printed beside it.
 *
 * Runs the build (dist/src/main.js, as `npm start`); --source runs
 * src/main.ts through tsx instead.
 */
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { driveBidi } from "./drivers/bidi.js";
import type { DriverResult, LogClient, RunTiming } from "./drivers/driver.js";
import { driveUnary } from "./drivers/unary.js";
import { minMedianMax, ratioOfMedians, textTable } from "./figures.js";
import { STREAM_IN_FLIGHT } from "./scenarios.js";
import { freeLoopbackPort, runArgs, serverCpuRun, startPulse, type ServerCpuRun } from "./server-cpu-run.js";

const { timing, repeats: REPEATS, build } = runArgs();

interface Variant {
  name: string;
  /** Flags of the server; `metricsPort` is a free loopback port. */
  flags(metricsPort: number): string[];
  metrics: boolean;
}
const variants: Variant[] = [
  { name: "off", flags: () => ["--log-level", "info"], metrics: false },
  { name: "metrics", flags: (port) => ["--log-level", "info", "--metrics-addr", `127.0.0.1:${port}`], metrics: true },
  { name: "metrics + call log", flags: (port) => ["--log-level", "debug", "--metrics-addr", `127.0.0.1:${port}`], metrics: true },
];

const loads: Array<{ name: string; drive: (client: LogClient, timing: RunTiming) => Promise<DriverResult> }> = [
  { name: `IngestEvents seed mix, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`, drive: (c, t) => driveBidi(c, { batchEvents: 1000, kind: "seed", inFlight: STREAM_IN_FLIGHT, timing: t }) },
  { name: `IngestEvents weight changes, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`, drive: (c, t) => driveBidi(c, { batchEvents: 1000, kind: "typed", inFlight: STREAM_IN_FLIGHT, timing: t }) },
  { name: "unary LogVariableWeightChange, 64 in flight", drive: (c, t) => driveUnary(c, { ...t, inFlight: 64 }) },
];

/** The events the server says it wrote, from its metrics page: proof the counters were on. */
async function eventsCounted(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^pulse_events_written_total\{[^}]*\} (\d+)$/gm)) total += Number(m[1]);
  return total;
}

const runs = new Map<string, ServerCpuRun[]>();
const key = (load: string, variant: string) => `${load}\n${variant}`;
console.log(`metrics overhead: node ${process.version}, the real server (${build === "source" ? "src/main.ts through tsx" : "dist/src/main.js"}), ${timing.warmupS} s warm-up + ${timing.measureS} s measured per run, ${REPEATS} repeats`);
for (let r = 0; r < REPEATS; r++) {
  for (let k = 0; k < variants.length; k++) {
    // Variants rotate so none always runs first.
    const variant = variants[(k + r) % variants.length];
    const metricsPort = await freeLoopbackPort();
    const { server, stop } = await startPulse(build, variant.flags(metricsPort));
    const client = createClient(LearningLogService, server.address);
    try {
      for (const load of loads) {
        const run = await serverCpuRun(server.pid, timing, (t) => load.drive(client, t));
        const k = key(load.name, variant.name);
        runs.set(k, [...(runs.get(k) ?? []), run]);
        console.log(`repeat ${r + 1}, ${variant.name}, ${load.name}: ${run.usPerEvent.toFixed(2)} us/event, ${Math.round(run.eventsPerSecond).toLocaleString("en-US")} events/s, load ${run.loadAverage}`);
      }
      if (variant.metrics && !((await eventsCounted(metricsPort)) > 0)) throw new Error(`${variant.name}: the metrics page counted no event written`);
    } finally {
      client.close();
      await stop();
    }
  }
}

for (const load of loads) {
  const off = runs.get(key(load.name, "off"))!.map((x) => x.usPerEvent);
  const table = [["variant", "server CPU us/event min / median / max", "events/s (median)", "load avg at each run", "ratio to off"]];
  for (const v of variants) {
    const xs = runs.get(key(load.name, v.name))!;
    const rates = xs.map((x) => x.eventsPerSecond).sort((a, b) => a - b);
    table.push([v.name, minMedianMax(xs.map((x) => x.usPerEvent)), Math.round(rates[Math.floor(rates.length / 2)]).toLocaleString("en-US"), xs.map((x) => x.loadAverage.toFixed(1)).join(", "), ratioOfMedians(xs.map((x) => x.usPerEvent), off)]);
  }
  console.log(`\n${load.name}`);
  console.log(textTable(table));
}
