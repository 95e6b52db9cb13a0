import type { IngestEventsRequest } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { LatencyRecorder, nowMs } from "../stats.js";
import { driveBidi } from "./bidi.js";
import { MeasureWindow, type DriverResult, type LogClient, type RunTiming } from "./driver.js";

/**
 * Unary calls that each carry a batch (LogBatch, OTLP Export...), `inFlight`
 * at a time, for a warm-up and then a measured part. `send` makes one call
 * and resolves with the events it wrote; the ack latency is its round trip.
 */
export async function driveBatchCalls(send: () => Promise<number>, options: RunTiming & { inFlight: number }): Promise<DriverResult> {
  const window = new MeasureWindow(options);
  const latencies = new LatencyRecorder();
  const worker = async () => {
    while (!window.over) {
      const t0 = nowMs();
      const events = await send();
      window.ack(events, nowMs() - t0, latencies);
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  return window.result(latencies);
}

/**
 * One IngestEvents stream sending the given batches round-robin, at most
 * `inFlight` unanswered, for a warm-up and then a measured part: driveBidi
 * (bidi.ts) with batches of the caller's making. Rejects when the server
 * refuses any event.
 */
export function driveIngestBatches(client: LogClient, batches: readonly IngestEventsRequest[], options: RunTiming & { inFlight: number }): Promise<DriverResult> {
  return driveBidi(client, { batches, batchEvents: batches[0]?.events.length ?? 0, inFlight: options.inFlight, timing: options });
}
