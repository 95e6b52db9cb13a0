/**
 * `node --import tsx bench/jetstream-bench.ts [--measure-s N] [--warmup-s N] [--repeats N] [--kind seed|typed|generic] [--streams N] [--in-flight N] [--batch N] [--rows file,r1,r1x2,r3,r3x2] [--rate N] [--server SCRIPT] [--baseline-server SCRIPT --baseline-name NAME] [--cpu-prof-dir DIR] [--threads] [--results FILE]`:
 * batched ingest (IngestEvents from the TypeScript client) into the real
 * server over the file store and JetStream, side by side in one run:
 *
 * - the JSONL file (group commit, one O_DSYNC write per commit);
 * - JetStream on one nats-server (replicas 1), through one front end and through two;
 * - JetStream on a three-node cluster with replicas 3, through one front end and through two.
 *
 * Everything runs on this machine's loopback: the client, every front end
 * and every nats-server share its cores and its disk. The load is the same
 * for every row (`--streams` IngestEvents streams of `--batch`-event batches,
 * `--in-flight` unanswered batches each), split evenly over the front ends.
 * Each row is measured `--repeats` times, the rows in turn (a round is one
 * of each, in a rotated order), each on a fresh stream (or log file).
 *
 * It leads with CPU per durable event: utime + stime from /proc/<pid>/stat of
 * the front ends (Pulse servers) and of the nats-servers, over the measured
 * part, divided by the events acknowledged in it; then the ratio to the file
 * store of the same round, and the events/s. Prints a Markdown section (and
 * writes it into RESULTS.md with --results).
 *
 * `--rows` picks rows (default all five). `--server SCRIPT` runs another
 * build of the front end than dist/src/main.js (e.g. another checkout's
 * dist/src/main.js); `--baseline-server SCRIPT` adds, for each JetStream row,
 * a twin row whose front ends run that build, measured in the same rounds
 * (the order rotates, so the two alternate), and a column with the ratio of
 * front-end CPU per event to the twin's, round by round. `--rate N` paces
 * each stream at N events/s (open loop) instead of sending as fast as acks
 * come back: builds that differ in throughput are then compared at the same
 * rate, so what a front end spends per second whatever it does (timers,
 * polls) weighs the same in both. `--cpu-prof-dir DIR` runs every front end
 * with `node --cpu-prof`, its profile written into DIR/<row>-<round>/ when it
 * stops (read them with bench/profile-summary.ts, `--skip-ms` past the warm-up);
 * `--threads` prints each front end's CPU per event thread by thread. The
 * table gives the front ends' main threads apart (what caps one front end)
 * and, against a baseline, the ratio of the two builds' medians beside the
 * round-by-round ratios.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { startNats, type NatsCluster } from "../test/store/jetstream/nats-servers.js";
import { cpuSecondsOf, loadAverage1m } from "./cpu.js";
import { driveBidi } from "./drivers/bidi.js";
import type { DriverResult, WindowMarks } from "./drivers/driver.js";
import type { PayloadKind } from "./drivers/fixtures.js";
import { PULSE_SERVER_SCRIPT, ServerProcess } from "./servers/spawn.js";

const { values } = parseArgs({
  options: {
    "warmup-s": { type: "string", default: "2" },
    "measure-s": { type: "string", default: "8" },
    repeats: { type: "string", default: "3" },
    kind: { type: "string", default: "seed" },
    batch: { type: "string", default: "1000" },
    streams: { type: "string", default: "2" },
    "in-flight": { type: "string", default: "8" },
    rows: { type: "string", default: "file,r1,r1x2,r3,r3x2" },
    rate: { type: "string" },
    server: { type: "string", default: PULSE_SERVER_SCRIPT },
    "baseline-server": { type: "string" },
    "baseline-name": { type: "string", default: "baseline build" },
    "cpu-prof-dir": { type: "string" },
    threads: { type: "boolean", default: false },
    results: { type: "string" },
  },
});
const cpuProfDir = values["cpu-prof-dir"];
const showThreads = values.threads;
const ratePerStream = values.rate === undefined ? undefined : Number(values.rate);
const rowKeys = values.rows.split(",").map((r) => r.trim());
const baselineScript = values["baseline-server"];
const timing = { warmupS: Number(values["warmup-s"]), measureS: Number(values["measure-s"]) };
const repeats = Number(values.repeats);
const kind = values.kind as PayloadKind;
const batchEvents = Number(values.batch);
const streams = Number(values.streams);
const inFlight = Number(values["in-flight"]);
if (!["seed", "typed", "generic"].includes(kind)) throw new Error(`--kind must be seed, typed or generic; got ${kind}`);
const progress = (line: string) => process.stderr.write(`[jetstream-bench] ${line}\n`);
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
const fix = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

/** One row of the table: a store and how many front ends write to it. */
interface Setup {
  label: string;
  /** Flags of each front end (its --log-path is added). */
  flags: () => string[];
  frontEnds: 1 | 2;
  /** The nats-servers it writes to (none for the file). */
  nats?: () => NatsCluster;
  replicas?: number;
  /** The front end's script. Default: --server. */
  script?: string;
  /** For a baseline twin: the index of the row it is the twin of. */
  twinOf?: number;
}

