import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../servers/spawn.js";
import type { DriverResult, RunTiming } from "./driver.js";
import type { PayloadKind } from "./fixtures.js";

const run = promisify(execFile);

/** Options of the Python driver. */
export interface PythonOptions extends RunTiming {
  /** Events per IngestEvents message. Default 1,000. */
  batchEvents?: number;
  /** Batches unanswered at most. Default 8. */
  inFlight?: number;
  /** Payload. Default "typed". */
  kind?: PayloadKind;
  /** The interpreter that has grpcio. Default $PYTHON, else /usr/bin/python3 (Debian's, which sees python3-grpcio). */
  python?: string;
}

/** The interpreter the benchmark runs Python with. */
export const pythonInterpreter = (): string => process.env.PYTHON ?? "/usr/bin/python3";

/** Checks that the interpreter can import grpc; returns why not, or undefined when it can. */
export async function pythonProblem(python = pythonInterpreter()): Promise<string | undefined> {
  try {
    await run(python, ["-c", "import grpc, google.protobuf"], { timeout: 30_000 });
    return undefined;
  } catch (err) {
    return `${python} cannot import grpc and protobuf (${(err as Error).message.split("\n")[0]})`;
  }
}

interface PythonReport {
  events: number;
  seconds: number;
  events_per_s: number;
  acks: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

/** Runs bench/drivers/python_driver.py against `address` and returns what it measured. */
export async function drivePython(address: string, options: PythonOptions): Promise<DriverResult> {
  const args = [
    join(repoRoot, "bench", "drivers", "python_driver.py"),
    "--addr", address,
    "--batch-events", String(options.batchEvents ?? 1000),
    "--in-flight", String(options.inFlight ?? 8),
    "--warmup-s", String(options.warmupS),
    "--measure-s", String(options.measureS),
    "--kind", options.kind ?? "typed",
  ];
  const timeoutMs = (options.warmupS + options.measureS) * 1000 + 120_000;
  const { stdout } = await run(options.python ?? pythonInterpreter(), args, {
    cwd: repoRoot,
    env: { ...process.env, PYTHONPATH: join(repoRoot, "gen", "python") },
    timeout: timeoutMs,
    maxBuffer: 1024 * 1024,
  });
  const report = JSON.parse(stdout.trim().split("\n").pop()!) as PythonReport;
  return {
    events: report.events,
    seconds: report.seconds,
    eventsPerSecond: report.events_per_s,
    latency: { count: report.acks, p50Ms: report.p50_ms ?? Number.NaN, p99Ms: report.p99_ms ?? Number.NaN },
  };
}
