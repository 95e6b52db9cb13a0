import { create } from "@bufbuild/protobuf";
import { StreamEventsRequestSchema, type StreamEventsRequest } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { LatencyRecorder, nowMs } from "../stats.js";
import type { DriverResult, LogClient, RunTiming } from "./driver.js";
import { learningEvent, seededRandom } from "./fixtures.js";

/** Options of the client-stream driver. */
export interface ClientStreamOptions extends RunTiming {
  /** Single-event messages per StreamEvents call. Default 5,000. */
  messagesPerStream?: number;
}

/**
 * StreamEvents calls carrying one event per message, one call after
 * another. A call is answered once, when all its events are durable; the ack
 * latency is the time from the half-close to that answer. The measured part
 * is made of whole calls: those started after the warm-up, until the
 * measured time is used up (the last call may run past it; its time counts).
 */
export async function driveClientStream(client: LogClient, options: ClientStreamOptions): Promise<DriverResult> {
  const perStream = options.messagesPerStream ?? 5_000;
  const random = seededRandom(11);
  const messages: StreamEventsRequest[] = Array.from({ length: 256 }, (_, i) =>
    create(StreamEventsRequestSchema, { events: [learningEvent("typed", i, random)] }),
  );
  let closedAt = 0;
  function* stream(): Generator<StreamEventsRequest> {
    for (let i = 0; i < perStream; i++) yield messages[i % messages.length];
    // The client half-closes as soon as the generator is done.
    closedAt = nowMs();
  }
  const oneCall = async (latencies?: LatencyRecorder): Promise<number> => {
    const answer = await client.streamEvents(stream());
    latencies?.add(nowMs() - closedAt);
    return Number(answer.count);
  };
  const warmupEnd = nowMs() + options.warmupS * 1000;
  while (nowMs() < warmupEnd) await oneCall();
  const latencies = new LatencyRecorder();
  options.marks?.start();
  const start = nowMs();
  const end = start + options.measureS * 1000;
  let events = 0;
  while (nowMs() < end) events += await oneCall(latencies);
  const seconds = (nowMs() - start) / 1000;
  options.marks?.end();
  return { events, seconds, eventsPerSecond: events / seconds, latency: latencies.summary() };
}
