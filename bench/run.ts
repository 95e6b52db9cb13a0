/**
 * `npm run bench`: the benchmark that proves ingestion performance. Starts
 * the real server, the naive baseline and the no-op server side by side,
 * drives each scenario against each while reading every server's CPU time
 * from /proc, runs the key scenarios (seed mix and weight changes) several
 * times, measures Redis (appendfsync always) and JSON.stringify of the same
 * records as the peers of the CPU-per-event figures, runs a long seed-mix
 * ingest while watching the real server's RSS, replays a log, profiles the
 * real server, and prints a Markdown report that a full run also writes to
 * bench/RESULTS.md.
 * Flags: see bench/options.ts (`npm run bench -- --help`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, rm, statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { CpuWindow, loadAverage1m, microsPerEvent, settleLoad } from "./cpu.js";
import type { RunTiming } from "./drivers/driver.js";
import { pythonInterpreter, pythonProblem } from "./drivers/python.js";
import { longRun } from "./long-run.js";
import { describeMachine } from "./machine.js";
import { parseBenchOptions } from "./options.js";
import { summarizeProfile } from "./profile-summary.js";
import { findRedis, measureRedis, stopRedis } from "./redis-peer.js";
import { measureReplay } from "./replay-bench.js";
import {
  reportMarkdown,
  writeResults,
  type BenchReport,
  type LongRunOutcome,
  type ProfileOutcome,
  type RedisOutcome,
  type ReplayOutcome,
  type ScenarioOutcome,
  type StringifyOutcome,
} from "./report.js";
import { RssSampler } from "./rss.js";
import { mainScenarios, PACED_FROM, pacedScenario, rateOf, type Measured, type Payload, type Scenario, type ServerName } from "./scenarios.js";
import { SERVER_PROBE_FLAGS, ServerWindow } from "./server-window.js";
import { PULSE_SERVER_SCRIPT, repoRoot, ServerProcess } from "./servers/spawn.js";
import { sampleLog, stringifyMicros, type LogSample } from "./stringify-baseline.js";

/** Bytes one seed-mix record takes in the log (about 355 measured, hash chain included), rounded up: for the disk-space check. */
const RECORD_BYTES_ESTIMATE = 380;
/** Free space left untouched on the temp file system. */
const DISK_MARGIN_BYTES = 1024 ** 3;
/** DESIGN.md: server RSS while ingesting 10 million seed-mix events. */
const RSS_BYTES_MAX = 200e6;
/** The Redis field when no seed-mix run measured the average line: the figure measured before, in bytes. */
const SEED_LINE_BYTES_DEFAULT = 355;

const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");
const firstLine = (err: unknown) => (err as Error).message.split("\n")[0];

