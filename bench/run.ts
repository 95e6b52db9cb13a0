/**
 * `npm run bench`: the benchmark that proves ingestion performance. Starts
 * the real server, the naive baseline and the no-op server side by side,
 * drives each scenario against each, runs a long ingest while watching the
 * real server's RSS, profiles the real server where a target is missed, and
 * prints a Markdown report that it also writes to bench/RESULTS.md.
 * Flags: see bench/options.ts (`npm run bench -- --help`).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, rm, statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import type { RunTiming } from "./drivers/driver.js";
import { pythonInterpreter, pythonProblem } from "./drivers/python.js";
import { longRun } from "./long-run.js";
import { describeMachine } from "./machine.js";
import { parseBenchOptions } from "./options.js";
import { summarizeProfile } from "./profile-summary.js";
import { reportMarkdown, writeResults, type BenchReport, type LongRunOutcome, type ProfileOutcome, type ScenarioOutcome } from "./report.js";
import { RssSampler } from "./rss.js";
import { mainScenarios, pacedScenario, type Measured, type Scenario, type ServerName } from "./scenarios.js";
import { PULSE_SERVER_SCRIPT, repoRoot, ServerProcess } from "./servers/spawn.js";

/** Bytes one typed record takes in the log (about 280 measured, hash chain included), rounded up: for the disk-space check. */
const RECORD_BYTES_ESTIMATE = 300;
/** Free space left untouched on the temp file system. */
const DISK_MARGIN_BYTES = 1024 ** 3;
/** DESIGN.md: server RSS while ingesting 10 million events. */
const RSS_BYTES_MAX = 200e6;

