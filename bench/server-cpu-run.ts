/**
 * One driver run against a server process, with the server's CPU per event
 * over the driver's measured part: what the stand-alone comparison scripts
 * (metrics-overhead.ts, otlp-cpu.ts) repeat for each variant.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CpuWindow, loadAverage1m, microsPerEvent } from "./cpu.js";
import type { DriverResult, RunTiming } from "./drivers/driver.js";
import { PULSE_SERVER_SCRIPT, ServerProcess } from "./servers/spawn.js";

/** What one run measured. */
export interface ServerCpuRun {
  /** Server CPU microseconds per acknowledged event over the measured part. */
  usPerEvent: number;
  eventsPerSecond: number;
  /** Server cores used over the measured part. */
  serverCores: number;
  /** 1-minute load average when the run started. */
  loadAverage: number;
}

/** Runs `drive` once with `timing`, reading the server's CPU (all threads, /proc) when its measured part begins and ends. */
export async function serverCpuRun(serverPid: number, timing: Omit<RunTiming, "marks">, drive: (timing: RunTiming) => Promise<DriverResult>): Promise<ServerCpuRun> {
  const loadAverage = loadAverage1m();
  const cpu = new CpuWindow(serverPid);
  const result = await drive({ ...timing, marks: cpu });
  const server = cpu.server;
  if (server === undefined) throw new Error("the server's CPU could not be read over the measured part");
  return { usPerEvent: microsPerEvent(server, result.eventsPerSecond), eventsPerSecond: result.eventsPerSecond, serverCores: server.cores, loadAverage };
}

/** Where the real server runs from: its build (`npm run build`, as `npm start`) or its sources through tsx. */
export type ServerBuild = "dist" | "source";

/**
 * Starts the real server on a loopback port with a fresh log in a temporary
 * folder, and extra flags; `stop` stops it and removes the folder.
 */
export async function startPulse(build: ServerBuild, flags: readonly string[]): Promise<{ server: ServerProcess; logPath: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "pulse-bench-"));
  const logPath = join(dir, "pulse_learning_log.jsonl");
  try {
    const server = await ServerProcess.start({
      name: "pulse",
      script: build === "dist" ? PULSE_SERVER_SCRIPT : "src/main.ts",
      args: ["--addr", "127.0.0.1:0", "--log-path", logPath, ...flags],
    });
    return {
      server,
      logPath,
      stop: async () => {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A loopback port free now (bound and released), for a listener whose port must be given up front. */
export async function freeLoopbackPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * The command line of the stand-alone server benchmarks: `--measure-s`
 * (default 3), `--warmup-s` (1), `--repeats` (3), `--source` (run
 * src/main.ts through tsx instead of the build).
 */
export function runArgs(argv: string[] = process.argv.slice(2)): { timing: Omit<RunTiming, "marks">; repeats: number; build: ServerBuild } {
  const { values } = parseArgs({
    args: argv,
    options: {
      "measure-s": { type: "string", default: "3" },
      "warmup-s": { type: "string", default: "1" },
      repeats: { type: "string", default: "3" },
      source: { type: "boolean", default: false },
    },
  });
  const timing = { warmupS: Number(values["warmup-s"]), measureS: Number(values["measure-s"]) };
  const repeats = Number(values.repeats);
  if (!(timing.measureS > 0) || !(timing.warmupS >= 0) || !(repeats >= 1)) throw new Error("--measure-s, --warmup-s and --repeats must be positive numbers");
  return { timing, repeats, build: values.source ? "source" : "dist" };
}