/** What one measurement of one setup found. */
interface Measured {
  result: DriverResult;
  /** CPU µs per event of the front ends together, of the nats-servers together. */
  frontEndUs: number;
  natsUs: number;
  /** CPU µs per event of the front ends' main threads (what caps one front end). */
  frontEndMainUs: number;
  /** Cores the front ends and the nats-servers kept busy. */
  frontEndCores: number;
  natsCores: number;
  loadAverage: number;
}

/** Reads the CPU time of several processes (and of the main threads of some) when the measured part begins and ends. */
class CpuMarks implements WindowMarks {
  private startAt = 0;
  private endAt = 0;
  private readonly started = new Map<string, number>();
  private readonly used = new Map<string, number>();
  constructor(
    private readonly pids: readonly number[],
    /** Processes whose main thread is read too (its thread id is the process id). */
    private readonly mainThreadPids: readonly number[] = [],
  ) {}
  private read(): Map<string, number> {
    const now = new Map<string, number>();
    for (const pid of this.pids) now.set(`${pid}`, cpuSecondsOf(pid) ?? Number.NaN);
    for (const pid of this.mainThreadPids) now.set(`${pid}/main`, cpuSecondsOf(pid, pid) ?? Number.NaN);
    if (showThreads) for (const pid of this.mainThreadPids) for (const [name, s] of threadsByName(pid)) now.set(`${pid}:${name}`, s);
    return now;
  }
  start(): void {
    this.startAt = performance.now();
    for (const [k, v] of this.read()) this.started.set(k, v);
  }
  end(): void {
    if (this.startAt === 0 || this.endAt !== 0) return;
    this.endAt = performance.now();
    for (const [k, v] of this.read()) this.used.set(k, v - (this.started.get(k) ?? 0));
  }
  /** Cores the given processes kept busy over the part (CPU seconds / wall seconds). */
  cores(pids: readonly number[]): number {
    const wallS = (this.endAt - this.startAt) / 1000;
    return pids.reduce((sum, pid) => sum + (this.used.get(`${pid}`) ?? Number.NaN), 0) / wallS;
  }
  /** Cores the main threads of the given processes kept busy over the part. */
  mainThreadCores(pids: readonly number[]): number {
    const wallS = (this.endAt - this.startAt) / 1000;
    return pids.reduce((sum, pid) => sum + (this.used.get(`${pid}/main`) ?? Number.NaN), 0) / wallS;
  }
  /** CPU seconds of the given process's threads over the part, by thread (with --threads). */
  threads(pid: number): Array<[string, number]> {
    return [...this.used].filter(([k]) => k.startsWith(`${pid}:`)).map(([k, v]) => [k.slice(`${pid}:`.length), v]);
  }
}

/**
 * CPU seconds of a process's threads so far, each named "main" or by its
 * name (/proc/<pid>/task/<tid>/comm) and its id's distance from the process
 * id (Node names most threads "node": the distance tells them apart, in the
 * order they started: V8's platform threads first, libuv's pool later).
 */
