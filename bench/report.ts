import { readFile, writeFile } from "node:fs/promises";
import type { LongRunResult } from "./long-run.js";
import type { MachineDescription } from "./machine.js";
import { profileMarkdown, type ProfileSummary } from "./profile-summary.js";
import { STREAM_IN_FLIGHT, type Measured, type Scenario, type ServerName, type Verdict } from "./scenarios.js";

/** One scenario's measurements on every server it ran against. */
export interface ScenarioOutcome {
  scenario: Scenario;
  byServer: Partial<Record<ServerName, Measured>>;
  verdict?: Verdict;
}

/** The long run and its verdict. */
export interface LongRunOutcome {
  result?: LongRunResult;
  error?: string;
  /** Events asked for (may be more than run, when disk space was short). */
  requestedEvents: number;
  target: string;
  verdict?: Verdict;
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
  scenarios: ScenarioOutcome[];
  long?: LongRunOutcome;
  profiles: ProfileOutcome[];
  /** Remarks for the reader (skipped parts, reduced runs). */
  notes: string[];
}

const n0 = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");
const ms = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "n/a" : n < 10 ? n.toFixed(2) : n.toFixed(1));
const mb = (bytes: number | undefined) => (bytes !== undefined && Number.isFinite(bytes) && bytes > 0 ? (bytes / 1e6).toFixed(0) : "n/a");
const ratio = (a: number | undefined, b: number | undefined, unit: "x" | "%") => {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "n/a";
  return unit === "x" ? `${(a / b).toFixed(1)}x` : `${((100 * a) / b).toFixed(0)} %`;
};
const verdictText = (v: Verdict | undefined) => (v === undefined ? "" : v.met ? "yes" : `**no**: ${v.detail}`);
const rateOf = (m: Measured | undefined) => m?.result?.eventsPerSecond;

/** The report as Markdown (the generated part of RESULTS.md). */
export function reportMarkdown(report: BenchReport): string {
  const m = report.machine;
  const lines: string[] = [
    "# Benchmark results",
    "",
    "Written by `npm run bench` (bench/run.ts) on its last run; the Analysis section at the end is written by hand and kept when the file is regenerated. Options: `npm run bench -- --help` (`--quick` takes under 2 minutes). A single CPU profile summary: `node --import tsx bench/profile-summary.ts FILE.cpuprofile`.",
    "",
    `- Command: \`${report.command}\``,
    `- Date: ${report.date}`,
    `- Machine: ${m.cores} cores (\`nproc\`), ${m.cpuModel}, ${m.memoryGb} GiB RAM, ${m.kernel}, Node ${m.node}${m.python ? `; ${m.python}` : ""}; 1-minute load average at the start: ${m.loadAverage}`,
    `- Client and servers on the same machine, each server in its own process: **pulse** (the real server as \`npm start\` runs it: src/main.ts built to dist/src/main.js), **naive** (bench/servers/naive-server.ts: open, append, fsync, close per event, like the original module; separate calls run concurrently, the events of one batch or stream one after another) and **no-op** (bench/servers/noop-server.ts: answers at once, writes nothing: the grpc-js ceiling). Per scenario and server: ${report.warmupS} s warm-up, then ${report.durationS} s measured. Events/s count durable acknowledgements. Ack latency: a unary call's round trip; a batch's send-to-answer time; a client stream's half-close-to-answer time. Peak RSS: the server process's VmHWM (reset per scenario) and samples of VmRSS.`,
    "",
    "## Throughput and latency",
    "",
    "| scenario | client | pulse events/s | naive events/s | pulse / naive | no-op events/s | pulse / no-op | pulse ack p50 / p99 (ms) | peak RSS MB, pulse (no-op) | target | met? |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
  ];
  for (const o of report.scenarios) {
    const p = o.byServer.pulse;
    const pulseCell = p?.error ? `error: ${p.error}` : n0(rateOf(p));
    lines.push(
      `| ${o.scenario.label} | ${o.scenario.client} | ${pulseCell} | ${n0(rateOf(o.byServer.naive))} | ${ratio(rateOf(p), rateOf(o.byServer.naive), "x")} | ${n0(rateOf(o.byServer.noop))} | ${ratio(rateOf(p), rateOf(o.byServer.noop), "%")} | ${ms(p?.result?.latency.p50Ms)} / ${ms(p?.result?.latency.p99Ms)} | ${mb(p?.peakRssBytes)}${o.byServer.noop ? ` (${mb(o.byServer.noop.peakRssBytes)})` : ""} | ${o.scenario.target?.text ?? "-"} | ${verdictText(o.verdict)} |`,
    );
  }
  const long = report.long;
  if (long) {
    lines.push("", `## Long run: ${n0(long.requestedEvents)} events into a fresh real server`, "");
    if (long.error || long.result === undefined) {
      lines.push(`Failed: ${long.error ?? "no result"}`);
    } else {
      const r = long.result;
      lines.push(
        `IngestEvents batches of 1,000 from the TypeScript client, ${STREAM_IN_FLIGHT} in flight; server RSS sampled every second.`,
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
  lines.push("", "## Every measurement", "", "| scenario | client | server | events/s | ack p50 (ms) | ack p99 (ms) | acks | peak RSS MB |", "|---|---|---|---:|---:|---:|---:|---:|");
  for (const o of report.scenarios) {
    for (const name of o.scenario.servers) {
      const x = o.byServer[name];
      if (x === undefined) continue;
      const r = x.result;
      lines.push(
        x.error
          ? `| ${o.scenario.label} | ${o.scenario.client} | ${name} | error: ${x.error} | | | | ${mb(x.peakRssBytes)} |`
          : `| ${o.scenario.label} | ${o.scenario.client} | ${name} | ${n0(r?.eventsPerSecond)} | ${ms(r?.latency.p50Ms)} | ${ms(r?.latency.p99Ms)} | ${n0(r?.latency.count)} | ${mb(x.peakRssBytes)} |`,
      );
    }
  }
  for (const p of report.profiles) {
    lines.push("", `## CPU profile of the real server: ${p.label}`, "", profileMarkdown(p.summary));
  }
  const missed = [
    ...report.scenarios.filter((o) => o.verdict && !o.verdict.met).map((o) => `${o.scenario.label} (${o.scenario.client}): ${o.scenario.target!.text}; measured ${o.verdict!.detail}`),
    ...(long?.verdict && !long.verdict.met ? [`long run: ${long.target}; measured ${long.verdict.detail}`] : []),
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
