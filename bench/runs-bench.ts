/**
 * Runs benchmark (issue 22): what reading one run and listing the runs cost
 * on a large log, and what the run index costs the ingest path.
 *
 *   npm run bench:runs -- [--part all|log|ingest] [--records 10000000] [--repeats 3] ...
 *
 * Part "log": writes a log of `--records` records (default 10,000,000) with
 * 50 runs through the real Appender (bench/runs-log.ts: 10 sections of 5
 * concurrent runs, records of no run between, two measured runs of
 * `--target-records` each: one spread over a whole section, one dense in 5 %
 * of another), then starts the real server on it four times:
 *  1. first start, no checkpoint: the index is built from the whole log;
 *  2. clean restart (SIGTERM wrote the checkpoint);
 *  3. after kill -9: `--kill-events` more events were ingested first (half in
 *     a run), then the server was killed; the checkpoint is as old as the last
 *     one the server wrote (every 30 s; the report says how far behind);
 *  4. the checkpoint file deleted: the index is rebuilt from the whole log.
 * Each time: the start to "listening", the first ListRuns (it waits for the
 * index to catch up with the log), and the server's "run index caught up"
 * line; at starts 2 and 3 also ReadEvents `runs: [id]` of each measured run,
 * ListRuns and the `pulse-log runs` command (a new process, as a user runs
 * it), `--repeats` times each: client wall time, records/s, server CPU.
 *
 * Part "ingest": server CPU per durable event (utime + stime, all threads,
 * /proc) of IngestEvents batches of 1,000 of the seed mix (rule outcomes as
 * objects {"delta", "applied"}), 16 in flight, with a run on every event
 * against the same events without one; a fresh server on an empty log per
 * variant and repeat, warmed `--warmup-s` (default 4) before `--measure-s`
 * (default 5) are measured, variants in rotating order. `--baseline-server
 * SCRIPT` adds another build (e.g. one from before runs) without a run
 * (with one: `--baseline-with-run`).
 *
 * `--server SCRIPT` runs another build of the server than dist/src/main.js,
 * `--cli LAUNCHER` another `pulse-log` than bin/pulse-log.js.
 * Traffic is on 127.0.0.1 only; the temporary folder is removed at the end.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { once } from "node:events";
import { mkdtemp, readFile, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { IngestEventsRequestSchema, LearningLogService, RunStatus, type IngestEventsRequest, type LearningEvent, type RunInfo } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { systemClock } from "../src/clock.js";
import { readEventBatch } from "../src/codec/event-batch.js";
import { EventWriter } from "../src/events/event-writer.js";
import { defaultEventLimits } from "../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys } from "../src/guard/pii.js";
import { runMember } from "../src/record/body.js";
import { RECORD_END, recordHead, recordPrefix } from "../src/record/layout.js";
import { createClient } from "../src/rpc/client.js";
import { RunIndex, type IndexedLog } from "../src/runs/run-index.js";
import { RecordBuffer } from "../src/store/record-buffer.js";
import type { AppendEntry, AppendResult, LogStore } from "../src/store/store.js";
import { cpuSecondsOf, loadAverage1m } from "./cpu.js";
import { driveBidi } from "./drivers/bidi.js";
import type { LogClient } from "./drivers/driver.js";
import { seedMixEvent } from "./drivers/fixtures.js";
import { minMedianMax, ratioOfMedians, textTable } from "./figures.js";
import { summarizeProfile } from "./profile-summary.js";
import { runsLayout, TARGET_DENSE, TARGET_SPREAD, writeRunsLog, type RunsLayout, type WrittenLog } from "./runs-log.js";
import { STREAM_IN_FLIGHT } from "./scenarios.js";
import { serverCpuRun, type ServerCpuRun } from "./server-cpu-run.js";
import { PULSE_SERVER_SCRIPT, repoRoot } from "./servers/spawn.js";

const { values: args } = parseArgs({
  options: {
    part: { type: "string", default: "all" },
    records: { type: "string", default: "10000000" },
    groups: { type: "string", default: "10" },
    "runs-per-group": { type: "string", default: "5" },
    "target-records": { type: "string", default: "10000" },
    repeats: { type: "string", default: "3" },
    "kill-events": { type: "string", default: "200000" },
    "warmup-s": { type: "string", default: "4" },
    "measure-s": { type: "string", default: "5" },
    server: { type: "string", default: PULSE_SERVER_SCRIPT },
    "baseline-server": { type: "string" },
    "baseline-name": { type: "string", default: "baseline build" },
    "baseline-with-run": { type: "boolean", default: false },
    "work-dir": { type: "string", default: tmpdir() },
    "cpu-prof": { type: "string" },
    cli: { type: "string", default: "bin/pulse-log.js" },
  },
});
const num = (name: keyof typeof args): number => {
  const n = Number(args[name]);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, not ${String(args[name])}`);
  return n;
};
const REPEATS = Math.max(1, num("repeats"));
const scriptPath = (s: string) => (isAbsolute(s) ? s : resolve(repoRoot, s));

/** The real server in a child process whose log lines are kept (the run index's lines are read from them). */
class WatchedServer {
  readonly lines: Array<Record<string, unknown>> = [];
  private readonly exited: Promise<void>;
  private waiters: Array<() => void> = [];
  address = "";
  listeningMs = 0;

