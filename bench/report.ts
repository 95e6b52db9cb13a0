import { readFile, writeFile } from "node:fs/promises";
import type { LongRunResult } from "./long-run.js";
import type { MachineDescription } from "./machine.js";
import { profileMarkdown, type ProfileSummary } from "./profile-summary.js";
import type { RedisRun } from "./redis-peer.js";
import type { ReplayResult } from "./replay-bench.js";
import { THREAD_GROUP_LABEL, THREAD_GROUPS, type ThreadGroup } from "./threads.js";
import {
  GC_SHARE_MAX,
  MAIN_US_PER_EVENT_MAX,
  PAYLOAD_LABEL,
  rateOf,
  REDIS_RATIO_MAX,
  spread,
  STREAM_IN_FLIGHT,
  usOf,
  median,
  type Measured,
  type Payload,
  type Scenario,
  type ServerName,
  type Verdict,
} from "./scenarios.js";

/** One scenario's measurements on every server it ran against (the real server's repeats in order). */
export interface ScenarioOutcome {
  scenario: Scenario;
  byServer: Partial<Record<ServerName, Measured[]>>;
  verdict?: Verdict;
  /** Average log line of the real server's first run, hash chain and newline included, in bytes. */
  avgLineBytes?: number;
}

/** The Redis peer's runs, or why there are none. */
export interface RedisOutcome {
  version?: string;
  /** Bytes of the XADD field, and where that size comes from. */
  fieldBytes: number;
  fieldFrom: string;
  runs: RedisRun[];
  errors: string[];
  /** Why the row was left out, when it was. */
  skipped?: string;
}

/** JSON.stringify of the records one payload's run wrote: CPU microseconds per record, per repeat. */
export interface StringifyOutcome {
  payload: Payload;
  /** Records in the sample (stringified round-robin). */
  sampleRecords: number;
  avgLineBytes: number;
  usPerRecord: number[];
}

/** The long run and its verdict. */
export interface LongRunOutcome {
  result?: LongRunResult;
  error?: string;
  /** Events asked for (may be more than run, when disk space was short). */
  requestedEvents: number;
  target: string;
  verdict?: Verdict;
  /** 1-minute load average when it started. */
  loadAverage?: number;
}

/** The replay part, or why it failed. */
export interface ReplayOutcome {
  result?: ReplayResult;
  error?: string;
}

/** A CPU profile of the real server during one scenario. */
export interface ProfileOutcome {
  label: string;
  summary: ProfileSummary;
}

/** Everything one `npm run bench` measured. */
export interface BenchReport {
  command: string;
  date: string;
  machine: MachineDescription;
  warmupS: number;
  durationS: number;
  repeats: number;
  /** Seconds each key scenario's server was warmed before its first run. */
  keyWarmupS?: number;
  /** Each measured run waited for the 1-minute load average to fall under this (at most settleMaxS s); undefined: no wait. */
  settleLoad?: number;
  settleMaxS?: number;
  scenarios: ScenarioOutcome[];
  redis?: RedisOutcome;
  stringify: StringifyOutcome[];
  long?: LongRunOutcome;
  replay?: ReplayOutcome;
  profiles: ProfileOutcome[];
  /** Remarks for the reader (skipped parts, reduced runs). */
  notes: string[];
}

/** Target of the replay part (DESIGN.md), in records delivered per second. */
export const REPLAY_TARGET_PER_S = 500_000;

