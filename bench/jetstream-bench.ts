/**
 * `node --import tsx bench/jetstream-bench.ts [--measure-s N] [--batch N] [--streams N]`:
 * batched ingest (IngestEvents, 1,000-event batches from the TypeScript
 * client) into the real server over three stores, side by side in one run:
 * the JSONL file (group commit, one O_DSYNC write per commit), JetStream on one nats-server,
 * and JetStream on a three-node cluster with replicas 3 (all on this
 * machine's loopback, so the cluster's three copies share its cores and its
 * disk). Prints a Markdown table; the events/s are durable acks per second.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { startNats, type NatsCluster } from "../test/store/jetstream/nats-servers.js";
import { driveBidi } from "./drivers/bidi.js";
import type { DriverResult } from "./drivers/driver.js";
import { PULSE_SERVER_SCRIPT, ServerProcess } from "./servers/spawn.js";

const { values } = parseArgs({
  options: {
    "warmup-s": { type: "string", default: "2" },
    "measure-s": { type: "string", default: "8" },
    batch: { type: "string", default: "1000" },
    streams: { type: "string", default: "2" },
    results: { type: "string" },
  },
});
const timing = { warmupS: Number(values["warmup-s"]), measureS: Number(values["measure-s"]) };
const batchEvents = Number(values.batch);
const streams = Number(values.streams);
const progress = (line: string) => process.stderr.write(`[jetstream-bench] ${line}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

interface Row {
  store: string;
  result: DriverResult;
}

/** Drives `streams` IngestEvents streams at once against one server; sums their rates. */
async function measure(store: string, storeFlags: string[], dir: string): Promise<Row> {
  const server = await ServerProcess.start({
    name: store,
    script: PULSE_SERVER_SCRIPT,
    args: ["--addr", "127.0.0.1:0", "--log-path", join(dir, "pulse_learning_log.jsonl"), "--log-level", "info", ...storeFlags],
  });
  try {
    const clients = Array.from({ length: streams }, () => createClient(LearningLogService, server.address));
    try {
      const results = await Promise.all(clients.map((c) => driveBidi(c, { batchEvents, timing })));
      const events = results.reduce((s, r) => s + r.events, 0);
      const seconds = Math.max(...results.map((r) => r.seconds));
      const result: DriverResult = { events, seconds, eventsPerSecond: events / seconds, latency: results[0].latency };
      progress(`${store}: ${fmt(result.eventsPerSecond)} events/s, batch ack p99 ${result.latency.p99Ms.toFixed(1)} ms (first stream)`);
      return { store, result };
    } finally {
      for (const c of clients) c.close();
    }
  } finally {
    await server.stop();
  }
}

const root = await mkdtemp(join(tmpdir(), "pulse-jetstream-bench-"));
const clusters: NatsCluster[] = [];
try {
  const rows: Row[] = [];
  rows.push(await measure("file (O_DSYNC writes, 1 disk)", ["--store", "file"], await mkdtemp(join(root, "file-"))));
  const single = await startNats(await mkdtemp(join(root, "nats1-")), 1);
  clusters.push(single);
  rows.push(await measure("JetStream, 1 node", ["--store", single.storeUrl], await mkdtemp(join(root, "js1-"))));
  const cluster = await startNats(await mkdtemp(join(root, "nats3-")), 3);
  clusters.push(cluster);
  rows.push(await measure("JetStream, 3 nodes, replicas 3", ["--store", cluster.storeUrl, "--nats-replicas", "3"], await mkdtemp(join(root, "js3-"))));
  const base = rows[0].result.eventsPerSecond;
  const lines = [
    `IngestEvents, ${streams} streams x ${batchEvents}-event batches, ${timing.measureS} s measured after ${timing.warmupS} s warm-up; client, server and nats-server processes on one machine.`,
    "",
    "| store | events/s | vs file | batch ack p50 ms | p99 ms |",
    "|---|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.store} | ${fmt(r.result.eventsPerSecond)} | ${(r.result.eventsPerSecond / base).toFixed(2)}x | ${r.result.latency.p50Ms.toFixed(1)} | ${r.result.latency.p99Ms.toFixed(1)} |`),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  if (values.results !== undefined) await writeSection(values.results, ["## JetStream store beside the file store", "", "Command: `npm run bench` (its last step, `bench/jetstream-bench.ts`).", "", ...lines]);
} finally {
  for (const c of clusters) await c.stop();
  await rm(root, { recursive: true, force: true });
}

/**
 * Puts the JetStream table into RESULTS.md between its own markers, before
 * the hand-written analysis (bench/run.ts rewrites the rest of the file first).
 */
async function writeSection(path: string, lines: string[]): Promise<void> {
  const start = "<!-- jetstream: written by bench/jetstream-bench.ts -->";
  const end = "<!-- /jetstream -->";
  const analysis = "<!-- analysis: written by hand, kept by bench/run.ts -->";
  let text = await readFile(path, "utf8").catch(() => "");
  const section = `${start}\n${lines.join("\n")}\n${end}\n`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) text = text.slice(0, from) + section + text.slice(to + end.length + 1);
  else if (text.includes(analysis)) text = text.replace(analysis, `${section}\n${analysis}`);
  else text += `\n${section}`;
  await writeFile(path, text);
}
