import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { driveBidi } from "./drivers/bidi.js";
import { driveClientStream } from "./drivers/client-stream.js";
import type { DriverResult, LogClient, RunTiming } from "./drivers/driver.js";
import type { PayloadKind } from "./drivers/fixtures.js";
import { drivePython } from "./drivers/python.js";
import type { CpuUse } from "./cpu.js";
import type { ThreadGroup } from "./threads.js";
import { driveUnary } from "./drivers/unary.js";

/** The three servers of a run. */
export type ServerName = "pulse" | "naive" | "noop";

/** One server's measurement of one scenario, once. */
export interface Measured {
  result?: DriverResult;
  /** Why the driver failed, when it did. */
  error?: string;
  /** Peak RSS of the server process during the scenario, in bytes. */
  peakRssBytes: number;
  /** The server's CPU over the measured part (all its threads), when both marks came. */
  serverCpu?: CpuUse;
  /** The client's CPU over the measured part (this process, or the Python driver). */
  clientCpu?: CpuUse;
  /** Server CPU microseconds per durable event: server cores used / events per second. */
  usPerEvent: number;
  /** Cores each of the server's thread groups kept busy over the measured part (bench/threads.ts); key scenarios only. */
  threadCores?: Record<ThreadGroup, number>;
  /** The main thread's GC pauses over the measured part, as cores (bench/server-probe.mjs); key scenarios only. */
  gcPauseCores?: number;
  /** 1-minute load average when the run started. */
  loadAverage: number;
}

/** Whether a target was met, and the numbers that say so. */
export interface Verdict {
  met: boolean;
  detail: string;
}

/** A performance target of DESIGN.md, judged on one scenario's measurements (medians of the repeats). */
export interface Target {
  /** The target as the table prints it. */
  text: string;
  judge(byServer: Partial<Record<ServerName, Measured[]>>): Verdict;
}

/** Which payload a scenario sends, when it is one the CPU tables compare. */
export type Payload = "seed" | "seed-string" | "seed-run" | "weight" | "generic";

/** One row of the benchmark. */
export interface Scenario {
  /** Name for `--scenario` and the tables. */
  id: string;
  /** What is driven, for the table. */
  label: string;
  client: "TypeScript" | "Python";
  /** The servers it runs against, in this order. */
  servers: readonly ServerName[];
  run(address: string, timing: RunTiming): Promise<DriverResult>;
  target?: Target;
  /**
   * A key scenario: run on one real server of its own, warmed first and kept
   * through the rounds, `repeats` times (min / median / max), with per-thread
   * CPU and GC pauses; the baselines once.
   */
  key?: boolean;
  /** The payload, for the CPU-per-event table and its ratios. */
  payload?: Payload;
  /**
   * Run unmeasured against a fresh real server before its measured run. A
   * paced scenario needs it: a fresh server runs behind for its first second
   * or so at half its maximum rate (ack p50 90-200 ms there, bench/ack-tail.ts),
   * and an open-loop sender's backlog from then would spill into the
   * measured part.
   */
  warmUp?(address: string): Promise<void>;
}