const n0 = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");
const us = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : "n/a");
const ms = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "n/a" : n < 10 ? n.toFixed(2) : n.toFixed(1));
const cores = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? n.toFixed(2) : "n/a");
const mb = (bytes: number | undefined) => (bytes !== undefined && Number.isFinite(bytes) && bytes > 0 ? (bytes / 1e6).toFixed(0) : "n/a");
const ratio = (a: number | undefined, b: number | undefined, unit: "x" | "%") => {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "n/a";
  return unit === "x" ? `${(a / b).toFixed(1)}x` : `${((100 * a) / b).toFixed(0)} %`;
};
const verdictText = (v: Verdict | undefined) => (v === undefined ? "" : v.met ? "yes" : `**no**: ${v.detail}`);
/** "median" alone, or "min / median / max" when there are several values. */
const triple = (values: readonly number[], format: (n: number) => string) => {
  const finite = values.filter((x) => Number.isFinite(x));
  if (finite.length <= 1) return format(finite[0] ?? Number.NaN);
  const s = spread(finite);
  return `${format(s.min)} / **${format(s.median)}** / ${format(s.max)}`;
};
const loads = (values: readonly number[]) => values.map((l) => l.toFixed(1)).join(", ");
const serverUs = (runs: readonly Measured[] | undefined) => (runs ?? []).map((m) => m.usPerEvent);
const serverRates = (runs: readonly Measured[] | undefined) => (runs ?? []).map((m) => m.result?.eventsPerSecond ?? Number.NaN);

/** What the records of each payload are called in the JSON.stringify rows. */
const RECORDS_OF: Record<Payload, string> = {
  seed: "seed-mix",
  "seed-string": "seed-mix (string outcomes)",
  "seed-run": "seed-mix (in a run)",
  weight: "weight-change",
  generic: "flat Struct LogEvent",
};

/** The CPU-per-event table of every scenario with a payload. */
function cpuTable(report: BenchReport): string[] {
  const redisUs = median(report.redis?.runs.map((r) => r.usPerEvent) ?? []);
  const stringifyUs = (p: Payload) => median(report.stringify.find((s) => s.payload === p)?.usPerRecord ?? []);
  const lines = [
    "| payload | client | server CPU us per durable event (min / **median** / max) | server cores used | vs Redis XADD | vs JSON.stringify of the same records | no-op server CPU us/event | events/s (min / **median** / max) | avg line bytes | load avg at start of each run | target | met? |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
  ];
  for (const o of report.scenarios.filter((x) => x.scenario.payload !== undefined)) {
    const p = o.byServer.pulse ?? [];
    const payload = o.scenario.payload!;
    const max = REDIS_RATIO_MAX[payload];
    const x = usOf(p) / redisUs;
    const met = max === undefined || !Number.isFinite(x) ? "" : x <= max ? "yes" : "**no**";
    lines.push(
      `| ${PAYLOAD_LABEL[payload]} | ${o.scenario.client} (${o.scenario.id}) | ${triple(serverUs(p), us)} | ${cores(median(p.map((m) => m.serverCpu?.cores ?? Number.NaN)))} | ${ratio(usOf(p), redisUs, "x")} | ${ratio(usOf(p), stringifyUs(payload), "x")} | ${us(usOf(o.byServer.noop))} | ${triple(serverRates(p), n0)} | ${n0(o.avgLineBytes)} | ${loads(p.map((m) => m.loadAverage))} | ${max === undefined ? "-" : `<= ${max.toFixed(1)}x Redis`} | ${met} |`,
    );
  }
  const r = report.redis;
  if (r !== undefined && r.runs.length > 0) {
    lines.push(
      `| Redis ${r.version ?? ""} XADD of one ${r.fieldBytes}-byte field, \`appendonly yes\`, \`appendfsync always\` | redis-benchmark, 16 connections, pipelines of 1,000 | ${triple(r.runs.map((x) => x.usPerEvent), us)} | ${cores(median(r.runs.map((x) => x.cpu.cores)))} | 1.0x | | | ${triple(r.runs.map((x) => x.eventsPerSecond), n0)} | ${r.fieldBytes} (field) | ${loads(r.runs.map((x) => x.loadAverage))} | peer | |`,
    );
  }
  for (const s of report.stringify) {
    lines.push(
      `| JSON.stringify of the ${RECORDS_OF[s.payload]} records the server wrote (${n0(s.sampleRecords)} parsed lines, round-robin) | one thread of the bench process | ${triple(s.usPerRecord, us)} (CPU per record) | 1.00 | ${ratio(median(s.usPerRecord), redisUs, "x")} | 1.0x | | | ${n0(s.avgLineBytes)} | | baseline | |`,
    );
  }
  return lines;
}

