import { LatencyRecorder, nowMs } from "../stats.js";
import { MeasureWindow, type DriverResult, type LogClient, type RunTiming } from "./driver.js";
import { seededRandom, weightChange } from "./fixtures.js";

/** Options of the unary driver. */
export interface UnaryOptions extends RunTiming {
  /** Calls kept in flight. Default 64. */
  inFlight?: number;
}

/**
 * Unary LogVariableWeightChange calls, `inFlight` at a time; the ack latency
 * is each call's round trip.
 */
export async function driveUnary(client: LogClient, options: UnaryOptions): Promise<DriverResult> {
  const random = seededRandom(7);
  const requests = Array.from({ length: 256 }, (_, i) => weightChange(i, random));
  const window = new MeasureWindow(options);
  const latencies = new LatencyRecorder();
  let next = 0;
  const worker = async () => {
    while (!window.over) {
      const request = requests[next++ % requests.length];
      const t0 = nowMs();
      await client.logVariableWeightChange(request);
      window.ack(1, nowMs() - t0, latencies);
    }
  };
  await Promise.all(Array.from({ length: options.inFlight ?? 64 }, worker));
  return window.result(latencies);
}