  private constructor(private readonly child: ChildProcess) {
    this.exited = once(child, "exit").then(() => undefined);
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(script: string, args: string[], nodeFlags: string[] = [], timeoutMs = 120_000): Promise<WatchedServer> {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...nodeFlags, scriptPath(script), "--addr", "127.0.0.1:0", ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    const server = new WatchedServer(child);
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr = (stderr + c).slice(-4000)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        server.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        return;
      }
      for (const w of server.waiters.splice(0)) w();
    });
    const listening = await server.waitFor((l) => l.msg === "listening", timeoutMs);
    if (listening === undefined) {
      child.kill("SIGKILL");
      throw new Error(`server did not listen within ${timeoutMs} ms\n${stderr}`);
    }
    server.address = `127.0.0.1:${String(listening.port)}`;
    server.listeningMs = performance.now() - t0;
    return server;
  }

  /** The first log line matching `test`, waiting up to `timeoutMs` for it (undefined if it did not come, or the process ended). */
  async waitFor(test: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      const left = deadline - performance.now();
      if (left <= 0 || this.child.exitCode !== null || this.child.signalCode !== null) return undefined;
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          wake();
        });
      });
    }
  }

  /** SIGTERM (the server drains and writes its checkpoint), SIGKILL after 60 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 60_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** kill -9. */
  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }
}

/** One timed call: client wall seconds, server CPU seconds over it, what came back. */
interface Timed {
  seconds: number;
  serverCpuS: number;
  records: number;
}

async function timed(pid: number, call: () => Promise<number>): Promise<Timed> {
  const cpu0 = cpuSecondsOf(pid) ?? Number.NaN;
  const t0 = performance.now();
  const records = await call();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, serverCpuS: (cpuSecondsOf(pid) ?? Number.NaN) - cpu0, records };
}

const readRun = (client: LogClient, run: string) => async () => {
  let n = 0;
  const member = `,"run":"${run}","seq":`;
  for await (const m of client.readEvents({ runs: [run] })) {
    for (const r of m.records) if (!r.json.includes(member)) throw new Error(`ReadEvents runs: [${run}] returned a record of another run: ${r.json}`);
    n += m.records.length;
  }
  return n;
};
const listRuns = (client: LogClient) => async () => (await client.listRuns({})).runs.length;