/** Microseconds per event one thread group took in run `m` (its cores / events per second). */
const groupUs = (m: Measured, group: ThreadGroup) => {
  const c = m.threadCores?.[group];
  const eps = m.result?.eventsPerSecond;
  return c === undefined || eps === undefined || !(eps > 0) ? Number.NaN : (c / eps) * 1e6;
};
/** GC's share of the server's CPU in run `m`: the main thread's GC pauses plus the V8 platform threads (GC helpers), over the process's CPU. */
const gcShare = (m: Measured) => {
  const all = m.serverCpu?.cores;
  if (all === undefined || !(all > 0) || m.gcPauseCores === undefined) return Number.NaN;
  return (m.gcPauseCores + (m.threadCores?.v8 ?? 0)) / all;
};
const pauseShare = (m: Measured) => (m.gcPauseCores === undefined || !(m.serverCpu?.cores ?? 0) ? Number.NaN : m.gcPauseCores / m.serverCpu!.cores);
const pct = (n: number) => (Number.isFinite(n) ? `${(100 * n).toFixed(0)} %` : "n/a");

/**
 * The lead table: each payload shape of the key scenarios on its warmed
 * server, whole-process and main-thread CPU per event, each thread group's,
 * the GC share and the same-run ratio to Redis (medians of the repeats).
 */
export function payloadsAndThreads(report: BenchReport): string[] {
  const keyRows = report.scenarios.filter((o) => o.scenario.key && o.scenario.payload !== undefined && (o.byServer.pulse ?? []).some((m) => m.result));
  if (keyRows.length === 0) return [];
  const redisUs = median(report.redis?.runs.map((r) => r.usPerEvent) ?? []);
  const seedUs = usOf(keyRows.find((o) => o.scenario.payload === "seed")?.byServer.pulse);
  const lines = [
    "## Payloads and threads",
    "",
    `Each payload shape on a real server of its own (bench/server-probe.mjs preloaded: it names the threads and sums the main thread's GC pauses), warmed ${report.keyWarmupS ?? "?"} s unmeasured, then ${report.repeats} runs of ${report.warmupS} s + ${report.durationS} s measured in rotated rounds with Redis, IngestEvents batches of 1,000 from TypeScript, ${STREAM_IN_FLIGHT} in flight. CPU per event from /proc: the process (utime + stime, all threads), and each thread from /proc/<pid>/task/<tid>/stat grouped by name: ${THREAD_GROUPS.map((g) => THREAD_GROUP_LABEL[g]).join(", ")}. GC share = (main-thread GC pauses + V8 platform threads' CPU) / process CPU: the pauses are the probe's "gc" performance entries (wall time) times the share of its runnable time the main thread had a CPU (/proc/<pid>/task/<pid>/schedstat), since on a loaded machine a pause also waits for one; the platform threads also compile, little on a warm server. The main thread caps one process on any number of cores at 1 / (its CPU per event). Targets (DESIGN.md): seed mix <= ${REDIS_RATIO_MAX.seed}x Redis, weight changes <= ${REDIS_RATIO_MAX.weight}x Redis, main thread <= ${MAIN_US_PER_EVENT_MAX} us per seed-mix event, GC < ${100 * GC_SHARE_MAX} % of the CPU.`,
    "",
    `| payload | server CPU us/event (min / **median** / max) | vs Redis XADD | vs seed mix | main thread us/event (min / **median** / max) | ${THREAD_GROUPS.filter((g) => g !== "main").map((g) => `${THREAD_GROUP_LABEL[g]} us/event`).join(" | ")} | GC share of CPU (min / **median** / max) | of it main-thread pauses | one-process ceiling from the main thread, events/s | events/s (median) | avg line bytes | load avg at each run | targets met? |`,
    `|---|---:|---:|---:|---:|${THREAD_GROUPS.filter((g) => g !== "main").map(() => "---:").join("|")}|---:|---:|---:|---:|---:|---|---|`,
  ];
  for (const o of keyRows) {
    const p = (o.byServer.pulse ?? []).filter((m) => m.result);
    const payload = o.scenario.payload!;
    const mainUs = median(p.map((m) => groupUs(m, "main")));
    const gc = median(p.map(gcShare));
    const verdicts: string[] = [];
    const max = REDIS_RATIO_MAX[payload];
    if (max !== undefined && Number.isFinite(usOf(p) / redisUs)) verdicts.push(usOf(p) / redisUs <= max ? `<= ${max}x Redis: yes` : `<= ${max}x Redis: **no**`);
    if (payload === "seed") {
      if (Number.isFinite(mainUs)) verdicts.push(mainUs <= MAIN_US_PER_EVENT_MAX ? "main thread: yes" : "main thread: **no**");
      if (Number.isFinite(gc)) verdicts.push(gc < GC_SHARE_MAX ? "GC: yes" : "GC: **no**");
    }
    lines.push(
      `| ${PAYLOAD_LABEL[payload]} | ${triple(serverUs(p), us)} | ${ratio(usOf(p), redisUs, "x")} | ${ratio(usOf(p), seedUs, "x")} | ${triple(p.map((m) => groupUs(m, "main")), us)} | ${THREAD_GROUPS.filter((g) => g !== "main").map((g) => us(median(p.map((m) => groupUs(m, g))))).join(" | ")} | ${triple(p.map(gcShare), pct)} | ${pct(median(p.map(pauseShare)))} | ${n0(1e6 / mainUs)} | ${n0(rateOf(p))} | ${n0(o.avgLineBytes)} | ${loads(p.map((m) => m.loadAverage))} | ${verdicts.join("; ") || "-"} |`,
    );
  }
  const r = report.redis;
  if (r !== undefined && r.runs.length > 0) {
    lines.push(
      `| Redis ${r.version ?? ""} XADD of one ${r.fieldBytes}-byte field, \`appendfsync always\` (redis-benchmark -c 16 -P 1000) | ${triple(r.runs.map((x) => x.usPerEvent), us)} | 1.0x | ${ratio(redisUs, seedUs, "x")} | | ${THREAD_GROUPS.filter((g) => g !== "main").map(() => "").join(" | ")} | | | | ${n0(median(r.runs.map((x) => x.eventsPerSecond)))} | ${r.fieldBytes} (field) | ${loads(r.runs.map((x) => x.loadAverage))} | peer |`,
    );
  }
  return [...lines, ""];
}

