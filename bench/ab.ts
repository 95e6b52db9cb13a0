/**
 * Two builds of the server, one change apart: server CPU per durable event of
 * each, measured alternately on warm servers, with the ratio of the medians.
 *
 *   npm run build && node --import tsx bench/ab.ts --baseline-server OTHER/dist/src/main.js \
 *     [--server dist/src/main.js] [--rounds 5] [--warmup-s 4] [--measure-s 3] [--loads seed,typed]
 *
 * Both servers start once with an empty log each and are warmed with every
 * load (unmeasured), so JIT and heap growth are behind them. Then, for each
 * round and load, each build runs once (1 s warm-up + the measured part), the
 * order swapped every round so neither always runs first. A load average
 * changing under the run moves both builds alike; what remains is the noise
 * of single runs, which is why the medians of several rounds are compared.
 *
 * Server CPU per event = utime + stime of the server process (all threads,
 * /proc/<pid>/stat) over the driver's measured part / events acknowledged in
 * it. Loads: IngestEvents batches of 1,000, 16 in flight, of any payload of
 * drivers/fixtures.ts: the seed mix with object rule outcomes (`seed`), with
 * string outcomes (`seed-string`), in a run (`seed-run`), weight changes
 * (`typed`), flat Struct LogEvents (`generic`).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { driveBidi } from "./drivers/bidi.js";
import { PAYLOAD_KINDS, type PayloadKind } from "./drivers/fixtures.js";
import { minMedianMax, ratioOfMedians, textTable } from "./figures.js";
import { STREAM_IN_FLIGHT } from "./scenarios.js";
import { serverCpuRun, type ServerCpuRun } from "./server-cpu-run.js";
import { PULSE_SERVER_SCRIPT, ServerProcess } from "./servers/spawn.js";

const { values } = parseArgs({
  options: {
    server: { type: "string", default: PULSE_SERVER_SCRIPT },
    "baseline-server": { type: "string" },
    rounds: { type: "string", default: "5" },
    "warmup-s": { type: "string", default: "4" },
    "measure-s": { type: "string", default: "3" },
    loads: { type: "string", default: "seed,typed" },
  },
});
if (values["baseline-server"] === undefined) throw new Error("--baseline-server PATH (another build's dist/src/main.js) is required");
const rounds = Number(values.rounds);
const warmupS = Number(values["warmup-s"]);
const measureS = Number(values["measure-s"]);
if (!(rounds >= 1) || !(warmupS >= 0) || !(measureS > 0)) throw new Error("--rounds, --warmup-s and --measure-s must be positive numbers");
const loads = values.loads.split(",") as PayloadKind[];
for (const l of loads) if (!PAYLOAD_KINDS.includes(l)) throw new Error(`--loads: unknown load ${l} (${PAYLOAD_KINDS.join(", ")})`);

const builds = [
  { name: "measured", script: resolve(values.server) },
  { name: "baseline", script: resolve(values["baseline-server"]) },
];
const started = await Promise.all(
  builds.map(async (b) => {
    const dir = await mkdtemp(join(tmpdir(), "pulse-ab-"));
    const server = await ServerProcess.start({ name: b.name, script: b.script, args: ["--addr", "127.0.0.1:0", "--log-path", join(dir, "pulse_learning_log.jsonl")] });
    return { ...b, dir, server, client: createClient(LearningLogService, server.address) };
  }),
);
const run = (s: (typeof started)[number], kind: PayloadKind, warmup: number, measure: number): Promise<ServerCpuRun> =>
  serverCpuRun(s.server.pid, { warmupS: warmup, measureS: measure }, (t) => driveBidi(s.client, { batchEvents: 1000, kind, inFlight: STREAM_IN_FLIGHT, timing: t }));

const results = new Map<string, number[]>();
try {
  console.log(`A/B: ${started.map((s) => `${s.name} = ${s.script}`).join(", ")}; ${rounds} rounds, ${measureS} s measured per run, node ${process.version}`);
  for (const s of started) for (const kind of loads) await run(s, kind, warmupS, 1);
  for (let r = 0; r < rounds; r++) {
    for (const kind of loads) {
      for (let k = 0; k < started.length; k++) {
        const s = started[(k + r) % started.length];
        const x = await run(s, kind, 1, measureS);
        const key = `${kind}\n${s.name}`;
        results.set(key, [...(results.get(key) ?? []), x.usPerEvent]);
        console.log(`round ${r + 1}, ${kind}, ${s.name}: ${x.usPerEvent.toFixed(2)} us/event, ${Math.round(x.eventsPerSecond).toLocaleString("en-US")} events/s, load ${x.loadAverage}`);
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
const table = [["load", "measured us/event min / median / max", "baseline us/event min / median / max", "measured / baseline (medians)"]];
for (const kind of loads) {
  const m = results.get(`${kind}\nmeasured`)!;
  const b = results.get(`${kind}\nbaseline`)!;
  table.push([kind, minMedianMax(m), minMedianMax(b), ratioOfMedians(m, b, 3)]);
}
console.log(`\n${textTable(table)}`);
