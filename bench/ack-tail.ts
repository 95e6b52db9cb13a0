/**
 * Where the ack latency's tail at a paced load comes from: `node --import tsx
 * bench/ack-tail.ts [--rate 110000] [--batch 100] [--seconds 8] [--repeats 3]`.
 *
 * Per repeat, on a fresh real server (the build, as `npm start` runs it, with
 * its Prometheus metrics on): one IngestEvents stream of weight changes sent at
 * `rate` events/s in batches of `batch` (open loop), warmed 2 s, then measured
 * for `seconds`. Prints the acks' latency (send to answer, p50 / p90 / p99 /
 * max), where the slow ones (> 10 ms) fell (100 ms windows of sending time),
 * the client's own event-loop delay, and from the server's metrics over the
 * measured part: its durable writes (how many, the share within 5 and 10 ms,
 * the slowest bucket), its GC pauses and its event-loop lag. The 1-minute load
 * average at the start of each repeat is printed: the figures move with it.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { loadAverage1m } from "./cpu.js";
import type { LogClient } from "./drivers/driver.js";
import { prebuiltBatches } from "./drivers/fixtures.js";
import { freeLoopbackPort, startPulse } from "./server-cpu-run.js";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "110000" },
    batch: { type: "string", default: "100" },
    seconds: { type: "string", default: "8" },
    repeats: { type: "string", default: "3" },
  },
});
const rate = Number(values.rate);
const batchEvents = Number(values.batch);
const seconds = Number(values.seconds);
const SLOW_MS = 10;

/**
 * Sends `warmup` then `total` events at `rate` on one stream; each measured
 * batch's [send time from the measured part's start, latency], ms, and the
 * client's event-loop delay over the measured part.
 */
async function paced(client: LogClient, warmup: number, total: number): Promise<{ acks: Array<[number, number]>; loop: IntervalHistogram }> {
  const batches = prebuiltBatches("typed", batchEvents);
  const call = client.ingestEvents();
  const sendTimes: number[] = [];
  const acks: Array<[number, number]> = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const t0 = performance.now();
  const intervalMs = (batchEvents / rate) * 1000;
  const measuredFrom = t0 + (warmup / batchEvents) * intervalMs;
  const reader = (async () => {
    for await (const answer of call.responses) {
      void answer;
      const sent = sendTimes.shift()!;
      if (sent >= measuredFrom) acks.push([sent - measuredFrom, performance.now() - sent]);
    }
  })();
  for (let id = 0n; Number(id) * batchEvents < warmup + total; ) {
    if (Number(id) * batchEvents === warmup) loop.enable();
    const due = t0 + Number(id) * intervalMs;
    if (due > performance.now()) await sleep(due - performance.now());
    const batch = batches[Number(id % BigInt(batches.length))];
    batch.batchId = ++id;
    sendTimes.push(performance.now());
    await call.send(batch);
  }
  call.close();
  await reader;
  loop.disable();
  return { acks, loop };
}

/** Metric samples by name and labels, from a Prometheus text page. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    m.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return m;
}

const fmt = (ms: number) => ms.toFixed(1);
for (let r = 1; r <= Number(values.repeats); r++) {
  const load = loadAverage1m();
  const port = await freeLoopbackPort();
  const { server, stop } = await startPulse("dist", ["--metrics-addr", `127.0.0.1:${port}`]);
  const scrape = async () => samples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  const client = createClient(LearningLogService, server.address);
  try {
    // A stream's first second is slow (see the Analysis of bench/RESULTS.md): warmed on the measured stream itself.
    const first = await paced(client, 0, rate);
    const before = await scrape();
    const { acks, loop } = await paced(client, rate * 2, rate * seconds);
    const after = await scrape();
    const d = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    const firstSorted = first.acks.map(([, l]) => l).sort((a, b) => a - b);
    const sorted = acks.map(([, l]) => l).sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.floor(p * (sorted.length - 1))];
    const windows = new Map<number, number>();
    for (const [t, l] of acks) if (l > SLOW_MS) windows.set(Math.floor(t / 100), (windows.get(Math.floor(t / 100)) ?? 0) + 1);
    const slow = [...windows.values()].reduce((a, n) => a + n, 0);
    const worst = [...windows].sort((a, b) => b[1] - a[1]).slice(0, 5);
    const writes = d("pulse_log_durable_write_seconds_count");
    const bounds = [...after.keys()].filter((k) => k.startsWith("pulse_log_durable_write_seconds_bucket")).map((k) => ({ k, le: Number(/le="([^"]+)"/.exec(k)![1]) }));
    const within = (s: number) => d(bounds.find((b) => b.le === s)!.k) / writes;
    const slowest = bounds.filter((b) => b.le !== Number.POSITIVE_INFINITY && d(b.k) < writes).reduce((a, b) => Math.max(a, b.le), 0);
    const gcCount = ["minor", "major", "incremental", "weakcb"].reduce((a, k) => a + d(`nodejs_gc_duration_seconds_count{kind="${k}"}`), 0);
    const gcSum = ["minor", "major", "incremental", "weakcb"].reduce((a, k) => a + d(`nodejs_gc_duration_seconds_sum{kind="${k}"}`), 0);
    console.log(
      `repeat ${r} (load ${load.toFixed(1)}): a new stream's first second: ack ms p50 ${fmt(firstSorted[Math.floor(firstSorted.length / 2)])} p99 ${fmt(firstSorted[Math.floor(0.99 * (firstSorted.length - 1))])}; then on a second stream, warmed 2 s: ` +
        `${acks.length} batches of ${batchEvents} at ${rate}/s; ack ms p50 ${fmt(q(0.5))} p90 ${fmt(q(0.9))} p99 ${fmt(q(0.99))} max ${fmt(q(1))}; ` +
        `${slow} acks > ${SLOW_MS} ms in ${windows.size} windows of 100 ms (worst: ${worst.map(([w, n]) => `${(w / 10).toFixed(1)} s: ${n}`).join(", ")}); client loop delay p99 ${fmt(loop.percentile(99) / 1e6)} max ${fmt(loop.max / 1e6)} ms\n` +
        `  server: ${writes} durable writes, ${(within(0.005) * 100).toFixed(1)} % within 5 ms, ${(within(0.01) * 100).toFixed(2)} % within 10 ms, slowest <= ${slowest * 1000} ms; ` +
        `${gcCount} GC pauses, ${fmt((gcSum / Math.max(1, gcCount)) * 1000)} ms mean; event-loop lag max since start ${fmt((after.get("nodejs_eventloop_lag_max_seconds") ?? 0) * 1000)} ms (10 ms resolution)`,
    );
  } finally {
    client.close();
    await stop();
  }
}