function threadsByName(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const name = Number(tid) === pid ? "main" : `${readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()}+${Number(tid) - pid}`;
      out.set(name, (out.get(name) ?? 0) + (cpuSecondsOf(pid, Number(tid)) ?? 0));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

let streamNo = 0;

/** Starts the setup's front ends on a fresh stream (or log), drives the load through them, and reads their CPU and the nats-servers'. */
async function measure(setup: Setup, root: string): Promise<Measured> {
  const loadAverage = loadAverage1m();
  const n = ++streamNo;
  const nats = setup.nats?.();
  const stream = `BENCH_${n}`;
  const flags = [...setup.flags(), ...(nats === undefined ? [] : ["--nats-stream", stream, "--nats-subject", `bench.${n}.events`])];
  const dir = await mkdtemp(join(root, `run-${n}-`));
  const servers: ServerProcess[] = [];
  try {
    for (let f = 0; f < setup.frontEnds; f++) {
      servers.push(
        await ServerProcess.start({
          name: `${setup.label} #${f + 1}`,
          script: setup.script ?? values.server,
          nodeFlags: cpuProfDir === undefined ? undefined : ["--cpu-prof", "--cpu-prof-dir", join(cpuProfDir, `${n}-${setup.label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`)],
          args: ["--addr", "127.0.0.1:0", "--log-path", join(dir, `front-${f + 1}`, "pulse_learning_log.jsonl"), "--log-level", "info", ...flags],
        }),
      );
    }
    const frontEndPids = servers.map((s) => s.pid);
    const natsPids = nats?.nodes.map((node) => node.pid) ?? [];
    const marks = new CpuMarks([...frontEndPids, ...natsPids], frontEndPids);
    // The same load for every row: the streams are dealt to the front ends in turn.
    const clients = Array.from({ length: streams }, (_, i) => createClient(LearningLogService, servers[i % servers.length].address));
    try {
      const results = await Promise.all(clients.map((c, i) => driveBidi(c, { batchEvents, kind, inFlight, rateEventsPerS: ratePerStream, timing: i === 0 ? { ...timing, marks } : timing })));
      const events = results.reduce((s, r) => s + r.events, 0);
      const seconds = Math.max(...results.map((r) => r.seconds));
      const result: DriverResult = { events, seconds, eventsPerSecond: events / seconds, latency: results[0].latency };
      const frontEndCores = marks.cores(frontEndPids);
      const natsCores = natsPids.length === 0 ? 0 : marks.cores(natsPids);
      const measured = {
        result,
        frontEndUs: (frontEndCores / result.eventsPerSecond) * 1e6,
        frontEndMainUs: (marks.mainThreadCores(frontEndPids) / result.eventsPerSecond) * 1e6,
        natsUs: (natsCores / result.eventsPerSecond) * 1e6,
        frontEndCores,
        natsCores,
        loadAverage,
      };
      progress(
        `${setup.label}: ${fmt(result.eventsPerSecond)} events/s, CPU us/event front ends ${fix(measured.frontEndUs)} (main threads ${fix(measured.frontEndMainUs)}) + nats-server ${fix(measured.natsUs)}, ` +
          `cores ${fix(frontEndCores)} + ${fix(natsCores)}, batch ack p99 ${fix(result.latency.p99Ms, 1)} ms (first stream), load ${loadAverage}`,
      );
      if (showThreads) {
        for (const pid of frontEndPids) {
          const perThread = marks.threads(pid).sort((a, b) => b[1] - a[1]);
          progress(`  front end ${pid} threads, CPU us/event: ${perThread.map(([name, sec]) => `${name} ${fix((sec / result.seconds / result.eventsPerSecond) * 1e6)}`).join(", ")}`);
        }
      }
      return measured;
    } finally {
      for (const c of clients) c.close();
    }
  } finally {
    for (const s of servers) await s.stop();
    if (nats !== undefined) await dropStream(nats, stream);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Deletes a measured stream, so that the next rows start on an empty one and the disk does not fill. */
async function dropStream(nats: NatsCluster, stream: string): Promise<void> {
  const nc = await connect({ servers: nats.servers });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const triple = (xs: number[], f: (n: number) => string) => {
  const s = xs.filter(Number.isFinite);
  return s.length === 0 ? "-" : `${f(Math.min(...s))} / **${f(median(s))}** / ${f(Math.max(...s))}`;
};

const root = await mkdtemp(join(tmpdir(), "pulse-jetstream-bench-"));
const clusters: NatsCluster[] = [];
try {
  const single = await startNats(await mkdtemp(join(root, "nats1-")), 1);
  clusters.push(single);
  const cluster = await startNats(await mkdtemp(join(root, "nats3-")), 3);
  clusters.push(cluster);
  const allRows: Record<string, Setup> = {
    file: { label: "file (O_DSYNC writes, 1 disk)", flags: () => ["--store", "file"], frontEnds: 1 },
    r1: { label: "JetStream, 1 node (R1), 1 front end", flags: () => ["--store", single.storeUrl], frontEnds: 1, nats: () => single },
    r1x2: { label: "JetStream, 1 node (R1), 2 front ends", flags: () => ["--store", single.storeUrl], frontEnds: 2, nats: () => single },
    r3: { label: "JetStream, 3 nodes, replicas 3 (R3), 1 front end", flags: () => ["--store", cluster.storeUrl, "--nats-replicas", "3"], frontEnds: 1, nats: () => cluster, replicas: 3 },
    r3x2: { label: "JetStream, 3 nodes, replicas 3 (R3), 2 front ends", flags: () => ["--store", cluster.storeUrl, "--nats-replicas", "3"], frontEnds: 2, nats: () => cluster, replicas: 3 },
  };
  const unknownRow = rowKeys.find((k) => !(k in allRows));
  if (unknownRow !== undefined) throw new Error(`--rows: unknown row ${unknownRow} (rows: ${Object.keys(allRows).join(", ")})`);
  const setups: Setup[] = rowKeys.map((k) => allRows[k]);
  if (baselineScript !== undefined) {
    const measuredRows = setups.length;
    for (let i = 0; i < measuredRows; i++) {
      if (setups[i].nats !== undefined) setups.push({ ...setups[i], label: `${setups[i].label}, ${values["baseline-name"]}`, script: baselineScript, twinOf: i });
    }
  }
  const fileRow = setups.findIndex((s) => s.nats === undefined && s.twinOf === undefined);
  const loadAtStart = loadAverage1m();
  const runs: Measured[][] = setups.map(() => []);
  for (let round = 0; round < repeats; round++) {
    // Rotated order: no row always runs first (a cold machine) or last.
    for (let k = 0; k < setups.length; k++) {
      const i = (k + round) % setups.length;
      progress(`round ${round + 1} of ${repeats}: ${setups[i].label}`);
      runs[i].push(await measure(setups[i], root));
    }
  }
  // Ratios within a round: each row against the file store measured in the same round.
  const ratio = (i: number) => runs[i].map((m, round) => m.result.eventsPerSecond / runs[fileRow][round].result.eventsPerSecond);
  const gain = (two: number, one: number) => runs[two].map((m, round) => m.result.eventsPerSecond / runs[one][round].result.eventsPerSecond);
  // Front-end CPU per event of a row against its baseline twin's, round by round.
  const cpuVsTwin = (i: number) => {
    const twin = setups.findIndex((s) => s.twinOf === i);
    if (twin < 0) return "-";
    const ofMedians = median(runs[i].map((m) => m.frontEndUs)) / median(runs[twin].map((m) => m.frontEndUs));
    return `${triple(runs[i].map((m, round) => m.frontEndUs / runs[twin][round].frontEndUs), (x) => `${x.toFixed(2)}x`)}; of medians ${ofMedians.toFixed(2)}x`;
  };
  const row = (key: string) => setups.findIndex((s) => s === allRows[key]);
  const lines = [
    `IngestEvents from the TypeScript client, ${kind === "seed" ? "the seed mix" : `${kind} events`}: ${streams} streams x ${batchEvents}-event batches, ${ratePerStream === undefined ? `${inFlight} in flight each` : `paced at ${ratePerStream} events/s each`}, dealt evenly to the front ends; ` +
      `${timing.measureS} s measured after ${timing.warmupS} s warm-up; ${repeats} rounds, each row once per round on a fresh stream (min / **median** / max). ` +
      `Client, front ends and nats-server processes on one machine (nats-server ${single.version ?? "?"}, the Debian package; JetStream's default fsync, not sync_interval: always, which this version lacks). 1-minute load average at the start: ${loadAtStart}.` +
      (baselineScript === undefined ? "" : ` Front ends: \`${values.server}\`; the rows marked "${values["baseline-name"]}" run \`${baselineScript}\`.`),
    "",
    `| store | front-end CPU us/event | its main threads | nats-server CPU us/event | cores used (front ends + nats) | events/s | vs file, same round |${baselineScript === undefined ? "" : " front-end CPU vs baseline: same round; of medians |"} batch ack p50 / p99 ms (median) | load avg per round |`,
    `|---|---:|---:|---:|---:|---:|---:|${baselineScript === undefined ? "" : "---:|"}---:|---|`,
    ...setups.map((setup, i) => {
      const r = runs[i];
      return (
        `| ${setup.label} | ${triple(r.map((m) => m.frontEndUs), fix)} | ${triple(r.map((m) => m.frontEndMainUs), fix)} | ${setup.nats === undefined ? "-" : triple(r.map((m) => m.natsUs), fix)} | ` +
        `${fix(median(r.map((m) => m.frontEndCores)))} + ${fix(median(r.map((m) => m.natsCores)))} | ${triple(r.map((m) => m.result.eventsPerSecond), fmt)} | ` +
        `${i === fileRow ? "1.00x" : fileRow < 0 ? "-" : triple(ratio(i), (x) => `${x.toFixed(2)}x`)} | ${baselineScript === undefined ? "" : `${cpuVsTwin(i)} | `}${fix(median(r.map((m) => m.result.latency.p50Ms)), 1)} / ${fix(median(r.map((m) => m.result.latency.p99Ms)), 1)} | ${r.map((m) => m.loadAverage).join(", ")} |`
      );
    }),
    ...(row("r1") >= 0 && row("r1x2") >= 0 && row("r3") >= 0 && row("r3x2") >= 0
      ? ["", `A second front end, same round: R1 ${triple(gain(row("r1x2"), row("r1")), (x) => `${x.toFixed(2)}x`)}, R3 ${triple(gain(row("r3x2"), row("r3")), (x) => `${x.toFixed(2)}x`)} the events/s of one.`]
      : []),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  if (values.results !== undefined) await writeSection(values.results, ["## JetStream store beside the file store", "", "Command: `npm run bench:jetstream` (also the last step of `npm run bench`).", "", ...lines]);
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
