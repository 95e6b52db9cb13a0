import { setTimeout as sleep } from "node:timers/promises";
import type { IngestEventsRequest } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { LatencyRecorder, nowMs } from "../stats.js";
import { MeasureWindow, type DriverResult, type LogClient, type RunTiming } from "./driver.js";
import { prebuiltBatches, type PayloadKind } from "./fixtures.js";

/** Options of the IngestEvents driver. */
export interface BidiOptions {
  /** Events per IngestEvents message (of the pre-built batches; with `batches`, of each given batch). */
  batchEvents: number;
  /** Payload of the events. Default "typed" (variable weight changes). */
  kind?: PayloadKind;
  /** Batches of the caller's making, sent round-robin (their batch_ids are set here), instead of pre-built ones of `kind`. */
  batches?: readonly IngestEventsRequest[];
  /** Batches sent and not yet answered, at most. Default 8 (the server reads ahead 8). */
  inFlight?: number;
  /** Run for a time: warm-up then measured part. Either this or totalEvents. */
  timing?: RunTiming;
  /** Run until this many events are sent and acknowledged, all of it measured. */
  totalEvents?: number;
  /** With totalEvents: stop sending after this many seconds even if fewer were sent. Default no limit. */
  maxSeconds?: number;
  /**
   * Send at this rate, in events/s, whatever the answers do (open loop), to
   * measure latency under a given load. Default: as fast as acks allow.
   */
  rateEventsPerS?: number;
  /** Called after every answer with the events acknowledged so far. */
  onAck?: (ackedEvents: number) => void;
}

/**
 * One IngestEvents stream from the TypeScript client: pre-built batches
 * (encoded at each send, as a real client does), at most `inFlight` of them
 * unanswered. The ack latency of a batch is the time from its send to its
 * answer (answers come in order).
 */
export async function driveBidi(client: LogClient, options: BidiOptions): Promise<DriverResult> {
  const batches = options.batches ?? prebuiltBatches(options.kind ?? "typed", options.batchEvents);
  const paced = options.rateEventsPerS !== undefined;
  // Open loop when paced: only a generous bound keeps a stalled server from piling up batches.
  const inFlightMax = paced ? 1_000 : (options.inFlight ?? 8);
  const intervalMs = paced ? (options.batchEvents / options.rateEventsPerS!) * 1000 : 0;
  const latencies = new LatencyRecorder();
  const window = options.timing ? new MeasureWindow(options.timing) : undefined;
  const started = nowMs();
  let acked = 0;
  let sent = 0;

  const call = client.ingestEvents();
  const sendTimes: number[] = [];
  let inFlight = 0;
  let wake: (() => void) | undefined;
  let failure: unknown;
  const reader = (async () => {
    for await (const answer of call.responses) {
      const latency = nowMs() - sendTimes.shift()!;
      inFlight--;
      if (answer.errors.length > 0) throw new Error(`batch ${answer.batchId}: ${answer.errors.length} events refused, first: ${answer.errors[0].message}`);
      acked += answer.count;
      if (window) window.ack(answer.count, latency, latencies);
      else latencies.add(latency);
      options.onAck?.(acked);
      wake?.();
    }
  })().catch((err) => {
    failure = err;
    call.cancel();
    wake?.();
  });

  const deadline = started + (options.maxSeconds ?? Number.POSITIVE_INFINITY) * 1000;
  const more = () => failure === undefined && (window ? !window.over : sent < options.totalEvents! && nowMs() < deadline);
  let batchId = 0n;
  while (more()) {
    if (inFlight >= inFlightMax) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    if (paced) {
      const due = started + Number(batchId) * intervalMs;
      if (due > nowMs()) await sleep(due - nowMs());
    }
    const batch = batches[Number(batchId % BigInt(batches.length))];
    batch.batchId = ++batchId;
    sendTimes.push(nowMs());
    inFlight++;
    sent += batch.events.length;
    await call.send(batch);
  }
  call.close();
  await reader;
  if (failure !== undefined) throw failure;
  if (window) return window.result(latencies);
  const seconds = (nowMs() - started) / 1000;
  return { events: acked, seconds, eventsPerSecond: acked / seconds, latency: latencies.summary() };
}
