import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { driveBidi } from "./drivers/bidi.js";
import { driveClientStream } from "./drivers/client-stream.js";
import type { DriverResult, LogClient, RunTiming } from "./drivers/driver.js";
import { drivePython } from "./drivers/python.js";
import { driveUnary } from "./drivers/unary.js";

/** The three servers of a run. */
export type ServerName = "pulse" | "naive" | "noop";

/** One server's measurement of one scenario. */
export interface Measured {
  result?: DriverResult;
  /** Why the driver failed, when it did. */
  error?: string;
  /** Peak RSS of the server process during the scenario, in bytes. */
  peakRssBytes: number;
}

/** Whether a target was met, and the numbers that say so. */
export interface Verdict {
  met: boolean;
  detail: string;
}

/** A performance target of DESIGN.md, judged on one scenario's measurements. */
export interface Target {
  /** The target as the table prints it. */
  text: string;
  judge(byServer: Partial<Record<ServerName, Measured>>): Verdict;
}

/** One row of the benchmark. */
export interface Scenario {
  id: string;
  /** What is driven, for the table. */
  label: string;
  client: "TypeScript" | "Python";
  /** The servers it runs against, in this order. */
  servers: readonly ServerName[];
  run(address: string, timing: RunTiming): Promise<DriverResult>;
  target?: Target;
}

async function withClient<T>(address: string, fn: (client: LogClient) => Promise<T>): Promise<T> {
  const client = createClient(LearningLogService, address);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

const ALL: readonly ServerName[] = ["pulse", "naive", "noop"];
const rate = (m: Measured | undefined) => m?.result?.eventsPerSecond ?? Number.NaN;
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");

/** events/s >= floor and >= ratio x naive. */
function throughputTarget(floor: number, ratio: number): Target {
  return {
    text: `>= ${fmt(floor)}/s and >= ${ratio}x naive`,
    judge(byServer) {
      const pulse = rate(byServer.pulse);
      const x = pulse / rate(byServer.naive);
      const misses: string[] = [];
      if (!(pulse >= floor)) misses.push(`${fmt(pulse)}/s < ${fmt(floor)}/s`);
      if (!(x >= ratio)) misses.push(`${x.toFixed(1)}x < ${ratio}x naive`);
      return { met: misses.length === 0, detail: misses.join("; ") };
    },
  };
}

/** The unary target: >= 95 % of the no-op server and >= 2.5x naive. */
const unaryTarget: Target = {
  text: ">= 95 % of no-op and >= 2.5x naive",
  judge(byServer) {
    const pulse = rate(byServer.pulse);
    const ofNoop = pulse / rate(byServer.noop);
    const x = pulse / rate(byServer.naive);
    const misses: string[] = [];
    if (!(ofNoop >= 0.95)) misses.push(`${(100 * ofNoop).toFixed(1)} % of no-op`);
    if (!(x >= 2.5)) misses.push(`${x.toFixed(1)}x naive`);
    return { met: misses.length === 0, detail: misses.join("; ") };
  },
};

/** p99 ack latency under a bound. */
export function latencyTarget(p99MsMax: number): Target {
  return {
    text: `p99 ack < ${p99MsMax} ms`,
    judge(byServer) {
      const p99 = byServer.pulse?.result?.latency.p99Ms ?? Number.NaN;
      return { met: p99 < p99MsMax, detail: p99 < p99MsMax ? "" : `p99 ${Number.isFinite(p99) ? p99.toFixed(1) : "n/a"} ms` };
    },
  };
}

/**
 * Batches a streaming client keeps sent and unanswered. 16 covers the
 * pipeline (client encoding, read-ahead, commit, answer) so that neither side
 * waits on the other; the 8-in-flight row shows what a smaller window costs.
 */
export const STREAM_IN_FLIGHT = 16;

/** The scenarios run against all three servers, in order. */
export function mainScenarios(options: { python: boolean }): Scenario[] {
  const scenarios: Scenario[] = [
    {
      id: "unary",
      label: "unary LogVariableWeightChange, 64 in flight",
      client: "TypeScript",
      servers: ALL,
      run: (address, timing) => withClient(address, (c) => driveUnary(c, { ...timing, inFlight: 64 })),
      target: unaryTarget,
    },
    {
      id: "client-stream",
      label: "client stream StreamEvents, 1 event per message",
      client: "TypeScript",
      servers: ALL,
      run: (address, timing) => withClient(address, (c) => driveClientStream(c, timing)),
    },
    {
      id: "bidi-100",
      label: `bidi IngestEvents, batches of 100, ${STREAM_IN_FLIGHT} in flight`,
      client: "TypeScript",
      servers: ALL,
      run: (address, timing) => withClient(address, (c) => driveBidi(c, { batchEvents: 100, timing, inFlight: STREAM_IN_FLIGHT })),
    },
    {
      id: "bidi-1000",
      label: `bidi IngestEvents, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
      client: "TypeScript",
      servers: ALL,
      run: (address, timing) => withClient(address, (c) => driveBidi(c, { batchEvents: 1000, timing, inFlight: STREAM_IN_FLIGHT })),
      target: throughputTarget(300_000, 50),
    },
    {
      id: "bidi-1000-8",
      label: "bidi IngestEvents, batches of 1,000, 8 in flight",
      client: "TypeScript",
      servers: ["pulse"],
      run: (address, timing) => withClient(address, (c) => driveBidi(c, { batchEvents: 1000, timing, inFlight: 8 })),
    },
    {
      id: "bidi-1000-generic",
      label: "bidi IngestEvents, batches of 1,000 LogEvent with Struct data",
      client: "TypeScript",
      servers: ALL,
      run: (address, timing) => withClient(address, (c) => driveBidi(c, { batchEvents: 1000, kind: "generic", timing, inFlight: STREAM_IN_FLIGHT })),
    },
  ];
  if (options.python) {
    scenarios.push({
      id: "python-bidi-1000",
      label: `bidi IngestEvents, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
      client: "Python",
      servers: ALL,
      run: (address, timing) => drivePython(address, { ...timing, batchEvents: 1000, inFlight: STREAM_IN_FLIGHT }),
      target: throughputTarget(250_000, 50),
    });
  }
  return scenarios;
}

/** IngestEvents at a fixed rate (half the measured maximum), real server only: the latency target. */
export function pacedScenario(batchEvents: number, eventsPerS: number): Scenario {
  return {
    id: `paced-${batchEvents}`,
    label: `bidi IngestEvents, batches of ${batchEvents.toLocaleString("en-US")}, paced at ${fmt(eventsPerS)}/s (half of max)`,
    client: "TypeScript",
    servers: ["pulse"],
    run: (address, timing) => withClient(address, (c) => driveBidi(c, { batchEvents, timing, rateEventsPerS: eventsPerS })),
    target: latencyTarget(10),
  };
}