async function withClient<T>(address: string, fn: (client: LogClient) => Promise<T>): Promise<T> {
  const client = createClient(LearningLogService, address);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** The median of the finite values (NaN when there is none). */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Min, median and max of the finite values (NaN each when there is none). */
export function spread(values: readonly number[]): { min: number; median: number; max: number } {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length === 0 ? { min: Number.NaN, median: Number.NaN, max: Number.NaN } : { min: Math.min(...v), median: median(v), max: Math.max(...v) };
}

/** Median events/s of a server's runs. */
export const rateOf = (runs: readonly Measured[] | undefined): number => median((runs ?? []).map((m) => m.result?.eventsPerSecond ?? Number.NaN));
/** Median server CPU microseconds per event of a server's runs. */
export const usOf = (runs: readonly Measured[] | undefined): number => median((runs ?? []).map((m) => m.usPerEvent));

const ALL: readonly ServerName[] = ["pulse", "naive", "noop"];
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");

/** events/s >= floor and >= ratio x naive. Medians of the repeats. (The CPU targets are judged against Redis in the report's CPU tables.) */
function throughputTarget(floor: number, ratio: number): Target {
  return {
    text: `>= ${fmt(floor)}/s and >= ${ratio}x naive`,
    judge(byServer) {
      const pulse = rateOf(byServer.pulse);
      const x = pulse / rateOf(byServer.naive);
      const misses: string[] = [];
      if (!(pulse >= floor)) misses.push(`${fmt(pulse)}/s < ${fmt(floor)}/s`);
      if (!(x >= ratio)) misses.push(`${x.toFixed(1)}x < ${ratio}x naive`);
      return { met: misses.length === 0, detail: misses.join("; ") };
    },
  };
}

/** The unary target: >= 95 % of the no-op server's unary rate. */
const unaryTarget: Target = {
  text: ">= 95 % of no-op",
  judge(byServer) {
    const ofNoop = rateOf(byServer.pulse) / rateOf(byServer.noop);
    return { met: ofNoop >= 0.95, detail: ofNoop >= 0.95 ? "" : `${(100 * ofNoop).toFixed(1)} % of no-op` };
  },
};

/** p99 ack latency under a bound. */
export function latencyTarget(p99MsMax: number): Target {
  return {
    text: `p99 ack < ${p99MsMax} ms`,
    judge(byServer) {
      const p99 = median((byServer.pulse ?? []).map((m) => m.result?.latency.p99Ms ?? Number.NaN));
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

/** DESIGN.md's CPU targets per durable event, as the most of Redis's CPU per XADD in the same run. */
export const REDIS_RATIO_MAX: Partial<Record<Payload, number>> = { seed: 1, weight: 0.5 };

/** DESIGN.md: main-thread CPU per seed-mix event, in microseconds (what caps one process on any number of cores). */
export const MAIN_US_PER_EVENT_MAX = 1.5;

/** DESIGN.md: GC's share of the server's CPU on the seed mix, at most. */
export const GC_SHARE_MAX = 0.1;

/** The payloads' names in the tables. */
export const PAYLOAD_LABEL: Record<Payload, string> = {
  seed: "seed mix as Pulse sends it (1/3 weight changes, 1/3 rule activations with object outcomes {delta, applied}, 1/3 LogEvents with nested Struct data and a run in context)",
  "seed-string": "seed mix with string rule outcomes (the friendlier shape)",
  "seed-run": "seed mix, every event in a run",
  weight: "variable weight changes",
  generic: "LogEvents with flat Struct data",
};

/** The scenarios run against all three servers, in order. */
export function mainScenarios(options: { python: boolean }): Scenario[] {
  const bidi = (batchEvents: number, kind: PayloadKind, inFlight = STREAM_IN_FLIGHT) => (address: string, timing: RunTiming) =>
    withClient(address, (c) => driveBidi(c, { batchEvents, kind, timing, inFlight }));
  const scenarios: Scenario[] = [
    {
      id: "seed-1000",
      label: `bidi IngestEvents, seed mix (object rule outcomes), batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
      client: "TypeScript",
      servers: ALL,
      run: bidi(1000, "seed"),
      target: throughputTarget(150_000, 50),
      key: true,
      payload: "seed",
    },
    {
      id: "seed-string-1000",
      label: `bidi IngestEvents, seed mix with string rule outcomes, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
      client: "TypeScript",
      servers: ["pulse"],
      run: bidi(1000, "seed-string"),
      key: true,
      payload: "seed-string",
    },
    {
      id: "seed-run-1000",
      label: `bidi IngestEvents, seed mix with every event in a run, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
      client: "TypeScript",
      servers: ["pulse"],
      run: bidi(1000, "seed-run"),
      key: true,
      payload: "seed-run",
    },
    {
      id: "bidi-1000",
      label: `bidi IngestEvents, weight changes, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
      client: "TypeScript",
      servers: ALL,
      run: bidi(1000, "typed"),
      target: throughputTarget(500_000, 50),
      key: true,
      payload: "weight",
    },
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
      label: `bidi IngestEvents, weight changes, batches of 100, ${STREAM_IN_FLIGHT} in flight`,
      client: "TypeScript",
      servers: ALL,
      run: bidi(100, "typed"),
    },
    {
      id: "bidi-1000-8",
      label: "bidi IngestEvents, weight changes, batches of 1,000, 8 in flight",
      client: "TypeScript",
      servers: ["pulse"],
      run: bidi(1000, "typed", 8),
    },
    {
      id: "generic-1000",
      label: `bidi IngestEvents, LogEvents with flat Struct data, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
      client: "TypeScript",
      servers: ALL,
      run: bidi(1000, "generic"),
      key: true,
      payload: "generic",
    },
  ];
  if (options.python) {
    scenarios.push(
      {
        id: "python-seed-1000",
        label: `bidi IngestEvents, seed mix (object rule outcomes), batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
        client: "Python",
        servers: ALL,
        run: (address, timing) => drivePython(address, { ...timing, batchEvents: 1000, inFlight: STREAM_IN_FLIGHT, kind: "seed" }),
        payload: "seed",
      },
      {
        id: "python-bidi-1000",
        label: `bidi IngestEvents, weight changes, batches of 1,000, ${STREAM_IN_FLIGHT} in flight`,
        client: "Python",
        servers: ALL,
        run: (address, timing) => drivePython(address, { ...timing, batchEvents: 1000, inFlight: STREAM_IN_FLIGHT, kind: "typed" }),
        target: throughputTarget(250_000, 50),
        payload: "weight",
      },
    );
  }
  return scenarios;
}

/** Seconds a paced scenario's fresh server is driven unmeasured, unpaced, before its run. */
const PACED_WARMUP_S = 3;

/** The unpaced scenario whose maximum a paced one runs at half of. */
export const PACED_FROM: Record<string, string> = { "paced-100": "bidi-100", "paced-1000": "bidi-1000" };

/**
 * IngestEvents of weight changes at a fixed rate (half the measured maximum), real server only:
 * the latency target for batches of 100, reported for batches of 1,000.
 */
export function pacedScenario(batchEvents: number, eventsPerS: number): Scenario {
  return {
    id: `paced-${batchEvents}`,
    label: `bidi IngestEvents, weight changes, batches of ${batchEvents.toLocaleString("en-US")}, paced at ${fmt(eventsPerS)}/s (half of max)`,
    client: "TypeScript",
    servers: ["pulse"],
    run: (address, timing) => withClient(address, (c) => driveBidi(c, { batchEvents, timing, rateEventsPerS: eventsPerS })),
    // As fast as acks allow (closed loop: no backlog), with the same batches.
    warmUp: async (address) => void (await withClient(address, (c) => driveBidi(c, { batchEvents, timing: { warmupS: 0, measureS: PACED_WARMUP_S } }))),
    target: batchEvents <= 100 ? latencyTarget(10) : undefined,
  };
}