const TICKS_PER_S = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** CPU seconds of this process's children that have ended and been waited for (cutime + cstime of /proc/self/stat). */
function endedChildrenCpuS(): number {
  const text = readFileSync("/proc/self/stat", "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_S;
}

/** One `pulse-log` command, a new process as a user runs it: wall seconds, the process's CPU seconds, lines printed. */
interface CliRun {
  seconds: number;
  cpuS: number;
  lines: number;
  /** True when the launcher ran the sources through tsx (dist/ missing or older than the sources) instead of the build. */
  throughTsx: boolean;
}

/** `node bin/pulse-log.js ARGS` (e.g. `runs --addr ADDR`; `--cli` names another launcher), end to end. */
async function cli(cliArgs: string[]): Promise<CliRun> {
  const cpu0 = endedChildrenCpuS();
  const t0 = performance.now();
  const child = spawn(process.execPath, [scriptPath(args.cli!), ...cliArgs], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`pulse-log ${cliArgs.join(" ")} exited ${code}: ${err.slice(-2000)}`);
  return { seconds: (performance.now() - t0) / 1000, cpuS: endedChildrenCpuS() - cpu0, lines: out.split("\n").filter((l) => l.length > 0).length, throughTsx: err.includes("through tsx") };
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");
const list = (xs: number[], fmt = f3) => xs.map(fmt).join(", ");

/** The seed mix's event `i` (rule outcomes as objects {"delta", "applied"}), in `run` if given. */
function seedEvent(i: number, run: string | undefined): LearningEvent {
  return seedMixEvent(i, { run });
}

/** 8 distinct IngestEvents batches of 1,000 seed-mix events, every event in `run` if given. */
function seedBatches(run: string | undefined, batchEvents = 1000, distinct = 8): IngestEventsRequest[] {
  return Array.from({ length: distinct }, (_, b) => create(IngestEventsRequestSchema, { batchId: 0n, events: Array.from({ length: batchEvents }, (_, j) => seedEvent(b * batchEvents + j, run)) }));
}

interface StartReport {
  label: string;
  checkpoint: string;
  loadAverage: number;
  listeningMs: number;
  firstList: Timed;
  indexedSeq: bigint;
  caughtUp?: Record<string, unknown>;
  restored?: Record<string, unknown>;
  reads: Map<string, Timed[]>;
  lists: Timed[];
  cli: CliRun[];
  cliVersion: CliRun[];
}

/** Where ListRuns differs from the layout written: each run's record count, and the status of those that end with run_finished. */
function layoutMismatches(layout: RunsLayout, listed: readonly RunInfo[]): string[] {
  const byRun = new Map(listed.map((r) => [r.run, r]));
  const out: string[] = [];
  for (const plan of layout.runs) {
    const r = byRun.get(plan.run);
    if (r === undefined) out.push(`${plan.run} not listed`);
    else if (Number(r.eventCount) !== plan.size) out.push(`${plan.run}: ${r.eventCount} records, ${plan.size} written`);
    else if (plan.end !== "none" && r.status !== (plan.end === "finished" ? RunStatus.FINISHED : RunStatus.FAILED)) out.push(`${plan.run}: status ${RunStatus[r.status]}, ${plan.end} written`);
  }
  return out;
}

async function startAndMeasure(label: string, checkpoint: string, logPath: string, targets: string[], full: boolean, expect: number, layout: RunsLayout): Promise<{ server: WatchedServer; client: LogClient; report: StartReport }> {
  const loadAverage = loadAverage1m();
  const server = await WatchedServer.start(args.server!, ["--log-path", logPath, "--log-level", "info"]);
  const client = createClient(LearningLogService, server.address, undefined, { "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  let indexedSeq = 0n;
  let listed: RunInfo[] = [];
  const firstList = await timed(server.pid, async () => {
    const r = await client.listRuns({});
    indexedSeq = r.indexedSeq;
    listed = r.runs;
    return r.runs.length;
  });
  const mismatches = layoutMismatches(layout, listed);
  // The line is written before the catch-up's promise resolves; give the pipe a moment.
  const caughtUp = await server.waitFor((l) => l.msg === "run index caught up with the log", 2000);
  const restored = server.lines.find((l) => l.msg === "run index restored from its checkpoint");
  const report: StartReport = { label, checkpoint, loadAverage, listeningMs: server.listeningMs, firstList, indexedSeq, caughtUp, restored, reads: new Map(), lists: [], cli: [], cliVersion: [] };
  console.log(
    `${label}: listening after ${int(server.listeningMs)} ms, first ListRuns answered ${int(server.listeningMs + firstList.seconds * 1000)} ms after the spawn; first ListRuns ${f3(firstList.seconds)} s (${firstList.records} runs, indexed_seq ${indexedSeq}, server ${f2(firstList.serverCpuS)} CPU-s); ` +
      `${caughtUp ? `"caught up" ${String(caughtUp.fromSeq)}..${String(caughtUp.toSeq)} in ${String(caughtUp.ms)} ms` : "no catch-up line"}; ${restored ? `restored from checkpoint at seq ${String(restored.seq)}` : "no checkpoint restored"}; load ${loadAverage}; ` +
      (mismatches.length === 0 ? `every run written listed with its count and status` : `ListRuns differs from the log written: ${mismatches.slice(0, 5).join("; ")}`),
  );
  if (full) {
    for (let r = 0; r < REPEATS; r++) {
      for (const run of targets) {
        const t = await timed(server.pid, readRun(client, run));
        if (t.records !== expect) throw new Error(`ReadEvents runs: [${run}] returned ${t.records} records, expected ${expect}`);
        report.reads.set(run, [...(report.reads.get(run) ?? []), t]);
      }
      report.lists.push(await timed(server.pid, listRuns(client)));
      report.cli.push(await cli(["runs", "--addr", server.address]));
      report.cliVersion.push(await cli(["--version"]));
    }
    for (const run of targets) {
      const ts = report.reads.get(run)!;
      console.log(`  ReadEvents runs: [${run}]: ${ts[0].records} records; wall s ${list(ts.map((t) => t.seconds))}; records/s ${list(ts.map((t) => t.records / t.seconds), int)}; server CPU-s ${list(ts.map((t) => t.serverCpuS), f2)}`);
    }
    console.log(`  ListRuns: wall s ${list(report.lists.map((t) => t.seconds))}; server CPU-s ${list(report.lists.map((t) => t.serverCpuS), f2)}`);
    console.log(`  pulse-log runs (new process, end to end): wall s ${list(report.cli.map((c) => c.seconds))}; its CPU-s ${list(report.cli.map((c) => c.cpuS), f2)}; ${report.cli[0].lines} lines printed; ${report.cli.some((c) => c.throughTsx) ? "sources through tsx (dist/ older than the sources)" : "from the build (dist/)"}`);
    console.log(`  pulse-log --version (the command's start alone, no call): wall s ${list(report.cliVersion.map((c) => c.seconds))}; its CPU-s ${list(report.cliVersion.map((c) => c.cpuS), f2)}`);
  }
  return { server, client, report };
}

async function checkpointSeq(path: string): Promise<number | undefined> {
  try {
    return (JSON.parse(await readFile(path, "utf8")) as { seq: number }).seq;
  } catch {
    return undefined;
  }
}

async function logPart(): Promise<void> {
  const layout: RunsLayout = runsLayout({ records: num("records"), groups: num("groups"), runsPerGroup: num("runs-per-group"), targetRecords: num("target-records") });
  const dir = await mkdtemp(join(args["work-dir"]!, "runs-bench-"));
  try {
    const logPath = join(dir, "pulse_learning_log.jsonl");
    const checkpointPath = join(dir, "pulse_learning_log.run-index.json");
    console.log(`runs log: ${layout.records.toLocaleString("en-US")} records, ${layout.runs.length} runs in ${layout.groups} sections of ${layout.sectionRecords.toLocaleString("en-US")}; load ${loadAverage1m()}`);
    const written: WrittenLog = await writeRunsLog(logPath, layout, { maxSeconds: 3600, progress: (l) => console.log(l) });
    const inRuns = layout.runs.reduce((s, r) => s + r.size, 0);
    console.log(
      `runs log written: ${written.records.toLocaleString("en-US")} records, ${(written.bytes / 1e9).toFixed(2)} GB (${Math.round(written.bytes / written.records)} bytes/line) in ${written.files} files, ${f2(written.seconds)} s; ` +
        `${inRuns.toLocaleString("en-US")} in runs (${((100 * inRuns) / written.records).toFixed(1)} %), run sizes ${Math.min(...layout.runs.map((r) => r.size))}..${Math.max(...layout.runs.map((r) => r.size))}`,
    );
    const targets = [TARGET_SPREAD, TARGET_DENSE];
    for (const run of targets) {
      const plan = layout.runs.find((r) => r.run === run)!;
      const s = written.spans.get(run)!;
      let seqs = 0;
      for (let i = 0; i < s.length; i += 2) seqs += s[i + 1] - s[i] + 1;
      const others = layout.runs.filter((r) => r.group === plan.group && r !== plan);
      console.log(
        `  ${run}: ${plan.size} records over ${((plan.window[1] - plan.window[0]) * 100).toFixed(0)} % of section ${plan.group} (seqs ${s[0]}..${s[s.length - 1]}), beside ${others.length} concurrent runs (${others.map((o) => o.size).join(", ")} records) and records of no run; ` +
          `the index's spans: ${s.length / 2}, ${seqs.toLocaleString("en-US")} seqs read for ${plan.size} records`,
      );
    }
    const expect = num("target-records");

    // 1. First start: no checkpoint.
    let { server, client } = await startAndMeasure("1. first start, no checkpoint (index built from the whole log)", "absent", logPath, targets, false, expect, layout);
    client.close();
    await server.stop();
    console.log(`  checkpoint after SIGTERM: seq ${String(await checkpointSeq(checkpointPath))}`);

    // 2. Clean restart.
    ({ server, client } = await startAndMeasure("2. clean restart (checkpoint present, current)", "current", logPath, targets, true, expect, layout));
    const killEvents = num("kill-events");
    if (killEvents > 0) {
      const withRun = seedBatches("late-run");
      const noRun = seedBatches(undefined);
      const t0 = performance.now();
      const half = Math.ceil(killEvents / 2000) * 1000;
      const a = await driveBidi(client, { batches: withRun, batchEvents: 1000, inFlight: STREAM_IN_FLIGHT, totalEvents: half, maxSeconds: 120 });
      const b = await driveBidi(client, { batches: noRun, batchEvents: 1000, inFlight: STREAM_IN_FLIGHT, totalEvents: killEvents - half, maxSeconds: 120 });
      const logEnd = (await client.listRuns({ runs: ["late-run"] })).indexedSeq;
      const before = await checkpointSeq(checkpointPath);
      await server.kill9();
      client.close();
      console.log(
        `  ingested ${int(a.events + b.events)} events (${int(a.events)} in run late-run) in ${f2((performance.now() - t0) / 1000)} s, then kill -9: ` +
          `log ends at seq ${logEnd}, checkpoint at seq ${String(before)} (${before === undefined ? "none" : `${(Number(logEnd) - before).toLocaleString("en-US")} records behind`})`,
      );
      ({ server, client } = await startAndMeasure("3. after kill -9 (checkpoint stale)", "stale", logPath, targets, true, expect, layout));
      const late = (await client.listRuns({ runs: ["late-run"] })).runs[0];
      console.log(`  late-run after kill -9: ${String(late?.eventCount)} records listed, ${a.events} acknowledged before the kill${Number(late?.eventCount) === a.events ? "" : ": DIFFERENT"}`);
    } else console.log("  --kill-events 0: no kill -9 start");
    client.close();
    await server.stop();

    // 4. Checkpoint deleted: rebuilt from the whole log.
    await unlink(checkpointPath);
    ({ server, client } = await startAndMeasure("4. checkpoint deleted (index rebuilt from the whole log)", "deleted", logPath, targets, false, expect, layout));
    const again = await timed(server.pid, readRun(client, TARGET_SPREAD));
    console.log(`  then ReadEvents runs: [${TARGET_SPREAD}]: ${f3(again.seconds)} s, server ${f2(again.serverCpuS)} CPU-s`);
    client.close();
    await server.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The main thread's self time per measured event, by function, of the profile in `dir` (start-up and warm-up left out). */
function printProfile(dir: string, skipMs: number, events: number): void {
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
    const summary = summarizeProfile(join(dir, file), { skipMs, top: 25 });
    const per = (ms: number) => ((ms * 1000) / events).toFixed(3);
    console.log(`  profile ${join(dir, file)}: main thread busy ${per(summary.busyMs)} us/event`);
    for (const f of summary.functions) console.log(`    ${per(f.selfMs)} us/event  ${f.name}`);
  }
}

/**
 * The run index's own cost on the ingest path, in this process: what
 * `RunIndex.noteWritten` (the event writer's observer) takes per event for
 * batches of 1,000 seed-mix-like records with a run, and for the same
 * records without one. CPU time of this process (one thread), rounds
 * alternated.
 */
function indexPart(): void {
  const silent = { info: () => undefined, warn: () => undefined } as unknown as ConstructorParameters<typeof RunIndex>[1];
  const batchEvents = 1000;
  const batches = 200;
  const bodyOf = (i: number) => {
    const e = seedEvent(i, undefined);
    const type = e.event.case === "generic" ? e.event.value.eventType : e.event.case === "ruleActivation" ? "rule_activation" : "variable_weight_update";
    return `"event_type":"${type}","data":{"variable":"var_${i % 500}","i":${i}}`;
  };
  // Bodies as the event writer hands them over: the event's body and the run member joined per event (a new, unflattened string each time).
  // With the event type beside, as the event writer hands it to the index (it does not read the joined body).
  const plain = Array.from({ length: batchEvents }, (_, i) => bodyOf(i));
  const typeOf = (body: string) => body.slice(14, body.indexOf('"', 14));
  const make = (run: string | undefined): AppendEntry[][] =>
    Array.from({ length: batches }, () => plain.map((body) => ({ eventId: randomUUID(), body: run === undefined ? body : body + runMember(run), run, eventType: run === undefined ? undefined : typeOf(body) })));
  const variants = [
    { name: "records with a run (one run)", run: "ingest-run" as string | undefined },
    { name: "records without a run", run: undefined },
  ];
  const rounds = Math.max(REPEATS, 5);
  const ns = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  console.log(`index: RunIndex.noteWritten alone, in this process, ${batches} batches of ${batchEvents} per round, ${rounds} rounds alternated; load ${loadAverage1m()}`);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + r) % variants.length];
      const index = new RunIndex({ records: undefined as unknown as IndexedLog["records"], lastSeq: 0 }, silent);
      const timestamp = new Date().toISOString();
      const entries = make(v.run);
      let seq = 0;
      const all = entries.map((batch) => batch.map(() => ({ seq: ++seq, timestamp, duplicate: false })));
      const c0 = process.cpuUsage();
      for (let b = 0; b < batches; b++) index.noteWritten(entries[b], all[b]);
      const c = process.cpuUsage(c0);
      if (index.indexedSeq !== seq) throw new Error(`the index covers seq ${index.indexedSeq}, not ${seq}`);
      ns.get(v.name)!.push(((c.user + c.system) * 1000) / seq);
    }
  }
  console.log(textTable([["variant", "ns per event min / median / max"], ...variants.map((v) => [v.name, minMedianMax(ns.get(v.name)!, 0)])]));
}

/** The appender's encoding of records into its record buffer (no disk, no hash chain): what the request path ends in. */
class EncodingStore {
  readonly records = new RecordBuffer(8 * 1024 * 1024);
  private seq = 0;

  append(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    const timestamp = new Date().toISOString().replace("Z", "000Z");
    const head = recordHead(timestamp);
    if (this.records.length > 4 * 1024 * 1024) this.records.reset();
    const results: AppendResult[] = [];
    for (const e of entries) {
      this.records.write(`${recordPrefix(e.eventId, head, e.body, ++this.seq)}${RECORD_END}`);
      results.push({ seq: this.seq, timestamp, duplicate: false });
    }
    return Promise.resolve(results);
  }
}

/**
 * The request path in this process, as the server runs it for IngestEvents
 * minus gRPC, the disk and the hash chain: the batch read by hand, settled
 * and written by the EventWriter (PII redact, default limits) into the
 * record encoding, the run index told of every append. Seed-mix batches of
 * 1,000 with a run and without; also with a run and no index (what the
 * run costs before the index). CPU time of this process, rounds alternated.
 */
async function pathPart(): Promise<void> {
  const limits = defaultEventLimits;
  const silent = { info: () => undefined, warn: () => undefined } as unknown as ConstructorParameters<typeof RunIndex>[1];
  const bytesOf = (run: string | undefined) => seedBatches(run).map((b) => toBinary(IngestEventsRequestSchema, b));
  const variants = [
    { name: "with a run, run index told", input: bytesOf("ingest-run"), index: true },
    { name: "without a run, run index told (the server's setup)", input: bytesOf(undefined), index: true },
    { name: "with a run, no run index", input: bytesOf("ingest-run"), index: false },
  ];
  const rounds = Math.max(REPEATS, 5);
  const batches = 300;
  const us = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  console.log(`path: the IngestEvents request path in this process (read by hand, EventWriter, record encoding; no gRPC, disk or hash chain), ${batches} batches of 1,000 per round after 100 unmeasured, ${rounds} rounds alternated; load ${loadAverage1m()}`);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + r) % variants.length];
      const index = new RunIndex({ records: undefined as unknown as IndexedLog["records"], lastSeq: 0 }, silent);
      const writer = new EventWriter(
        new EncodingStore() as unknown as LogStore,
        { limits, clock: systemClock, trustMetrics: () => Promise.reject(new Error("no event of these payloads reads the tracker")) },
        limits,
        createPiiGuard({ mode: "redact", sensitiveKeys: defaultSensitiveKeys }),
        v.index ? { written: (entries, results) => index.noteWritten(entries, results) } : undefined,
      );
      const one = async (bytes: Uint8Array) => {
        const request = (readEventBatch(IngestEventsRequestSchema, bytes) ?? fromBinary(IngestEventsRequestSchema, bytes)) as IngestEventsRequest;
        const outcome = await writer.writeBatch(writer.settle(request.events), { wait: true });
        if (outcome.errors.length > 0) throw new Error(`an event was refused: ${outcome.errors[0].message}`);
        return outcome.results.length;
      };
      for (let n = 0; n < 100; n++) await one(v.input[n % v.input.length]);
      const c0 = process.cpuUsage();
      let events = 0;
      for (let n = 0; n < batches; n++) events += await one(v.input[n % v.input.length]);
      const c = process.cpuUsage(c0);
      us.get(v.name)!.push((c.user + c.system) / events);
    }
  }
  const base = us.get(variants[1].name)!;
  console.log(textTable([["variant", "us per event min / median / max", "ratio"], ...variants.map((v) => [v.name, minMedianMax(us.get(v.name)!, 3), ratioOfMedians(us.get(v.name)!, base)])]));
}