function startPulse(logPath: string, nodeFlags: string[] = []): Promise<ServerProcess> {
  // Level info so the server prints its "listening" line with the port it bound.
  return ServerProcess.start({ name: "pulse", script: PULSE_SERVER_SCRIPT, args: ["--addr", "127.0.0.1:0", "--log-path", logPath, "--log-level", "info"], nodeFlags });
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const allIds = mainScenarios({ python: true }).map((s) => s.id);
  let options: ReturnType<typeof parseBenchOptions>;
  try {
    options = parseBenchOptions(argv, allIds);
  } catch (err) {
    // A usage mistake: say what is wrong, not where in the code.
    process.stderr.write(`bench: ${firstLine(err)} (npm run bench -- --help)\n`);
    process.exitCode = 2;
    return;
  }
  if (options === undefined) return;
  const began = performance.now();
  const timing: RunTiming = { warmupS: options.warmupS, measureS: options.durationS };
  const notes: string[] = [];
  const only = options.only;
  const wants = (part: string) => only === undefined || only.has(part);

  // A paced scenario runs at half of its unpaced scenario's maximum: asking for one brings the other.
  const pacedIds = Object.keys(PACED_FROM).filter(wants);
  const implied = new Set(pacedIds.map((id) => PACED_FROM[id]).filter((id) => !wants(id)));
  for (const id of implied) notes.push(`${id} ran because ${Object.keys(PACED_FROM).find((p) => PACED_FROM[p] === id)} runs at half of its maximum.`);

  let python = !options.skipPython && mainScenarios({ python: true }).some((s) => s.client === "Python" && wants(s.id));
  if (python) {
    const problem = await pythonProblem();
    if (problem !== undefined) {
      python = false;
      notes.push(`Python scenarios left out: ${problem}. Set PYTHON to an interpreter with grpcio and protobuf.`);
      progress(notes.at(-1)!);
    }
  } else if (options.skipPython) notes.push("Python scenarios left out (--skip-python).");
  const machine = await describeMachine(python ? pythonInterpreter() : undefined);
  const scenarios = mainScenarios({ python }).filter((s) => wants(s.id) || implied.has(s.id));

  const work = await mkdtemp(join(tmpdir(), "pulse-bench-"));
  // Baselines by name; the key scenarios' warmed real servers as "pulse-<scenario id>".
  const servers = new Map<string, ServerProcess>();
  const redisChildren = new Set<ChildProcess>();
  const cleanup = async () => {
    await Promise.all([...servers.values()].map((s) => s.stop().catch(() => undefined)));
    servers.clear();
    await Promise.all([...redisChildren].map((c) => stopRedis(c).catch(() => undefined)));
    redisChildren.clear();
    await rm(work, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      progress(`${signal}: stopping servers and removing temp logs`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    // --- Side by side: pulse, naive and no-op, every scenario on each. ---
    const pulseLog = join(work, "pulse", "pulse_learning_log.jsonl");
    const starters: Record<ServerName, () => Promise<ServerProcess>> = {
      pulse: () => startPulse(pulseLog),
      naive: () => ServerProcess.start({ name: "naive", script: "bench/servers/naive-server.ts", args: ["--log-path", join(work, "naive", "pulse_learning_log.jsonl")] }),
      noop: () => ServerProcess.start({ name: "noop", script: "bench/servers/noop-server.ts", args: [] }),
    };
    await mkdir(join(work, "naive"), { recursive: true });
    progress(`temp logs under ${work}`);
    // A server that fails to start (or dies) is started again for its next
    // scenario; its rows say why they have no numbers.
    const ensure = async (name: ServerName): Promise<ServerProcess | string> => {
      const server = servers.get(name);
      if (server?.running) return server;
      if (server) progress(`${name} server is not running (last stderr: ${server.stderr.trim().split("\n").at(-1) ?? ""}); restarting it`);
      try {
        const started = await starters[name]();
        servers.set(name, started);
        return started;
      } catch (err) {
        const why = `server did not start: ${(err as Error).message.split("\n").find((l) => /Error/.test(l)) ?? firstLine(err)}`;
        progress(`${name} ${why}`);
        return why;
      }
    };

    /** Waits for the load the runs before left to fall (--settle-load), saying so when it waited. */
    const settle = async () => {
      const waited = await settleLoad(options.settleLoad, options.settleMaxS);
      if (waited >= 1) progress(`waited ${waited.toFixed(0)} s for the load average to fall under ${options.settleLoad} (now ${loadAverage1m()})`);
    };

    const measure = async (scenario: Scenario, name: ServerName): Promise<Measured> => {
      await settle();
      const loadAverage = loadAverage1m();
      const server = await ensure(name);
      if (typeof server === "string") return { error: server, peakRssBytes: Number.NaN, usPerEvent: Number.NaN, loadAverage };
      if (name === "pulse" && scenario.warmUp !== undefined) {
        try {
          await scenario.warmUp(server.address);
        } catch (err) {
          return { error: `warm-up failed: ${firstLine(err)}`, peakRssBytes: Number.NaN, usPerEvent: Number.NaN, loadAverage };
        }
      }
      const sampler = new RssSampler(server.pid, 200);
      const cpu = new CpuWindow(server.pid);
      let measured: Measured;
      try {
        const result = await scenario.run(server.address, { ...timing, marks: cpu });
        const usPerEvent = microsPerEvent(cpu.server, result.eventsPerSecond);
        measured = { result, peakRssBytes: sampler.stop().peakBytes, serverCpu: cpu.server, clientCpu: cpu.client, usPerEvent, loadAverage };
        progress(
          `${scenario.id} (${scenario.client}) on ${name}: ${fmt(result.eventsPerSecond)} events/s, ${usPerEvent.toFixed(2)} us CPU/event (${cpu.server?.cores.toFixed(2) ?? "?"} cores), ` +
            `p50 ${result.latency.p50Ms.toFixed(2)} ms, p99 ${result.latency.p99Ms.toFixed(2)} ms, load ${loadAverage}`,
        );
      } catch (err) {
        measured = { error: firstLine(err), peakRssBytes: sampler.stop().peakBytes, usPerEvent: Number.NaN, loadAverage };
        progress(`${scenario.id} (${scenario.client}) on ${name}: FAILED: ${measured.error}`);
      }
      return measured;
    };

    const outcomes = new Map<string, ScenarioOutcome>();
    const samples = new Map<Payload, LogSample>();
    // A fresh real server and log for every run: each starts from the same
    // state and its peak RSS is its own (the long run covers a server that
    // has been up for a while).
    const freshPulse = async () => {
      await servers.get("pulse")?.stop();
      servers.delete("pulse");
      await rm(join(work, "pulse"), { recursive: true, force: true });
    };
    const runOn = async (scenario: Scenario, names: readonly ServerName[]) => {
      let outcome = outcomes.get(scenario.id);
      if (outcome === undefined) outcomes.set(scenario.id, (outcome = { scenario, byServer: {} }));
      for (const name of names) {
        if (name === "pulse") await freshPulse();
        const m = await measure(scenario, name);
        (outcome.byServer[name] ??= []).push(m);
        // The log of a compared payload's first run: its average line, and records for JSON.stringify.
        if (name === "pulse" && m.result && scenario.payload !== undefined && outcome.avgLineBytes === undefined) {
          const sample = await sampleLog(pulseLog).catch(() => undefined);
          if (sample !== undefined) {
            outcome.avgLineBytes = sample.avgLineBytes;
            if (!samples.has(scenario.payload)) samples.set(scenario.payload, sample);
          }
        }
      }
    };
    // The key scenarios' real-server runs come in the rounds below, on warmed servers; here only their baselines.
    for (const scenario of scenarios) await runOn(scenario, scenario.key ? scenario.servers.filter((n) => n !== "pulse") : scenario.servers);

    // --- The key scenarios, with the Redis peer, in rounds (so slow drifts of the machine's load touch all alike). ---
    // Each key scenario has a real server of its own, started with the probe
    // (thread names, GC pauses), warmed with its payload unmeasured, and kept
    // through the rounds: JIT and heap growth are behind every measured run.
    const keys = scenarios.filter((s) => s.key);
    let redis: RedisOutcome | undefined;
    if (wants("redis") && !options.skipRedis) {
      const tools = await findRedis();
      redis = { fieldBytes: SEED_LINE_BYTES_DEFAULT, fieldFrom: "", runs: [], errors: [] };
      if ("missing" in tools) {
        redis.skipped = tools.missing;
        notes.push(`Redis row left out: ${tools.missing}.`);
        progress(notes.at(-1)!);
      } else redis.version = tools.version;
    }
    const warmed = new Map<string, { server: ServerProcess | string; logPath: string }>();
    const warm = async (scenario: Scenario) => {
      const logPath = join(work, `key-${scenario.id}`, "pulse_learning_log.jsonl");
      try {
        const server = await startPulse(logPath, [...SERVER_PROBE_FLAGS]);
        servers.set(`pulse-${scenario.id}`, server);
        progress(`${scenario.id}: warming a server for ${options.keyWarmupS} s`);
        await scenario.run(server.address, { warmupS: 0, measureS: options.keyWarmupS });
        warmed.set(scenario.id, { server, logPath });
      } catch (err) {
        warmed.set(scenario.id, { server: `server did not start or warm up: ${firstLine(err)}`, logPath });
        progress(`${scenario.id}: ${firstLine(err)}`);
      }
    };
    const measureKey = async (scenario: Scenario) => {
      let outcome = outcomes.get(scenario.id);
      if (outcome === undefined) outcomes.set(scenario.id, (outcome = { scenario, byServer: {} }));
      await settle();
      const loadAverage = loadAverage1m();
      const entry = warmed.get(scenario.id)!;
      let m: Measured;
      if (typeof entry.server === "string" || !entry.server.running) {
        m = { error: typeof entry.server === "string" ? entry.server : "server exited", peakRssBytes: Number.NaN, usPerEvent: Number.NaN, loadAverage };
      } else {
        const server = entry.server;
        const sampler = new RssSampler(server.pid, 200);
        const window = new ServerWindow(server, { probe: true });
        try {
          const result = await scenario.run(server.address, { ...timing, marks: window });
          const w = await window.result();
          const usPerEvent = microsPerEvent(w.server, result.eventsPerSecond);
          m = { result, peakRssBytes: sampler.stop().peakBytes, serverCpu: w.server, clientCpu: w.client, usPerEvent, loadAverage, threadCores: w.threadCores, gcPauseCores: w.gcPauseCores };
          const mainUs = microsPerEvent(w.threadCores && { cpuS: 0, wallS: 1, cores: w.threadCores.main }, result.eventsPerSecond);
          progress(
            `${scenario.id} (${scenario.client}) on a warm pulse: ${fmt(result.eventsPerSecond)} events/s, ${usPerEvent.toFixed(2)} us CPU/event, main thread ${mainUs.toFixed(2)} us, ` +
              `GC pauses ${w.gcPauseCores !== undefined && w.server ? ((100 * w.gcPauseCores) / w.server.cores).toFixed(0) : "?"} % of CPU, load ${loadAverage}`,
          );
        } catch (err) {
          m = { error: firstLine(err), peakRssBytes: sampler.stop().peakBytes, usPerEvent: Number.NaN, loadAverage };
          progress(`${scenario.id} (${scenario.client}) on a warm pulse: FAILED: ${m.error}`);
        }
        if (m.result && scenario.payload !== undefined && outcome.avgLineBytes === undefined) {
          const sample = await sampleLog(entry.logPath).catch(() => undefined);
          if (sample !== undefined) {
            outcome.avgLineBytes = sample.avgLineBytes;
            if (!samples.has(scenario.payload)) samples.set(scenario.payload, sample);
          }
        }
      }
      (outcome.byServer.pulse ??= []).push(m);
    };
    for (const s of keys) await warm(s);
    for (let round = 1; round <= options.repeats; round++) {
      // Rotated, so that no scenario always runs first.
      for (let k = 0; k < keys.length; k++) await measureKey(keys[(k + round - 1) % keys.length]);
      if (redis?.version !== undefined) {
        // The field: the seed mix's average log line, once a seed-mix run measured it.
        const seed = samples.get("seed");
        if (redis.runs.length === 0) {
          redis.fieldBytes = Math.round(seed?.avgLineBytes ?? SEED_LINE_BYTES_DEFAULT);
          redis.fieldFrom = seed ? "the seed mix's average log line in this run" : "the seed mix's average log line measured before; no seed-mix run in this one";
        }
        try {
          const tools = await findRedis();
          if ("missing" in tools) throw new Error(tools.missing);
          await settle();
          const r = await measureRedis({ tools, fieldBytes: redis.fieldBytes, measureS: timing.measureS, workDir: work, onStart: (c) => redisChildren.add(c) });
          redis.runs.push(r);
          progress(`redis XADD ${redis.fieldBytes} B (run ${round}): ${fmt(r.eventsPerSecond)} events/s, ${r.usPerEvent.toFixed(2)} us CPU/event (${r.cpu.cores.toFixed(2)} cores), load ${r.loadAverage}`);
        } catch (err) {
          redis.errors.push(firstLine(err));
          progress(`redis run ${round} FAILED: ${firstLine(err)}`);
        } finally {
          redisChildren.clear();
        }
      }
    }
    for (const s of keys) {
      const entry = warmed.get(s.id);
      if (entry !== undefined && typeof entry.server !== "string") await entry.server.stop();
      servers.delete(`pulse-${s.id}`);
      await rm(join(work, `key-${s.id}`), { recursive: true, force: true });
    }

    // --- Latency at half load: paced at half of the real server's median maximum just measured. ---
    for (const id of pacedIds) {
      const max = rateOf(outcomes.get(PACED_FROM[id])?.byServer.pulse);
      const batchEvents = Number(id.split("-")[1]);
      if (max > 0) await runOn(pacedScenario(batchEvents, max / 2), ["pulse"]);
      else notes.push(`${id} left out: no maximum rate from ${PACED_FROM[id]}.`);
    }
    for (const o of outcomes.values()) if (o.scenario.target && o.byServer.pulse?.some((m) => m.result)) o.verdict = o.scenario.target.judge(o.byServer);

    for (const s of servers.values()) await s.stop();
    servers.clear();
    await rm(join(work, "pulse"), { recursive: true, force: true });
    await rm(join(work, "naive"), { recursive: true, force: true });

    // --- JSON.stringify of the records the real server wrote, in this (now quiet) process. ---
    const stringify: StringifyOutcome[] = [];
    if (wants("stringify")) {
      for (const [payload, sample] of [...samples].sort(([a], [b]) => a.localeCompare(b))) {
        const usPerRecord: number[] = [];
        for (let i = 0; i < options.repeats; i++) usPerRecord.push(stringifyMicros(sample.lines, options.quick ? 0.5 : 1));
        stringify.push({ payload, sampleRecords: sample.lines.length, avgLineBytes: sample.avgLineBytes, usPerRecord });
        progress(`JSON.stringify of ${payload} records: ${usPerRecord.map((u) => u.toFixed(2)).join(", ")} us CPU/record`);
      }
      if (samples.size === 0 && only !== undefined) notes.push("JSON.stringify baseline left out: it stringifies the records of the seed-1000 and bidi-1000 runs, and neither ran.");
    }

    // --- Long run: a fresh real server, RSS watched all along. ---
    let long: LongRunOutcome | undefined;
    if (wants("long") && !options.skipLong) {
      let events = options.longEvents;
      const room = Math.floor(((await freeBytes(work)) - DISK_MARGIN_BYTES) / RECORD_BYTES_ESTIMATE);
      if (room < events) {
        const reduced = Math.max(0, Math.floor(room / 1000) * 1000);
        notes.push(`Long run reduced from ${fmt(events)} to ${fmt(reduced)} events: not enough free space in the temp folder for the log (about ${RECORD_BYTES_ESTIMATE} bytes per event, ${DISK_MARGIN_BYTES / 1024 ** 3} GiB kept free).`);
        progress(notes.at(-1)!);
        events = reduced;
      }
      long = { requestedEvents: options.longEvents, target: `${fmt(options.longEvents)} seed-mix events, peak RSS < 200 MB`, loadAverage: loadAverage1m() };
      if (events > 0) {
        const logPath = join(work, "long", "pulse_learning_log.jsonl");
        const server = await startPulse(logPath);
        servers.set("pulse", server);
        const client = createClient(LearningLogService, server.address);
        progress(`long run: ${fmt(events)} seed-mix events`);
        try {
          const r = await longRun(client, server.pid, logPath, { totalEvents: events, maxSeconds: options.longMaxS, kind: "seed", progress });
          long.result = r;
          const misses: string[] = [];
          if (!(r.peakRssBytes < RSS_BYTES_MAX)) misses.push(`peak ${(r.peakRssBytes / 1e6).toFixed(0)} MB`);
          if (r.events < options.longEvents) misses.push(`only ${fmt(r.events)} of ${fmt(options.longEvents)} events${r.stoppedEarly ? ` (${r.stoppedEarly})` : ""}`);
          long.verdict = { met: misses.length === 0, detail: misses.join("; ") };
          progress(`long run: ${fmt(r.events)} events, ${fmt(r.eventsPerSecond)} events/s, peak RSS ${(r.peakRssBytes / 1e6).toFixed(0)} MB, final ${(r.finalRssBytes / 1e6).toFixed(0)} MB${r.stoppedEarly ? `; stopped early: ${r.stoppedEarly}` : ""}`);
        } catch (err) {
          long.error = firstLine(err);
          progress(`long run FAILED: ${long.error}`);
        } finally {
          client.close();
          await server.stop();
          servers.delete("pulse");
          await rm(join(work, "long"), { recursive: true, force: true });
        }
      }
    } else if (options.skipLong) notes.push("Long run left out (--skip-long).");

    // --- Replay: records written through the Appender, read back by ReadEvents. ---
    let replay: ReplayOutcome | undefined;
    if (wants("replay") && !options.skipReplay) {
      progress(`replay: ${fmt(options.replayRecords)} records`);
      try {
        replay = { result: await measureReplay({ records: options.replayRecords, workDir: work, progress }) };
      } catch (err) {
        replay = { error: firstLine(err) };
        progress(`replay FAILED: ${replay.error}`);
      }
    }

    // --- Profiles of the real server: the key scenarios, and any whose target was missed. ---
    const profiles: ProfileOutcome[] = [];
    const toProfile = new Set<string>();
    for (const o of outcomes.values()) {
      const missed = o.verdict !== undefined && !o.verdict.met;
      const chosen = options.profile === "always" ? o.scenario.target !== undefined : options.profile === "key" && (o.scenario.key === true || missed);
      // A paced run's latency is explained by the unpaced profile of the same batch size.
      if (chosen) toProfile.add(PACED_FROM[o.scenario.id] ?? o.scenario.id);
    }
    for (const id of toProfile) {
      const scenario = outcomes.get(id)?.scenario;
      if (scenario === undefined) continue;
      const dir = join(work, `profile-${id}`);
      await mkdir(dir, { recursive: true });
      progress(`profiling the real server: ${scenario.id} (${scenario.client})`);
      const server = await startPulse(join(dir, "pulse_learning_log.jsonl"), ["--cpu-prof", "--cpu-prof-dir", dir]);
      servers.set("pulse", server);
      try {
        await scenario.run(server.address, timing);
      } catch (err) {
        progress(`profile run failed: ${firstLine(err)}`);
      }
      await server.stop();
      servers.delete("pulse");
      const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"));
      if (file === undefined) {
        notes.push(`No CPU profile was written for ${scenario.label} (${scenario.client}).`);
        continue;
      }
      // Samples before the server listened are its start-up (module loading), not ingestion.
      profiles.push({
        label: `${scenario.label} (${scenario.client}), ${timing.warmupS + timing.measureS} s, start-up left out`,
        summary: summarizeProfile(join(dir, file), { top: 20, skipMs: server.startupMs }),
      });
      await rm(dir, { recursive: true, force: true });
    }

    if (options.skipJetStream && wants("jetstream")) notes.push(options.quick ? "JetStream rows left out (--quick; alone: `npm run bench:jetstream`)." : "JetStream rows left out (--skip-jetstream).");
    const report: BenchReport = {
      command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`,
      date: new Date().toISOString(),
      machine,
      warmupS: timing.warmupS,
      durationS: timing.measureS,
      repeats: options.repeats,
      keyWarmupS: options.keyWarmupS,
      settleLoad: options.settleLoad,
      settleMaxS: options.settleMaxS,
      scenarios: [...outcomes.values()],
      redis,
      stringify,
      long,
      replay,
      profiles,
      notes,
    };
    const markdown = reportMarkdown(report);
    process.stdout.write(`\n${markdown}`);
    if (options.resultsPath !== undefined) {
      const path = resolve(repoRoot, options.resultsPath);
      await writeResults(path, markdown);
      progress(`wrote ${options.resultsPath}`);
    }
    if (wants("jetstream") && !options.skipJetStream) {
      // The file store beside JetStream (one node, and three with replicas 3), in the same run.
      progress("JetStream rows (bench/jetstream-bench.ts)");
      const args = ["--import", "tsx", "bench/jetstream-bench.ts", "--measure-s", String(timing.measureS), "--warmup-s", String(timing.warmupS)];
      if (options.resultsPath !== undefined) args.push("--results", resolve(repoRoot, options.resultsPath));
      const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: "inherit" });
      const [code] = (await once(child, "exit")) as [number | null];
      if (code !== 0) progress(`bench/jetstream-bench.ts exited with ${code}`);
    }
    progress(`done in ${((performance.now() - began) / 1000).toFixed(0)} s`);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
