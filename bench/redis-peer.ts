/**
 * The peer durable store of the benchmark: Redis with every write fsynced
 * (`--appendonly yes --appendfsync always`), fed pipelined XADDs of one field
 * the size of an average log record, its CPU time read from /proc like the
 * real server's. Debian's `redis-server` and `redis-benchmark`; when they are
 * absent the row is left out with a note.
 *
 * Each run starts its own redis-server on a free loopback port with its data
 * in a fresh temporary folder, and stops it (SIGTERM, then SIGKILL) before
 * returning, whatever happened. It is started under `setpriv --pdeathsig KILL`
 * where that exists, so even a benchmark killed with SIGKILL leaves no Redis behind.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { access, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { cpuSecondsOf, loadAverage1m, type CpuUse } from "./cpu.js";
import { RssSampler } from "./rss.js";

const run = promisify(execFile);

/** Pipelined commands per connection write, as the server's batches of 1,000 events. */
const PIPELINE = 1000;
/** Connections, as the 16 batches the streaming drivers keep in flight. */
const CONNECTIONS = 16;
/** Commands of the warm-up run, which also estimates the rate. */
const WARMUP_COMMANDS = 100_000;

/** Where the Redis tools are, or why they cannot be used. */
export type RedisTools = { server: string; benchmark: string; version: string } | { missing: string };

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const path = join(dir, name);
    try {
      await access(path);
      return path;
    } catch {
      /* not in this folder */
    }
  }
  return undefined;
}

/** Finds redis-server and redis-benchmark on PATH. */
export async function findRedis(): Promise<RedisTools> {
  const server = await onPath("redis-server");
  const benchmark = await onPath("redis-benchmark");
  if (server === undefined || benchmark === undefined) {
    return { missing: `${server === undefined ? "redis-server" : "redis-benchmark"} is not installed (Debian: apt-get install redis-server)` };
  }
  const { stdout } = await run(server, ["--version"], { timeout: 10_000 });
  const version = /v=(\S+)/.exec(stdout)?.[1] ?? stdout.trim();
  return { server, benchmark, version };
}

/** One measured run of the Redis peer. */
export interface RedisRun {
  /** XADDs acknowledged per second (redis-benchmark's own figure). */
  eventsPerSecond: number;
  /** XADDs of the measured part. */
  events: number;
  /** redis-server's CPU over the measured part. */
  cpu: CpuUse;
  /** Server CPU microseconds per XADD: cpuS / events. */
  usPerEvent: number;
  /** Ack latency percentiles of redis-benchmark (per command, pipelined), in ms. */
  p50Ms: number;
  p99Ms: number;
  /** Peak RSS of redis-server over the run, in bytes. */
  peakRssBytes: number;
  /** 1-minute load average when the run started. */
  loadAverage: number;
}

/** Options of {@link measureRedis}. */
export interface RedisOptions {
  tools: { server: string; benchmark: string };
  /** Bytes of the one field of each XADD (the average record's size). */
  fieldBytes: number;
  /** Seconds the measured part should take, roughly (its command count is set from the warm-up's rate). */
  measureS: number;
  /** Folder under which the run's data folder is made (and removed). */
  workDir: string;
  /** Called with the running process, so that an interrupted benchmark can stop it. */
  onStart?: (child: ChildProcess) => void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Starts redis-server and resolves once it accepts connections. */
async function startRedis(serverPath: string, port: number, dir: string): Promise<ChildProcess> {
  const redisArgs = [
    "--bind", "127.0.0.1", "--port", String(port), "--dir", dir,
    "--appendonly", "yes", "--appendfsync", "always",
    // No RDB snapshots and no AOF rewrite: both fork a child whose CPU time
    // the parent's /proc counters would not show.
    "--save", "", "--auto-aof-rewrite-percentage", "0",
    "--daemonize", "no", "--protected-mode", "yes", "--logfile", "",
  ];
  const setpriv = await onPath("setpriv");
  // setpriv execs redis-server in place (same pid) with a parent-death signal.
  const [command, args] = setpriv ? [setpriv, ["--pdeathsig", "KILL", serverPath, ...redisArgs]] : [serverPath, redisArgs];
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail("did not accept connections within 10 s"), 10_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`redis-server ${why}: ${output.trim().split("\n").at(-1) ?? ""}`));
    };
    child.once("exit", (code, signal) => fail(`exited (${signal ?? code})`));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output = (output + line + "\n").slice(-4000);
      if (/Ready to accept connections/.test(line)) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve();
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
  });
  return child;
}

/** Stops redis-server: SIGTERM (it syncs the AOF and exits), SIGKILL after 10 s. */
export async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

interface BenchmarkLine {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs redis-benchmark: `commands` pipelined XADDs of one `value` field; returns its CSV figures. */
async function xadds(benchmark: string, port: number, commands: number, value: string): Promise<BenchmarkLine> {
  const args = ["-h", "127.0.0.1", "-p", String(port), "-c", String(CONNECTIONS), "-P", String(PIPELINE), "-n", String(commands), "--csv", "XADD", "pulse", "*", "record", value];
  const { stdout } = await run(benchmark, args, { timeout: 600_000, maxBuffer: 1024 * 1024 });
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const row = stdout.trim().split("\n").at(-1)!;
  const cells = [...row.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
  const rps = Number(cells[1]);
  if (!(rps > 0)) throw new Error(`redis-benchmark printed no rate: ${row.slice(0, 200)}`);
  return { rps, p50Ms: Number(cells[4]), p99Ms: Number(cells[6]) };
}

/**
 * One run: a fresh redis-server, a warm-up of 100,000 XADDs (which also
 * gives the rate), then about `measureS` seconds of XADDs measured: the
 * server's CPU time is read just before and just after them.
 */
export async function measureRedis(options: RedisOptions): Promise<RedisRun> {
  const dir = await mkdtemp(join(options.workDir, "redis-"));
  const value = "r".repeat(Math.max(1, Math.round(options.fieldBytes)));
  const loadAverage = loadAverage1m();
  let child: ChildProcess | undefined;
  try {
    let port = 0;
    for (let attempt = 1; child === undefined; attempt++) {
      port = await freePort();
      try {
        child = await startRedis(options.tools.server, port, dir);
      } catch (err) {
        // Another process may have taken the port between our probe and Redis's bind.
        if (attempt >= 3) throw err;
      }
    }
    options.onStart?.(child);
    const pid = child.pid!;
    const warm = await xadds(options.tools.benchmark, port, WARMUP_COMMANDS, value);
    const commands = Math.max(WARMUP_COMMANDS, Math.round((warm.rps * options.measureS) / PIPELINE) * PIPELINE);
    const sampler = new RssSampler(pid, 200);
    const wall0 = performance.now();
    const cpu0 = cpuSecondsOf(pid);
    const measured = await xadds(options.tools.benchmark, port, commands, value);
    const cpu1 = cpuSecondsOf(pid);
    const wallS = (performance.now() - wall0) / 1000;
    const peakRssBytes = sampler.stop().peakBytes;
    if (cpu0 === undefined || cpu1 === undefined) throw new Error("redis-server exited during the run");
    const cpuS = cpu1 - cpu0;
    return {
      eventsPerSecond: measured.rps,
      events: commands,
      cpu: { cpuS, wallS, cores: cpuS / wallS },
      usPerEvent: (cpuS / commands) * 1e6,
      p50Ms: measured.p50Ms,
      p99Ms: measured.p99Ms,
      peakRssBytes,
      loadAverage,
    };
  } finally {
    if (child !== undefined) await stopRedis(child);
    await rm(dir, { recursive: true, force: true });
  }
}
