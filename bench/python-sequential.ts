/**
 * `npm run bench:python`: the Python drop-in called one event at a time,
 * beside the original module's in-process loop, in the same run.
 *
 * Per repeat (default 3), on a fresh real server (the build, as `npm start`
 * runs it) and the no-op server: the original loop (open, append, fsync,
 * close per event), the disk's sync latency alone (O_DSYNC pwrite of one
 * record), the durable drop-in (module functions: one shared IngestEvents
 * stream) against the real server and against the no-op server, the unary
 * client (one RPC per call), and background mode (calls, then flush()).
 * Leads with the real server's CPU per event (utime + stime from
 * /proc/<pid>/stat over each driver run) and the 1-minute load average;
 * reports calls/s as min / median / max over the repeats and each repeat's
 * ratio to the original of the same repeat; breaks a durable call down into
 * round trip, server time and sync write; checks that every background event
 * is in the log after flush. Prints Markdown; `--results FILE` also writes it.
 *
 * Flags: --events N (sequential calls per scenario, default 2,000),
 * --background-events N (default 100,000), --repeats N (default 3), --results FILE.
 */
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs, promisify } from "node:util";
import { cpuSecondsOf, loadAverage1m } from "./cpu.js";
import { pythonInterpreter, pythonProblem } from "./drivers/python.js";
import { describeMachine } from "./machine.js";
import { PULSE_SERVER_SCRIPT, repoRoot, ServerProcess } from "./servers/spawn.js";

const run = promisify(execFile);
const progress = (line: string) => process.stderr.write(`[bench:python] ${line}\n`);

/** What bench/drivers/python_sequential.py prints. */
interface DriverReport {
  calls: number;
  seconds: number;
  calls_per_s: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  /** The driver process's CPU per call (all threads), in µs. */
  client_cpu_us: number;
  enqueue_s?: number;
  flush_s?: number;
}

type ScenarioId = "original" | "sync-write" | "durable" | "durable-noop" | "unary" | "background";

/** One scenario's run in one repeat. */
interface Run extends DriverReport {
  /** Real server CPU microseconds per call over the driver's whole run (its connect included); NaN off the real server. */
  serverUsPerCall: number;
}

/** What one repeat measured. */
interface Repeat {
  load1m: number;
  runs: Partial<Record<ScenarioId, Run>>;
  /** The real server's own durable write (pwrite on its O_DSYNC log) during the durable run: mean and median ms per commit, events per commit. */
  serverWriteMs: number;
  serverWriteP50Ms: number;
  eventsPerCommit: number;
  /** Background events found in the log after flush, and how many were logged. */
  backgroundFound: number;
  backgroundLogged: number;
}