const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");

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
  const options = parseBenchOptions(argv);
  if (options === undefined) return;
  const began = performance.now();
  const timing: RunTiming = { warmupS: options.warmupS, measureS: options.durationS };
  const notes: string[] = [];

  let python = !options.skipPython;
  if (python) {
    const problem = await pythonProblem();
    if (problem !== undefined) {
      python = false;
      notes.push(`Python scenario left out: ${problem}. Set PYTHON to an interpreter with grpcio and protobuf.`);
      progress(notes.at(-1)!);
    }
  } else notes.push("Python scenario left out (--skip-python).");
  const machine = await describeMachine(python ? pythonInterpreter() : undefined);

  const work = await mkdtemp(join(tmpdir(), "pulse-bench-"));
  const servers = new Map<ServerName, ServerProcess>();
  const cleanup = async () => {
    await Promise.all([...servers.values()].map((s) => s.stop().catch(() => undefined)));
    servers.clear();
    await rm(work, { recursive: true, force: true });
  };
  process.once("SIGINT", () => {
    progress("interrupted; stopping servers and removing temp logs");
    void cleanup().finally(() => process.exit(130));
  });

  try {
    // --- Side by side: pulse, naive and no-op, every scenario on each. ---
    const starters: Record<ServerName, () => Promise<ServerProcess>> = {
      pulse: () => startPulse(join(work, "pulse", "pulse_learning_log.jsonl")),
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
        const why = `server did not start: ${(err as Error).message.split("\n").find((l) => /Error/.test(l)) ?? (err as Error).message.split("\n")[0]}`;
        progress(`${name} ${why}`);
        return why;
      }
    };
    for (const name of ["naive", "noop"] as const) await ensure(name);

    const measure = async (scenario: Scenario, name: ServerName): Promise<Measured> => {
      const server = await ensure(name);
      if (typeof server === "string") return { error: server, peakRssBytes: Number.NaN };
      const sampler = new RssSampler(server.pid, 200);
      let measured: Measured;
      try {
        const result = await scenario.run(server.address, timing);
        measured = { result, peakRssBytes: sampler.stop().peakBytes };
        progress(`${scenario.label} (${scenario.client}) on ${name}: ${fmt(result.eventsPerSecond)} events/s, p50 ${result.latency.p50Ms.toFixed(2)} ms, p99 ${result.latency.p99Ms.toFixed(2)} ms`);
      } catch (err) {
        const message = (err as Error).message.split("\n")[0];
        measured = { error: message, peakRssBytes: sampler.stop().peakBytes };
        progress(`${scenario.label} (${scenario.client}) on ${name}: FAILED: ${message}`);
      }
      return measured;
    };

    const outcomes: ScenarioOutcome[] = [];
    const runScenario = async (scenario: Scenario): Promise<ScenarioOutcome> => {
      // A fresh real server and log per scenario: each row starts from the
      // same state and its peak RSS is its own (the long run covers a server
      // that has been up for a while).
      await servers.get("pulse")?.stop();
      servers.delete("pulse");
      await rm(join(work, "pulse"), { recursive: true, force: true });
      const byServer: ScenarioOutcome["byServer"] = {};
      for (const name of scenario.servers) byServer[name] = await measure(scenario, name);
      const outcome: ScenarioOutcome = { scenario, byServer };
      if (scenario.target && byServer.pulse?.result) outcome.verdict = scenario.target.judge(byServer);
      outcomes.push(outcome);
      return outcome;
    };
    for (const scenario of mainScenarios({ python })) await runScenario(scenario);

    // --- Latency at half load: paced at half of the real server's maximum just measured. ---
    for (const id of ["bidi-100", "bidi-1000"]) {
      const max = outcomes.find((o) => o.scenario.id === id)?.byServer.pulse?.result?.eventsPerSecond;
      if (max !== undefined && max > 0) await runScenario(pacedScenario(id === "bidi-100" ? 100 : 1000, max / 2));
    }

    for (const s of servers.values()) await s.stop();
    servers.clear();
    await rm(join(work, "pulse"), { recursive: true, force: true });
    await rm(join(work, "naive"), { recursive: true, force: true });

    // --- Long run: a fresh real server, RSS watched all along. ---
    let long: LongRunOutcome | undefined;
    if (!options.skipLong) {
      let events = options.longEvents;
      const room = Math.floor(((await freeBytes(work)) - DISK_MARGIN_BYTES) / RECORD_BYTES_ESTIMATE);
      if (room < events) {
        const reduced = Math.max(0, Math.floor(room / 1000) * 1000);
        notes.push(`Long run reduced from ${fmt(events)} to ${fmt(reduced)} events: not enough free space in the temp folder for the log (about ${RECORD_BYTES_ESTIMATE} bytes per event, ${DISK_MARGIN_BYTES / 1024 ** 3} GiB kept free).`);
        progress(notes.at(-1)!);
        events = reduced;
      }
      long = { requestedEvents: options.longEvents, target: `${fmt(options.longEvents)} events, peak RSS < 200 MB` };
      if (events > 0) {
        const logPath = join(work, "long", "pulse_learning_log.jsonl");
        const server = await startPulse(logPath);
        servers.set("pulse", server);
        const client = createClient(LearningLogService, server.address);
        progress(`long run: ${fmt(events)} events`);
        try {
          const r = await longRun(client, server.pid, logPath, { totalEvents: events, maxSeconds: options.longMaxS, progress });
          long.result = r;
          const misses: string[] = [];
          if (!(r.peakRssBytes < RSS_BYTES_MAX)) misses.push(`peak ${(r.peakRssBytes / 1e6).toFixed(0)} MB`);
          if (r.events < options.longEvents) misses.push(`only ${fmt(r.events)} of ${fmt(options.longEvents)} events${r.stoppedEarly ? ` (${r.stoppedEarly})` : ""}`);
          long.verdict = { met: misses.length === 0, detail: misses.join("; ") };
          progress(`long run: ${fmt(r.events)} events, ${fmt(r.eventsPerSecond)} events/s, peak RSS ${(r.peakRssBytes / 1e6).toFixed(0)} MB, final ${(r.finalRssBytes / 1e6).toFixed(0)} MB${r.stoppedEarly ? `; stopped early: ${r.stoppedEarly}` : ""}`);
        } catch (err) {
          long.error = (err as Error).message.split("\n")[0];
          progress(`long run FAILED: ${long.error}`);
        } finally {
          client.close();
          await server.stop();
          servers.delete("pulse");
          await rm(join(work, "long"), { recursive: true, force: true });
        }
      }
    } else notes.push("Long run left out (--skip-long).");

    // --- Profiles of the real server where a throughput or latency target was missed. ---
    const profiles: ProfileOutcome[] = [];
    const toProfile = new Set<string>();
    for (const o of outcomes) {
      const missed = o.verdict !== undefined && !o.verdict.met;
      if (options.profile === "always" ? o.scenario.target !== undefined : options.profile === "auto" && missed) {
        // A paced run's latency is explained by the unpaced profile of the same batch size.
        toProfile.add(o.scenario.id.replace(/^paced-/, "bidi-"));
      }
    }
    for (const id of toProfile) {
      const scenario = outcomes.find((o) => o.scenario.id === id)?.scenario;
      if (scenario === undefined) continue;
      const dir = join(work, `profile-${id}`);
      await mkdir(dir, { recursive: true });
      progress(`profiling the real server: ${scenario.label} (${scenario.client})`);
      const server = await startPulse(join(dir, "pulse_learning_log.jsonl"), ["--cpu-prof", "--cpu-prof-dir", dir]);
      servers.set("pulse", server);
      try {
        await scenario.run(server.address, timing);
      } catch (err) {
        progress(`profile run failed: ${(err as Error).message.split("\n")[0]}`);
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

    const report: BenchReport = {
      command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`,
      date: new Date().toISOString(),
      machine,
      warmupS: timing.warmupS,
      durationS: timing.measureS,
      scenarios: outcomes,
      long,
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
    if (!options.skipJetStream) {
      // The file store beside JetStream (one node, and three with replicas 3), in the same run.
      progress("JetStream rows (bench/jetstream-bench.ts)");
      const args = ["--import", "tsx", "bench/jetstream-bench.ts", "--measure-s", String(timing.measureS), "--warmup-s", String(timing.warmupS)];
      if (options.resultsPath !== undefined) args.push("--results", resolve(repoRoot, options.resultsPath));
      const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: "inherit" });
      const [code] = (await once(child, "exit")) as [number | null];
      if (code !== 0) notes.push(`bench/jetstream-bench.ts exited with ${code}`);
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
