/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per
 * function and per package, biggest first.
 *
 * Usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--skip-ms MS]
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function (or one package). */
export interface SelfTime {
  /** Function name and where it is (path relative to the repository, line from 1), or a package name. */
  name: string;
  selfMs: number;
  /** Share of all samples, idle excluded, in percent. */
  percent: number;
}

/** A profile's self time by function and by package. */
export interface ProfileSummary {
  /** Sampled time, idle excluded, in ms. */
  busyMs: number;
  /** Idle time, in ms. */
  idleMs: number;
  functions: SelfTime[];
  packages: SelfTime[];
}

const repoRoot = fileURLToPath(new URL("../", import.meta.url));

function location(url: string): string {
  if (url === "") return "";
  const path = url.startsWith("file://") ? fileURLToPath(url) : url;
  // Packages from their node_modules folder on (wherever it is, even through
  // a link); the repository's files relative to it; node's own as node:...
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) return path.slice(nm + 1);
  return path.startsWith("/") ? relative(repoRoot, path) : path;
}

/** Which package (or part of this repository) a location belongs to. */
export function packageOf(where: string): string {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
  if (nm) return nm[1];
  const own = /^(src|gen|bench)\/([^/]+)/.exec(where);
  if (own) return own[1] === "src" ? `src/${own[2]}` : own[1];
  if (where.startsWith("node:")) return "node (core)";
  return where === "" ? "(native / runtime)" : where;
}

function top(map: Map<string, number>, busyMs: number, n: number): SelfTime[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, selfMs]) => ({ name, selfMs, percent: (100 * selfMs) / busyMs }));
}

/** Options of {@link summarizeProfile}. */
export interface SummaryOptions {
  /** Rows per table. Default 20. */
  top?: number;
  /** Leave out the first milliseconds of the profile (a server's start-up). Default 0. */
  skipMs?: number;
}

/** Reads a .cpuprofile and sums self time per function and per package. */
export function summarizeProfile(path: string, options: SummaryOptions = {}): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const skipUs = (options.skipMs ?? 0) * 1000;
  let elapsedUs = 0;
  // timeDeltas[i] is the time before sample i: sample i ran until sample i+1.
  for (let i = 0; i < profile.samples.length; i++) {
    elapsedUs += profile.timeDeltas[i] ?? 0;
    if (elapsedUs < skipUs) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
  }
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  let busyMs = 0;
  let idleMs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const ms = us / 1000;
    if (frame.functionName === "(idle)") {
      idleMs += ms;
      continue;
    }
    busyMs += ms;
    const where = location(frame.url);
    const name = `${frame.functionName || "(anonymous)"}${where ? ` ${where}:${frame.lineNumber + 1}` : ""}`;
    functions.set(name, (functions.get(name) ?? 0) + ms);
    const pkg = frame.functionName.startsWith("(") && where === "" ? frame.functionName : packageOf(where);
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms);
  }
  const topN = options.top ?? 20;
  return { busyMs, idleMs, functions: top(functions, busyMs, topN), packages: top(packages, busyMs, topN) };
}

/** The summary as two Markdown tables. */
export function profileMarkdown(summary: ProfileSummary): string {
  const row = (s: SelfTime) => `| ${s.name.replace(/\|/g, "\\|")} | ${s.selfMs.toFixed(0)} | ${s.percent.toFixed(1)} % |`;
  return [
    `Busy ${summary.busyMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms (main thread).`,
    "",
    "| self time by package | ms | share of busy |",
    "|---|---:|---:|",
    ...summary.packages.map(row),
    "",
    "| self time by function | ms | share of busy |",
    "|---|---:|---:|",
    ...summary.functions.map(row),
  ].join("\n");
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string" }, "skip-ms": { type: "string" } } });
  if (positionals.length !== 1) {
    process.stderr.write("Usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--skip-ms MS]\n");
    process.exit(2);
  }
  const summary = summarizeProfile(positionals[0], { top: Number(values.top ?? 25), skipMs: Number(values["skip-ms"] ?? 0) });
  process.stdout.write(profileMarkdown(summary) + "\n");
}