async function ingestPart(): Promise<void> {
  const timing = { warmupS: Number(args["warmup-s"]), measureS: Number(args["measure-s"]) };
  const variants = [
    { name: "events with a run", script: args.server!, run: "ingest-run" as string | undefined },
    { name: "events without a run", script: args.server!, run: undefined },
    ...(args["baseline-server"] !== undefined
      ? [{ name: `${args["baseline-name"]}, ${args["baseline-with-run"] ? "with" : "without"} a run`, script: args["baseline-server"], run: args["baseline-with-run"] ? "ingest-run" : undefined }]
      : []),
  ];
  const batches = new Map(variants.map((v) => [v.name, seedBatches(v.run)]));
  const results = new Map<string, ServerCpuRun[]>(variants.map((v) => [v.name, []]));
  console.log(`ingest: IngestEvents seed mix (object rule outcomes), batches of 1,000, ${STREAM_IN_FLIGHT} in flight, ${timing.warmupS} s warm-up + ${timing.measureS} s measured, a fresh server per run, ${REPEATS} repeats`);
  for (let r = 0; r < REPEATS; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + r) % variants.length];
      const dir = await mkdtemp(join(args["work-dir"]!, "runs-ingest-"));
      try {
        const profDir = args["cpu-prof"] === undefined ? undefined : join(resolve(args["cpu-prof"]), `${v.run === undefined ? "no-run" : "run"}-${variants.indexOf(v)}-${r + 1}`);
        const server = await WatchedServer.start(v.script, ["--log-path", join(dir, "pulse_learning_log.jsonl"), "--log-level", "info"], profDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", profDir]);
        const client = createClient(LearningLogService, server.address);
        try {
          const run = await serverCpuRun(server.pid, timing, (t) => driveBidi(client, { batches: batches.get(v.name)!, batchEvents: 1000, inFlight: STREAM_IN_FLIGHT, timing: t }));
          results.get(v.name)!.push(run);
          console.log(`repeat ${r + 1}, ${v.name}: ${run.usPerEvent.toFixed(2)} us/event, ${int(run.eventsPerSecond)} events/s, ${run.serverCores.toFixed(2)} cores, load ${run.loadAverage}`);
          client.close();
          await server.stop();
          if (profDir !== undefined) printProfile(profDir, server.listeningMs + timing.warmupS * 1000, run.eventsPerSecond * timing.measureS);
        } finally {
          client.close();
          await server.stop();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  const base = results.get("events without a run")!.map((x) => x.usPerEvent);
  console.log(
    textTable([
      ["variant", "us/event min / median / max", "ratio", "events/s median", "loads"],
      ...variants.map((v) => {
        const rs = results.get(v.name)!;
        const eps = rs.map((x) => x.eventsPerSecond).sort((a, b) => a - b)[Math.floor(rs.length / 2)];
        return [v.name, minMedianMax(rs.map((x) => x.usPerEvent)), ratioOfMedians(rs.map((x) => x.usPerEvent), base), int(eps), rs.map((x) => x.loadAverage).join(", ")];
      }),
    ]),
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const part = args.part;
  if (!["all", "log", "ingest", "index", "path"].includes(part!)) throw new Error(`--part must be all, log, ingest, index or path, not ${part}`);
  console.log(`runs benchmark: node ${process.version}, server ${scriptPath(args.server!)}; ${new Date().toISOString()}`);
  if (part === "all" || part === "index") indexPart();
  if (part === "all" || part === "path") await pathPart();
  if (part === "all" || part === "ingest") await ingestPart();
  if (part === "all" || part === "log") await logPart();
}