/** DESIGN.md's CPU targets the key scenarios missed: CPU per event against Redis's, main-thread CPU and GC share on the seed mix. */
function cpuTargetsMissed(report: BenchReport): string[] {
  const redisUs = median(report.redis?.runs.map((r) => r.usPerEvent) ?? []);
  const out: string[] = [];
  for (const o of report.scenarios.filter((x) => x.scenario.key && x.scenario.payload !== undefined)) {
    const p = (o.byServer.pulse ?? []).filter((m) => m.result);
    const payload = o.scenario.payload!;
    const max = REDIS_RATIO_MAX[payload];
    const x = usOf(p) / redisUs;
    if (max !== undefined && Number.isFinite(x) && x > max) out.push(`${PAYLOAD_LABEL[payload]}: server CPU per event <= ${max}x Redis's; measured ${us(usOf(p))} us, ${x.toFixed(2)}x`);
    if (payload !== "seed") continue;
    const mainUs = median(p.map((m) => groupUs(m, "main")));
    if (mainUs > MAIN_US_PER_EVENT_MAX) out.push(`seed mix: main-thread CPU per event <= ${MAIN_US_PER_EVENT_MAX} us; measured ${us(mainUs)} us`);
    const gc = median(p.map(gcShare));
    if (gc >= GC_SHARE_MAX) out.push(`seed mix: GC < ${100 * GC_SHARE_MAX} % of the server's CPU; measured ${pct(gc)}`);
  }
  return out;
}

