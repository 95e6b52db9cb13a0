import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
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

/**
 * Runs bench/drivers/python_driver.py against `address` and returns what it
 * measured. Its mark lines reach `options.marks` as they come, with the
 * driver's process id (the client whose CPU is read).
 */
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
  const child = spawn(options.python ?? pythonInterpreter(), args, {
    cwd: repoRoot,
    env: { ...process.env, PYTHONPATH: join(repoRoot, "gen", "python") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  let report: PythonReport | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    let message: { mark?: string } & Partial<PythonReport>;
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return;
    }
    if (message.mark === "start") options.marks?.start(child.pid);
    else if (message.mark === "end") options.marks?.end();
    else if (typeof message.events === "number") report = message as PythonReport;
  });
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (report === undefined) {
    const why = signal === "SIGKILL" ? `killed after ${timeoutMs} ms` : `exited with ${signal ?? code}`;
    throw new Error(`python driver ${why}: ${stderr.trim().split("\n").at(-1) ?? ""}`);
  }
  return {
    events: report.events,
    seconds: report.seconds,
    eventsPerSecond: report.events_per_s,
    latency: { count: report.acks, p50Ms: report.p50_ms ?? Number.NaN, p99Ms: report.p99_ms ?? Number.NaN },
  };
}