function options() {
  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "2000" },
      "background-events": { type: "string", default: "100000" },
      repeats: { type: "string", default: "3" },
      results: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  const int = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  return {
    help: values.help,
    events: int("events", values.events),
    backgroundEvents: int("background-events", values["background-events"]),
    repeats: int("repeats", values.repeats),
    results: values.results,
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** A Prometheus histogram from the server's /metrics: sum, count and the cumulative buckets (upper bound, count). */
interface Histogram {
  sum: number;
  count: number;
  buckets: Array<[number, number]>;
}

async function histogram(metricsPort: number, name: string): Promise<Histogram> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (suffix: string) => Number(new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  const buckets: Array<[number, number]> = [];
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, "gm"))) buckets.push([m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
  return { sum: value("sum"), count: value("count"), buckets };
}

/** The median of what was observed between two readings of a histogram, interpolated linearly inside its bucket. */
function histogramMedian(before: Histogram, after: Histogram): number {
  const counts = after.buckets.map(([le, n], i): [number, number] => [le, n - (before.buckets[i]?.[1] ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  let lower = 0;
  let below = 0;
  for (const [le, n] of counts) {
    if (n >= total / 2) return Number.isFinite(le) ? lower + ((total / 2 - below) / Math.max(1, n - below)) * (le - lower) : lower;
    lower = le;
    below = n;
  }
  return Number.NaN;
}

async function drive(args: string[]): Promise<DriverReport> {
  const { stdout } = await run(pythonInterpreter(), [join(repoRoot, "bench", "drivers", "python_sequential.py"), ...args], {
    cwd: repoRoot,
    env: { ...process.env, PYTHONPATH: [join(repoRoot, "gen", "python"), join(repoRoot, "clients", "python")].join(":") },
    timeout: 600_000,
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!) as DriverReport;
}

/** Records of the log whose data.variable is `tag`. */
async function countTagged(logPath: string, tag: string): Promise<number> {
  const needle = `"variable":"${tag}"`;
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(logPath, "utf8"), crlfDelay: Infinity })) if (line.includes(needle)) n++;
  return n;
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "n/a");
const spread = (xs: number[], digits = 0) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? "n/a" : `${fmt(s[0], digits)} / ${fmt(median(s), digits)} / ${fmt(s[s.length - 1], digits)}`;
};

async function main(): Promise<void> {
  const opts = options();
  if (opts.help) {
    process.stdout.write("npm run bench:python -- [--events N] [--background-events N] [--repeats N] [--results FILE]\n");
    return;
  }
  const problem = await pythonProblem();
  if (problem !== undefined) throw new Error(`${problem}; set PYTHON to an interpreter with grpcio and protobuf`);
  const machine = await describeMachine(pythonInterpreter());
  const work = await mkdtemp(join(tmpdir(), "pulse-bench-python-"));
  const servers: ServerProcess[] = [];
  const repeats: Repeat[] = [];
  try {
    const noop = await ServerProcess.start({ name: "noop", script: "bench/servers/noop-server.ts", args: [] });
    servers.push(noop);
    for (let r = 0; r < opts.repeats; r++) {
      const dir = join(work, `run-${r}`);
      await mkdir(dir, { recursive: true });
      const logPath = join(dir, "pulse_learning_log.jsonl");
      const metricsPort = await freePort();
      const pulse = await ServerProcess.start({
        name: "pulse",
        script: PULSE_SERVER_SCRIPT,
        args: ["--addr", "127.0.0.1:0", "--log-path", logPath, "--log-level", "info", "--metrics-addr", `127.0.0.1:${metricsPort}`],
      });
      servers.push(pulse);
      const repeat: Repeat = { load1m: loadAverage1m(), runs: {}, serverWriteMs: Number.NaN, serverWriteP50Ms: Number.NaN, eventsPerCommit: Number.NaN, backgroundFound: 0, backgroundLogged: 0 };
      // `server`: the real server whose CPU is read around the run (none for the baselines).
      const scenario = async (id: ScenarioId, args: string[], server?: ServerProcess) => {
        const before = server ? cpuSecondsOf(server.pid) : undefined;
        const report = await drive(args);
        const after = server ? cpuSecondsOf(server.pid) : undefined;
        const cpu = before !== undefined && after !== undefined ? after - before : Number.NaN;
        // The driver's warm-up call is one more event on the server.
        repeat.runs[id] = { ...report, serverUsPerCall: (cpu / (report.calls + 1)) * 1e6 };
        progress(`repeat ${r + 1}: ${id}: ${fmt(report.calls_per_s)} calls/s, p50 ${fmt(report.p50_ms, 3)} ms, p99 ${fmt(report.p99_ms, 3)} ms`);
      };
      const events = ["--events", String(opts.events)];
      await scenario("original", ["--scenario", "original", "--dir", dir, ...events]);
      await scenario("sync-write", ["--scenario", "sync-write", "--dir", dir, ...events]);
      const write0 = await histogram(metricsPort, "pulse_log_durable_write_seconds");
      const batch0 = await histogram(metricsPort, "pulse_log_commit_batch_events");
      await scenario("durable", ["--scenario", "durable", "--addr", pulse.address, "--tag", `durable-${r}`, ...events], pulse);
      const write1 = await histogram(metricsPort, "pulse_log_durable_write_seconds");
      const batch1 = await histogram(metricsPort, "pulse_log_commit_batch_events");
      repeat.serverWriteMs = ((write1.sum - write0.sum) / (write1.count - write0.count)) * 1000;
      repeat.serverWriteP50Ms = histogramMedian(write0, write1) * 1000;
      repeat.eventsPerCommit = (batch1.sum - batch0.sum) / (batch1.count - batch0.count);
      await scenario("durable-noop", ["--scenario", "durable", "--addr", noop.address, ...events]);
      await scenario("unary", ["--scenario", "unary", "--addr", pulse.address, "--tag", `unary-${r}`, ...events], pulse);
      const tag = `background-${r}`;
      await scenario("background", ["--scenario", "background", "--addr", pulse.address, "--tag", tag, "--events", String(opts.backgroundEvents)], pulse);
      repeat.backgroundLogged = opts.backgroundEvents + 1;
      repeat.backgroundFound = await countTagged(logPath, tag);
      progress(`repeat ${r + 1}: background events in the log after flush: ${fmt(repeat.backgroundFound)} of ${fmt(repeat.backgroundLogged)}`);
      await pulse.stop();
      servers.splice(servers.indexOf(pulse), 1);
      await rm(dir, { recursive: true, force: true });
      repeats.push(repeat);
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
    await rm(work, { recursive: true, force: true });
  }

  const pick = (id: ScenarioId, f: (x: Run) => number) => repeats.map((r) => (r.runs[id] ? f(r.runs[id]) : Number.NaN));
  const ratio = (id: ScenarioId) => repeats.map((r) => (r.runs[id] && r.runs.original ? r.runs[id].calls_per_s / r.runs.original.calls_per_s : Number.NaN));
  const lines: string[] = [];
  const out = (s = "") => lines.push(s);
  out("## Python drop-in, one call at a time (`npm run bench:python`)");
  out();
  out(`- Command: \`npm run bench:python${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}\`; date ${new Date().toISOString()}`);
  out(`- Machine: ${machine.cores} cores, ${machine.cpuModel}, Linux ${machine.kernel.replace(/^Linux /, "")}, Node ${machine.node}; ${machine.python ?? "python: unknown"}`);
  out(`- 1-minute load average at the start of each repeat: ${repeats.map((r) => r.load1m).join(", ")}`);
  out(`- ${opts.repeats} repeats, each on a fresh real server (\`${PULSE_SERVER_SCRIPT}\`, empty log); ${fmt(opts.events)} sequential \`log_variable_weight_change\` calls per scenario (${fmt(opts.backgroundEvents)} in background mode), after one untimed call. Figures are min / median / max over the repeats; ratios are to the original loop of the same repeat.`);
  out();
  out("| scenario | server CPU µs per call | client CPU µs per call | calls/s | × original | call p50 ms (median) | call p99 ms (median) |");
  out("|---|---:|---:|---:|---:|---:|---:|");
  const row = (label: string, id: ScenarioId) =>
    out(
      `| ${label} | ${spread(pick(id, (x) => x.serverUsPerCall), 1)} | ${spread(pick(id, (x) => x.client_cpu_us), 1)} | ${spread(pick(id, (x) => x.calls_per_s))} | ${spread(ratio(id), 2)} | ${fmt(median(pick(id, (x) => x.p50_ms)), 3)} | ${fmt(median(pick(id, (x) => x.p99_ms)), 3)} |`,
    );
  row("original module: open, append, fsync, close per event, in process", "original");
  row("drop-in, durable mode (module functions: shared IngestEvents stream)", "durable");
  row("drop-in, unary RPC per call (`LearningLogClient()`)", "unary");
  row("drop-in, background mode, calls and then `flush()`", "background");
  const enqueueRate = repeats.map((r) => (r.runs.background?.enqueue_s ? r.runs.background.calls / r.runs.background.enqueue_s : Number.NaN));
  out(`| (background mode, the calls alone: returned at once) | | | ${spread(enqueueRate)} | ${spread(repeats.map((r, i) => enqueueRate[i] / (r.runs.original?.calls_per_s ?? Number.NaN)), 2)} | ${fmt(median(pick("background", (x) => x.p50_ms)), 4)} | ${fmt(median(pick("background", (x) => x.p99_ms)), 4)} |`);
  out();
  // Medians of each repeat's p50: a call's typical time, robust to the tail
  // that other work on the machine adds (means carry it).
  const p50 = (id: ScenarioId) => median(pick(id, (x) => x.p50_ms));
  const whole = p50("durable");
  const roundTrip = p50("durable-noop");
  const sync = median(repeats.map((r) => r.serverWriteP50Ms));
  out("Where a durable call's time goes (median of the repeats' p50, ms):");
  out();
  out("| part | ms | how it is measured |");
  out("|---|---:|---|");
  out(`| whole call, real server | ${fmt(whole, 3)} | durable mode against the real server |`);
  out(`| round trip: Python client, grpcio, loopback, grpc-js | ${fmt(roundTrip, 3)} | the same calls against the no-op server (answers at once, writes nothing) |`);
  out(`| server time | ${fmt(whole - roundTrip, 3)} | whole call minus round trip |`);
  out(`| of which the sync write | ${fmt(sync, 3)} | the server's own durable writes during the same calls: median of \`pulse_log_durable_write_seconds\`, interpolated inside its bucket |`);
  out(`| of which the rest: decode, validate, encode, commit turn, thread-pool hop, HTTP/2 write of the answer | ${fmt(whole - roundTrip - sync, 3)} | server time minus the sync write |`);
  out(`| the disk's sync write, from Python | ${fmt(p50("sync-write"), 3)} | O_DSYNC pwrite of one record, same file system, its own run (the disk's latency varies from run to run) |`);
  out(`| the original's whole call | ${fmt(p50("original"), 3)} | open, append, fsync, close |`);
  out();
  out(`The server's own durable writes during the durable runs took ${fmt(median(repeats.map((r) => r.serverWriteMs)), 3)} ms on average (\`pulse_log_durable_write_seconds\` sum / count; a mean, so with the tail), ${fmt(median(repeats.map((r) => r.eventsPerCommit)), 2)} events per commit.`);
  out();
  const durableRatio = median(ratio("durable"));
  const backgroundRatio = median(ratio("background"));
  const lost = repeats.reduce((n, r) => n + (r.backgroundLogged - r.backgroundFound), 0);
  // Each repeat's durable p50 less its own O_DSYNC write's p50: the disk's latency moves between repeats.
  const aboveWrite = median(repeats.map((r) => (r.runs.durable && r.runs["sync-write"] ? r.runs.durable.p50_ms - r.runs["sync-write"].p50_ms : Number.NaN)));
  const backgroundRate = median(pick("background", (x) => x.calls_per_s));
  out("| target (docs: DESIGN.md) | measured (median) | met? |");
  out("|---|---:|---|");
  out(`| durable call p50 <= one small O_DSYNC write + 0.3 ms (each repeat's own write) | +${fmt(aboveWrite, 3)} ms | ${aboveWrite <= 0.3 ? "yes" : "**no**"} |`);
  out(`| background mode >= 100,000 calls/s (calls and flush) | ${fmt(backgroundRate)} | ${backgroundRate >= 100_000 ? "yes" : "**no**"} |`);
  out(`| durable mode >= 1.0x the original | ${fmt(durableRatio, 2)}x | ${durableRatio >= 1 ? "yes" : "**no**"} |`);
  out(`| background mode >= 20x the original | ${fmt(backgroundRatio, 1)}x | ${backgroundRatio >= 20 ? "yes" : "**no**"} |`);
  out(`| background mode: every event in the log after flush() | ${lost === 0 ? "all" : `${fmt(lost)} missing`} | ${lost === 0 ? "yes" : "**no**"} |`);
  const markdown = `${lines.join("\n")}\n`;
  process.stdout.write(`\n${markdown}`);
  if (opts.results !== undefined) {
    await writeFile(resolve(repoRoot, opts.results), markdown);
    progress(`wrote ${opts.results}`);
  }
}

main().catch((err) => {
  process.stderr.write(`bench:python: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