/** The report as Markdown (the generated part of RESULTS.md). */
export function reportMarkdown(report: BenchReport): string {
  const m = report.machine;
  const lines: string[] = [
    "# Benchmark results",
    "",
    "Written by `npm run bench` (bench/run.ts) on its last full run; the Analysis section at the end is written by hand and kept when the file is regenerated. Options: `npm run bench -- --help`; `--quick` (about 3 minutes) and `--scenario NAME` print the same tables without writing this file, to compare before and after a change. How the figures are taken: bench/README.md.",
    "",
    `- Command: \`${report.command}\``,
    `- Date: ${report.date}`,
    `- Machine: ${m.cores} cores (\`nproc\`), ${m.cpuModel}, ${m.memoryGb} GiB RAM, ${m.kernel}, Node ${m.node}${m.python ? `; ${m.python}` : ""}; 1-minute load average at the start: ${m.loadAverage} (and at the start of each run, in the tables: other work shares this machine)`,
    `- Client and servers on the same machine, each server in its own process: **pulse** (the real server as \`npm start\` runs it: dist/src/main.js), **naive** (bench/servers/naive-server.ts: open, append, fsync, close per event, like the original module), **no-op** (bench/servers/noop-server.ts: answers at once, writes nothing: the grpc-js ceiling) and **Redis** (Debian's redis-server with every write fsynced, fed by redis-benchmark). Per scenario and server: ${report.warmupS} s warm-up, then ${report.durationS} s measured; the key scenarios (one per payload shape, from TypeScript) ran ${report.repeats} times each on a server of their own, warmed ${report.keyWarmupS ?? "?"} s first and kept through the rounds, Redis ${report.repeats} times, the baselines once on a fresh server each.${report.settleLoad === undefined ? "" : ` Each measured run (and each Redis run) started once the 1-minute load average had fallen under ${report.settleLoad} (\`--settle-load\`; waiting ${report.settleMaxS ?? "?"} s at most): the load in the tables is the load at its start.`} Events/s count durable acknowledgements.`,
    "- **Server CPU per durable event** = (utime + stime of the server process, all threads, from /proc/<pid>/stat, over the measured part) / (events acknowledged in it); read as server cores used / events per second. It moves much less than events/s with the machine's load (not nothing: caches and cores are shared), so it leads; compare figures of the same run, and mind the load averages. The no-op server's figure is the floor of grpc-js and protobuf-es on the same batches (it decodes every request whole and writes nothing).",
    "",
    ...payloadsAndThreads(report),
    "## Server CPU per durable event",
    "",
    ...cpuTable(report),
    "",
    "## Throughput and latency",
    "",
    "Real server figures are medians over its runs (min / **median** / max where a scenario was repeated).",
    "",
    "| scenario | client | pulse events/s | pulse CPU us/event | naive events/s | pulse / naive | no-op events/s | pulse / no-op | pulse ack p50 / p99 (ms) | peak RSS MB, pulse (no-op) | target | met? |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
  ];
  for (const o of report.scenarios) {
    const p = o.byServer.pulse ?? [];
    const errors = p.filter((x) => x.error).map((x) => `error: ${x.error}`);
    const pulseCell = p.some((x) => x.result) ? triple(serverRates(p), n0) : (errors[0] ?? "n/a");
    const p50 = median(p.map((x) => x.result?.latency.p50Ms ?? Number.NaN));
    const p99 = median(p.map((x) => x.result?.latency.p99Ms ?? Number.NaN));
    const rss = median(p.map((x) => x.peakRssBytes));
    const noop = o.byServer.noop;
    lines.push(
      `| ${o.scenario.label} | ${o.scenario.client} | ${pulseCell} | ${triple(serverUs(p), us)} | ${n0(rateOf(o.byServer.naive))} | ${ratio(rateOf(p), rateOf(o.byServer.naive), "x")} | ${n0(rateOf(noop))} | ${ratio(rateOf(p), rateOf(noop), "%")} | ${ms(p50)} / ${ms(p99)} | ${mb(rss)}${noop ? ` (${mb(median(noop.map((x) => x.peakRssBytes)))})` : ""} | ${o.scenario.target?.text ?? "-"} | ${verdictText(o.verdict)} |`,
    );
  }
  const redis = report.redis;
  if (redis !== undefined) {
    lines.push("", "## Redis, the peer durable store", "");
    if (redis.skipped !== undefined) lines.push(`Left out: ${redis.skipped}.`);
    else {
      lines.push(
        `redis-server ${redis.version ?? ""} on a free loopback port, \`--appendonly yes --appendfsync always --save "" --auto-aof-rewrite-percentage 0\` (no forked child whose CPU /proc would not count), data in a fresh temporary folder, one fresh server per run; \`redis-benchmark -c 16 -P 1000 XADD pulse * record <${redis.fieldBytes} bytes>\` (${redis.fieldFrom}): a warm-up of 100,000 XADDs, then as many as its rate fills in ${report.durationS} s, measured. The stream is not trimmed: Redis keeps every entry in memory (hence its RSS), the file store keeps none.`,
        "",
        "| run | load avg | XADDs | events/s | server CPU us/event | server cores used | p50 / p99 (ms) | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ...redis.runs.map((r, i) => `| ${i + 1} | ${r.loadAverage.toFixed(1)} | ${n0(r.events)} | ${n0(r.eventsPerSecond)} | ${us(r.usPerEvent)} | ${cores(r.cpu.cores)} | ${ms(r.p50Ms)} / ${ms(r.p99Ms)} | ${mb(r.peakRssBytes)} |`),
      );
      for (const e of redis.errors) lines.push("", `A run failed: ${e}`);
    }
  }
  const long = report.long;
  if (long) {
    lines.push("", `## Long run: ${n0(long.requestedEvents)} seed-mix events into a fresh real server`, "");
    if (long.error || long.result === undefined) {
      lines.push(`Failed: ${long.error ?? "no result"}`);
    } else {
      const r = long.result;
      lines.push(
        `IngestEvents batches of 1,000 seed-mix events from the TypeScript client, ${STREAM_IN_FLIGHT} in flight; server RSS sampled every second. Load average at the start: ${long.loadAverage?.toFixed(1) ?? "n/a"}.`,
        ...(r.stoppedEarly ? ["", `**The run stopped early: ${r.stoppedEarly}.**`] : []),
        "",
        "| events | seconds | events/s | ack p50 / p99 (ms) | peak RSS MB | final RSS MB | log MB (all segments) | target | met? |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
        `| ${n0(r.events)} | ${r.seconds.toFixed(1)} | ${n0(r.eventsPerSecond)} | ${ms(r.latency?.p50Ms)} / ${ms(r.latency?.p99Ms)} | ${mb(r.peakRssBytes)} | ${mb(r.finalRssBytes)} | ${mb(r.logBytes)} | ${long.target} | ${verdictText(long.verdict)} |`,
        "",
        "Server RSS over the run:",
        "",
        "| t (s) | events acked | RSS MB |",
        "|---:|---:|---:|",
        ...downsample(r.series, 16).map((p) => `| ${p.t.toFixed(0)} | ${n0(p.events)} | ${mb(p.rssBytes)} |`),
      );
    }
  }
  const replay = report.replay;
  if (replay) {
    lines.push("", "## Replay", "");
    if (replay.error || replay.result === undefined) lines.push(`Failed: ${replay.error ?? "no result"}`);
    else {
      const r = replay.result;
      lines.push(
        `bench/replay-bench.ts: ${n0(r.records)} records (four event types in turn, ${mb(r.logBytes)} MB in ${r.files} file(s)) written through the real Appender, then streamed back by ReadEvents from a real server to the TypeScript client, whole log and with a two-type filter. Load average at the start: ${r.loadAverage.toFixed(1)}. Target: >= ${n0(REPLAY_TARGET_PER_S)} records/s delivered.`,
        "",
        "| pass | records delivered | seconds | scanned/s | delivered/s | server CPU s | scanned per server CPU-s | client CPU s | decoded per client CPU-s | met? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ...r.passes.map(
          (p) =>
            `| ${p.label} | ${n0(p.delivered)} | ${p.seconds.toFixed(2)} | ${n0(p.scannedPerS)} | ${n0(p.deliveredPerS)} | ${p.serverCpuS.toFixed(2)} | ${n0(p.scannedPerServerCpuS)} | ${p.clientCpuS.toFixed(2)} | ${n0(p.decodedPerClientCpuS)} | ${p.deliveredPerS >= REPLAY_TARGET_PER_S ? "yes" : `**no**: ${n0(p.deliveredPerS)}/s`} |`,
        ),
      );
    }
  }
  lines.push(
    "",
    "## Every measurement",
    "",
    "| scenario | client | server | run | load avg | events/s | server CPU us/event | server cores | client cores | ack p50 (ms) | ack p99 (ms) | acks | peak RSS MB |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const o of report.scenarios) {
    for (const name of o.scenario.servers) {
      (o.byServer[name] ?? []).forEach((x, i) => {
        const r = x.result;
        const head = `| ${o.scenario.label} | ${o.scenario.client} | ${name} | ${i + 1} | ${x.loadAverage.toFixed(1)} |`;
        lines.push(
          x.error
            ? `${head} error: ${x.error} | | | | | | | ${mb(x.peakRssBytes)} |`
            : `${head} ${n0(r?.eventsPerSecond)} | ${us(x.usPerEvent)} | ${cores(x.serverCpu?.cores)} | ${cores(x.clientCpu?.cores)} | ${ms(r?.latency.p50Ms)} | ${ms(r?.latency.p99Ms)} | ${n0(r?.latency.count)} | ${mb(x.peakRssBytes)} |`,
        );
      });
    }
  }
  for (const p of report.profiles) {
    lines.push("", `## CPU profile of the real server: ${p.label}`, "", profileMarkdown(p.summary));
  }
  const missed = [
    ...cpuTargetsMissed(report),
    ...report.scenarios.filter((o) => o.verdict && !o.verdict.met).map((o) => `${o.scenario.label} (${o.scenario.client}): ${o.scenario.target!.text}; measured ${o.verdict!.detail}`),
    ...(long?.verdict && !long.verdict.met ? [`long run: ${long.target}; measured ${long.verdict.detail}`] : []),
    ...(replay?.result?.passes.filter((p) => p.deliveredPerS < REPLAY_TARGET_PER_S).map((p) => `replay (${p.label}): >= ${n0(REPLAY_TARGET_PER_S)} records/s; measured ${n0(p.deliveredPerS)}/s`) ?? []),
  ];
  lines.push("", "## Targets missed", "", ...(missed.length === 0 ? ["None."] : missed.map((t) => `- ${t}`)));
  if (report.notes.length > 0) lines.push("", "## Notes", "", ...report.notes.map((t) => `- ${t}`));
  return lines.join("\n") + "\n";
}

function downsample<T>(points: readonly T[], count: number): T[] {
  if (points.length <= count) return [...points];
  const out: T[] = [];
  for (let i = 0; i < count; i++) out.push(points[Math.round((i * (points.length - 1)) / (count - 1))]);
  return out;
}

const ANALYSIS_START = "<!-- analysis: written by hand, kept by bench/run.ts -->";

/**
 * Writes the report to `path`, keeping the hand-written analysis section of
 * the file already there (everything from its marker to the end).
 */
export async function writeResults(path: string, markdown: string): Promise<void> {
  let analysis = `${ANALYSIS_START}\n## Analysis\n\n(Why each missed target is missed, from the profile. Written by hand.)\n`;
  try {
    const old = await readFile(path, "utf8");
    const at = old.indexOf(ANALYSIS_START);
    if (at >= 0) analysis = old.slice(at);
  } catch {
    /* first run: no file yet */
  }
  await writeFile(path, `${markdown}\n${analysis}`);
}
