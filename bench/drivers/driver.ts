import type { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import type { Client } from "../../src/rpc/client.js";
import { nowMs, type LatencyRecorder, type LatencySummary } from "../stats.js";

/** The typed client of the learning log service. */
export type LogClient = Client<typeof LearningLogService.method>;

/**
 * Called when a driver's measured part begins and ends: the benchmark reads
 * the server's CPU time then (bench/cpu.ts `CpuWindow`).
 */
export interface WindowMarks {
  /** The measured part begins; `clientPid` is the process generating the load when it is not this one. */
  start(clientPid?: number): void;
  /** The measured part ends. */
  end(): void;
}

/** How long a driver runs: a warm-up that is not counted, then the measured part. */
export interface RunTiming {
  /** Seconds of warm-up (JIT, connection, page cache), not counted. */
  warmupS: number;
  /** Seconds measured. */
  measureS: number;
  /** Told when the measured part begins and ends. Default: nobody. */
  marks?: WindowMarks;
}

/** What a driver measured. */
export interface DriverResult {
  /** Events acknowledged inside the measured part. */
  events: number;
  /** Length of the measured part, in seconds. */
  seconds: number;
  /** events / seconds. */
  eventsPerSecond: number;
  /** Ack latencies of the calls or batches acknowledged inside the measured part. */
  latency: LatencySummary;
}

/**
 * The clock of one driver run: only work between measureStart and
 * measureEnd counts; no new work is sent after measureEnd.
 *
 * An ack of n events is spread evenly over the time its work took: from the
 * later of its send and the previous ack, to itself (a server works through
 * one stream's batches in order). Only the share inside the measured part
 * counts, so a slow server answering a few big batches is not rounded to
 * whole batches.
 */
export class MeasureWindow {
  readonly startMs = nowMs();
  readonly measureStartMs: number;
  readonly measureEndMs: number;
  private events = 0;
  private lastAckMs = this.startMs;

  constructor(timing: RunTiming) {
    this.measureStartMs = this.startMs + timing.warmupS * 1000;
    this.measureEndMs = this.measureStartMs + timing.measureS * 1000;
    const marks = timing.marks;
    if (marks !== undefined) {
      // Timers, not the send loop: the marks must come on time even while the driver waits for acks.
      setTimeout(() => marks.start(), this.measureStartMs - this.startMs).unref();
      setTimeout(() => marks.end(), this.measureEndMs - this.startMs).unref();
    }
  }

  /** True once no new work should be sent. */
  get over(): boolean {
    return nowMs() >= this.measureEndMs;
  }

  /** Records an ack of `events` events that took `latencyMs` since their send. */
  ack(events: number, latencyMs: number, latencies: LatencyRecorder): void {
    const t = nowMs();
    const from = Math.max(t - latencyMs, this.lastAckMs);
    this.lastAckMs = t;
    const inside = Math.min(t, this.measureEndMs) - Math.max(from, this.measureStartMs);
    if (t > from) this.events += (events * Math.max(0, inside)) / (t - from);
    else if (t >= this.measureStartMs && t <= this.measureEndMs) this.events += events;
    if (t >= this.measureStartMs && t <= this.measureEndMs) latencies.add(latencyMs);
  }

  /** The result over the measured part. */
  result(latencies: LatencyRecorder): DriverResult {
    const seconds = (this.measureEndMs - this.measureStartMs) / 1000;
    return { events: Math.round(this.events), seconds, eventsPerSecond: this.events / seconds, latency: latencies.summary() };
  }
}
