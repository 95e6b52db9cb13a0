import { readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { driveBidi } from "./drivers/bidi.js";
import type { LogClient } from "./drivers/driver.js";
import type { PayloadKind } from "./drivers/fixtures.js";
import { readMemory, resetPeakRss } from "./rss.js";
import { STREAM_IN_FLIGHT } from "./scenarios.js";
import type { LatencySummary } from "./stats.js";

/** One sample of the long run. */
export interface LongRunPoint {
  /** Seconds since the start. */
  t: number;
  /** Events acknowledged by then. */
  events: number;
  /** Server RSS then, in bytes. */
  rssBytes: number;
}

/** What the long run measured (up to where it stopped, when it stopped early). */
export interface LongRunResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** Ack latencies of the batches (absent when the run failed). */
  latency?: LatencySummary;
  /** Peak server RSS over the whole run (kernel high-water mark and samples), in bytes. */
  peakRssBytes: number;
  /** Server RSS when the last event was acknowledged, in bytes. */
  finalRssBytes: number;
  /** Server RSS every `sampleMs`. */
  series: LongRunPoint[];
  /** Size of the log's folder at the end (active file and closed segments), in bytes. */
  logBytes: number;
  /** Why the run ended before all events were acknowledged, if it did. */
  stoppedEarly?: string;
}

/** Options of {@link longRun}. */
export interface LongRunOptions {
  totalEvents: number;
  /** Stop sending after this many seconds, whatever was reached. Default no limit. */
  maxSeconds?: number;
  /** Events per IngestEvents message. Default 1,000. */
  batchEvents?: number;
  /** Payload. Default the seed mix. */
  kind?: PayloadKind;
  /** RSS sampling interval. Default 1,000 ms. */
  sampleMs?: number;
  /** Progress lines, every `progressMs` (default 5,000 ms). */
  progress?: (line: string) => void;
  progressMs?: number;
}

/**
 * Ingests `totalEvents` over IngestEvents batches into a fresh real server
 * (its log alone in its folder) while sampling its RSS: the "RSS stays bounded" measurement. A failure
 * (the server dying, say) ends the run with what was measured up to then.
 */
export async function longRun(client: LogClient, serverPid: number, logPath: string, options: LongRunOptions): Promise<LongRunResult> {
  const sampleMs = options.sampleMs ?? 1000;
  resetPeakRss(serverPid);
  const started = performance.now();
  const series: LongRunPoint[] = [];
  let acked = 0;
  let peak = 0;
  const sample = () => {
    const m = readMemory(serverPid);
    if (m === undefined) return;
    peak = Math.max(peak, m.rssBytes, m.peakBytes);
    series.push({ t: (performance.now() - started) / 1000, events: acked, rssBytes: m.rssBytes });
  };
  sample();
  const sampler = setInterval(sample, sampleMs);
  const progress = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    const last = series.at(-1);
    options.progress?.(
      `long run: ${acked.toLocaleString("en-US")} / ${options.totalEvents.toLocaleString("en-US")} events, ` +
        `${Math.round(acked / seconds).toLocaleString("en-US")}/s, server RSS ${last ? (last.rssBytes / 1e6).toFixed(0) : "?"} MB`,
    );
  }, options.progressMs ?? 5000);
  let latency: LatencySummary | undefined;
  let stoppedEarly: string | undefined;
  try {
    const result = await driveBidi(client, {
      batchEvents: options.batchEvents ?? 1000,
      kind: options.kind ?? "seed",
      inFlight: STREAM_IN_FLIGHT,
      totalEvents: options.totalEvents,
      maxSeconds: options.maxSeconds,
      onAck: (n) => {
        acked = n;
      },
    });
    latency = result.latency;
    if (acked < options.totalEvents) stoppedEarly = `time limit of ${options.maxSeconds} s reached`;
  } catch (err) {
    stoppedEarly = `failed: ${(err as Error).message.split("\n")[0]}`;
  } finally {
    clearInterval(sampler);
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  sample();
  return {
    events: acked,
    seconds,
    eventsPerSecond: acked / seconds,
    latency,
    peakRssBytes: peak,
    finalRssBytes: series.at(-1)?.rssBytes ?? Number.NaN,
    series,
    logBytes: await folderBytes(dirname(logPath)),
    stoppedEarly,
  };
}

/** Total size of the regular files in a folder (the log's folder holds only the log), in bytes. */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  try {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isFile()) total += (await stat(join(dir, entry.name))).size;
    }
  } catch {
    return Number.NaN;
  }
  return total;
}
