/**
 * kill -9 loop: a tool, not part of `npm test` (it runs for many minutes).
 *
 *   node --import tsx test/faults/kill-loop.ts [--cycles 600] [--minutes 25]
 *        [--segment-bytes-max 20000] [--seed N] [--dir DIR] [--out DIR] [--build] [--clean]
 *        [--server-root DIR]
 *
 * Runs the BUILT server (`node dist/src/main.js`, built with
 * `npx tsc -p tsconfig.build.json` when dist/ is missing or with --build;
 * --server-root runs the build of another checkout, e.g. an export of an
 * older commit with node_modules linked in, which a rebuild of this one's
 * dist/ by someone else cannot change under a running loop) on
 * one loopback port and one log, again and again, and kills it with SIGKILL:
 *
 * - startup:      at a random moment between the spawn and a little after
 *                 the usual start-up time (most land before it listens);
 * - listen:       0-20 ms after its "listening" line, before any call;
 * - load:         30-500 ms after the first ack of six unary LogEvent callers
 *                 and one IngestEvents stream (3 batches of 10-100 in flight);
 * - race:         like load, but the next start is spawned the moment the
 *                 SIGKILL is sent (same port, same log), while the killed
 *                 process may still be dying;
 * - startup-race: killed during start-up and the next one spawned at once.
 *
 * Every event carries a client-chosen event_id. A start that exits by itself
 * (or does not listen within --start-timeout-ms) is a failed start: its FULL
 * stdout and stderr, its exit status, the lock file and the folder at that
 * moment are kept in OUT/failed-start-<n>.txt; then a "supervisor" starts it
 * again, which must succeed. After every kill (the server dead) the new part
 * of the log is checked (checkLogBytes: complete JSON lines, seq +1; every
 * record an event sent; no event_id twice; every event acked since the last
 * check in the log, at its acked seq). Events not acked are retried with
 * their ids in the next cycle (the dedup window answers them). At the end:
 * one clean start, every unacked event retried, SIGTERM (exit 0), a full
 * pass over every file of the log, and `pulse-log verify`.
 *
 * Exits 0 when nothing was lost or duplicated, verify passed and no start
 * failed; 1 otherwise. The summary is printed and kept in OUT/summary.json.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { v4 as uuidv4 } from "uuid";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { LearningLogService, type LearningEventSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient, type Client } from "../../src/rpc/client.js";
import { listSegments } from "../../src/store/file/segments.js";
import { repoRoot } from "../helpers/child-server.js";
import { checkLogBytes, tornTailBytes, type LoggedRecord } from "./log-file.js";
// Replayable choices: a failing run is repeated with its seed.
import { seededRandom as random } from "../helpers/seeded-random.js";

const { values: args } = parseArgs({
  options: {
    cycles: { type: "string", default: "600" },
    minutes: { type: "string", default: "25" },
    "segment-bytes-max": { type: "string" },
    seed: { type: "string" },
    dir: { type: "string" },
    out: { type: "string" },
    build: { type: "boolean", default: false },
    clean: { type: "boolean", default: false },
    "start-timeout-ms": { type: "string", default: "60000" },
    "restart-delay-ms": { type: "string", default: "100" },
    "server-root": { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write((await readFile(new URL(import.meta.url), "utf8")).split("*/")[0] + "*/\n");
  process.exit(0);
}
const positive = (name: string, text: string | undefined): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${text}"`);
  return n;
};
const CYCLES = positive("cycles", args.cycles);
const DEADLINE = Date.now() + positive("minutes", args.minutes) * 60_000;
const SEGMENT_BYTES_MAX = args["segment-bytes-max"] === undefined ? undefined : positive("segment-bytes-max", args["segment-bytes-max"]);
const SEED = args.seed === undefined ? Date.now() % 1_000_000 : positive("seed", args.seed);
const START_TIMEOUT_MS = positive("start-timeout-ms", args["start-timeout-ms"]);
const RESTART_DELAY_MS = Number(args["restart-delay-ms"]);
const UNARY_WORKERS = 6;
const STREAM_BATCHES_IN_FLIGHT = 3;
const CALL_DEADLINE_MS = 10_000;
/** The server's default dedup window is 100,000 records: retries older than half of it are given up (not re-sent). */
const RETRY_RECORDS_MAX = 50_000;

const rand = random(SEED);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type LogClient = Client<typeof LearningLogService.method>;
type Event = MessageInitShape<typeof LearningEventSchema>;

// ---------------------------------------------------------------- the server

const serverRoot = resolve(args["server-root"] ?? repoRoot);
const mainJs = join(serverRoot, "dist/src/main.js");
const cliJs = join(serverRoot, "dist/src/cli/main.js");

function ensureBuilt(): void {
  if (!args.build && existsSync(mainJs) && existsSync(cliJs)) return;
  console.log(`building in ${serverRoot}: npx tsc -p tsconfig.build.json`);
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: serverRoot, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`build failed (exit ${r.status})`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One start of the server process. */
interface Start {
  n: number;
  pid: number;
  spawnedAt: number;
  /** Resolves true once it printed "listening", false when it exited first. */
  listening: Promise<boolean>;
  listenedAt?: number;
  /** Resolves once it exited and its stdout and stderr are read to the end. */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  exitedAt?: number;
  killedAt?: number;
  kill(): void;
  /** Every chunk it printed, with the stream and the ms since the spawn. */
  output(): string;
  stderr(): string;
  /** The start before it, and whether that one had exited when this one was spawned. */
  previous?: { n: number; pid: number; exited: boolean };
}

let starts = 0;
let lastStart: Start | undefined;

function spawnServer(logPath: string, port: number): Start {
  const previous = lastStart;
  const flags = ["--addr", `127.0.0.1:${port}`, "--log-path", logPath];
  if (SEGMENT_BYTES_MAX !== undefined) flags.push("--segment-bytes-max", String(SEGMENT_BYTES_MAX));
  const child: ChildProcess = spawn(process.execPath, [mainJs, ...flags], { cwd: serverRoot, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const spawnedAt = performance.now();
  const chunks: Array<{ stream: "out" | "err"; at: number; text: string }> = [];
  let stdoutLine = "";
  let onListening: (v: boolean) => void = () => {};
  const listening = new Promise<boolean>((resolve) => (onListening = resolve));
  const start: Start = {
    n: ++starts,
    pid: child.pid!,
    spawnedAt,
    listening,
    ended: undefined as never,
    kill() {
      if (start.exitedAt !== undefined) return;
      start.killedAt ??= performance.now();
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
    },
    output: () => chunks.map((c) => `[+${(c.at - spawnedAt).toFixed(0)} ms ${c.stream}] ${c.text}`).join(""),
    stderr: () => chunks.filter((c) => c.stream === "err").map((c) => c.text).join(""),
    previous: previous && { n: previous.n, pid: previous.pid, exited: previous.exitedAt !== undefined },
  };
  lastStart = start;
  // Listened to from the start: a pipe may end before the child's exit event.
  const streamEnded = (s: NodeJS.ReadableStream) => new Promise<void>((resolve) => s.once("end", resolve).once("close", resolve));
  const outputsEnded = Promise.all([streamEnded(child.stdout!), streamEnded(child.stderr!)]);
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stdout!.on("data", (text: string) => {
    chunks.push({ stream: "out", at: performance.now(), text });
    stdoutLine += text;
    const lines = stdoutLine.split("\n");
    stdoutLine = lines.pop()!;
    for (const line of lines) {
      if (start.listenedAt === undefined && line.includes('"msg":"listening"')) {
        start.listenedAt = performance.now();
        onListening(true);
      }
    }
  });
  child.stderr!.on("data", (text: string) => chunks.push({ stream: "err", at: performance.now(), text }));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  start.ended = (async () => {
    const status = await exited;
    start.exitedAt = performance.now();
    onListening(false);
    await outputsEnded;
    return { ...status, at: start.exitedAt };
  })();
  return start;
}

// ---------------------------------------------------------------- what the clients know

class Ledger {
  readonly sent = new Set<string>();
  /** event_id -> acked seq (-1: acked in a stream batch with duplicates; the log check pins it). */
  readonly acked = new Map<string, number>();
  /** event_id -> records in the log when it was first sent (to give up retries beyond the dedup window). */
  readonly unacked = new Map<string, number>();
  readonly abandoned = new Set<string>();
  /** Acked since the last log check: checked against the log then. */
  toCheck: string[] = [];
  readonly problems: string[] = [];
  duplicateAcks = 0;
  lastSeqSeen = 0;
  private waiters: Array<() => void> = [];

  firstAck(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  take(): string {
    const id = uuidv4();
    this.sent.add(id);
    this.unacked.set(id, this.lastSeqSeen);
    return id;
  }

  ack(id: string, seq: number, duplicate: boolean, logged: ReadonlyMap<string, number>, via: string): void {
    const before = logged.get(id);
    if (before !== undefined && (!duplicate || seq !== before)) {
      this.problems.push(`${via}: ${id} was already in the log at seq ${before}; its retry was acked duplicate=${duplicate} seq=${seq}`);
    }
    if (duplicate) this.duplicateAcks++;
    const earlier = this.acked.get(id);
    if (earlier !== undefined && earlier !== -1 && seq !== -1 && earlier !== seq) this.problems.push(`${via}: ${id} acked with seqs ${earlier} and ${seq}`);
    if (earlier === undefined || earlier === -1) this.acked.set(id, seq);
    this.unacked.delete(id);
    this.toCheck.push(id);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Ids to retry first in the next cycle; those sent too long ago are given up. */
  retries(): string[] {
    const out: string[] = [];
    for (const [id, at] of this.unacked) {
      if (this.lastSeqSeen - at > RETRY_RECORDS_MAX) {
        this.unacked.delete(id);
        this.abandoned.add(id);
      } else out.push(id);
    }
    return out.sort(() => rand() - 0.5);
  }
}

async function unaryWorker(client: LogClient, ledger: Ledger, logged: ReadonlyMap<string, number>, retries: string[], cycle: number, stop: { now: boolean }): Promise<number> {
  let acks = 0;
  while (!stop.now) {
    const id = retries.shift() ?? ledger.take();
    try {
      const { ack } = await client.logEvent({ eventType: "kill_loop", data: { cycle, worker: "unary" }, eventId: id }, { deadline: CALL_DEADLINE_MS });
      if (ack?.eventId !== id) ledger.problems.push(`unary: ack for ${id} names ${ack?.eventId}`);
      ledger.ack(id, Number(ack!.seq), ack!.duplicate, logged, "unary");
      acks++;
    } catch (err) {
      if (!stop.now) ledger.problems.push(`cycle ${cycle}: unary call failed before the kill: ${(err as Error).message}`);
      return acks;
    }
  }
  return acks;
}

async function streamWorker(client: LogClient, ledger: Ledger, logged: ReadonlyMap<string, number>, retries: string[], cycle: number, stop: { now: boolean }): Promise<number> {
  const call = client.ingestEvents({ deadline: CALL_DEADLINE_MS });
  const inFlight: Array<{ batchId: number; ids: string[] }> = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let acks = 0;
  const reader = (async () => {
    try {
      for await (const res of call.responses) {
        const batch = inFlight.shift();
        if (batch === undefined || BigInt(batch.batchId) !== res.batchId) {
          ledger.problems.push(`stream: answer for batch ${res.batchId} but batch ${batch?.batchId} was next`);
          continue;
        }
        if (res.count !== batch.ids.length || res.errors.length > 0) {
          ledger.problems.push(`stream: batch ${batch.batchId} of ${batch.ids.length} answered count=${res.count} errors=${JSON.stringify(res.errors)}`);
          continue;
        }
        // Without duplicates the batch is first_seq..last_seq in order; with them the log check pins each one.
        const exact = res.duplicates === 0 && Number(res.lastSeq) - Number(res.firstSeq) + 1 === batch.ids.length;
        batch.ids.forEach((id, i) => ledger.ack(id, exact ? Number(res.firstSeq) + i : logged.get(id) ?? -1, logged.has(id), logged, "stream"));
        // ack() counted every id known to be logged as a duplicate; the answer must say as many or more.
        const known = batch.ids.filter((id) => logged.has(id)).length;
        ledger.duplicateAcks += res.duplicates - known;
        if (res.duplicates < known) ledger.problems.push(`stream: batch ${batch.batchId} had ${known} events already in the log, answer says duplicates=${res.duplicates}`);
        acks += batch.ids.length;
        wake?.();
      }
    } catch (err) {
      if (!stop.now) ledger.problems.push(`cycle ${cycle}: stream failed before the kill: ${(err as Error).message}`);
    } finally {
      ended = true;
      wake?.();
    }
  })();
  let batchId = 0;
  while (!stop.now && !ended) {
    if (inFlight.length >= STREAM_BATCHES_IN_FLIGHT) {
      await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    const size = 10 + Math.floor(rand() * 90);
    const ids = Array.from({ length: size }, () => retries.shift() ?? ledger.take());
    const events: Event[] = ids.map((id, i) => ({ event: { case: "generic", value: { eventType: "kill_loop", data: { cycle, i }, eventId: id } } }));
    batchId++;
    inFlight.push({ batchId, ids });
    await Promise.race([call.send({ batchId: BigInt(batchId), events }), reader]);
  }
  if (!stop.now) call.close();
  await reader;
  return acks;
}

// ---------------------------------------------------------------- the log, checked as it grows

/** Checks the log files incrementally, with the server down; the records' ids and seqs end up in `logged`. */
class LogChecker {
  readonly logged = new Map<string, number>();
  lastSeq = 0;
  duplicated = 0;
  lost = 0;
  tornTailsSeen = 0;
  private readonly closedChecked = new Set<string>();
  private active: { ino: number; checked: number; sample: Buffer } | undefined;

  constructor(
    private readonly logPath: string,
    private readonly ledger: Ledger,
  ) {}

  private register(records: LoggedRecord[], where: string): void {
    for (const r of records) {
      if (!this.ledger.sent.has(r.event_id)) this.ledger.problems.push(`${where}: seq ${r.seq} has event_id ${r.event_id}, which no client sent`);
      const prior = this.logged.get(r.event_id);
      if (prior !== undefined && prior !== r.seq) {
        this.duplicated++;
        this.ledger.problems.push(`${where}: event ${r.event_id} is in the log twice, at seq ${prior} and ${r.seq}`);
      }
      this.logged.set(r.event_id, r.seq);
    }
  }

  /** Checks what was added since the last check; returns the torn bytes at the end of the active file (left for start-up to cut). */
  async check(where: string): Promise<number> {
    const segments = await listSegments(this.logPath);
    const closed = segments.filter((s) => !s.active);
    let expected = 1;
    for (const s of closed) {
      if (s.firstSeq! !== expected && expected !== 1) this.ledger.problems.push(`${where}: segment ${s.path} starts at seq ${s.firstSeq}, expected ${expected}`);
      expected = s.lastSeq! + 1;
      if (this.closedChecked.has(s.path)) continue;
      const bytes = await readFile(s.path);
      try {
        const records = checkLogBytes(bytes, { firstSeq: s.firstSeq });
        if (records.length > 0 && records[records.length - 1].seq !== s.lastSeq) this.ledger.problems.push(`${where}: segment ${s.path} ends at seq ${records[records.length - 1].seq}`);
        this.register(records, where);
        if (s.lastSeq! > this.lastSeq) this.lastSeq = s.lastSeq!;
      } catch (err) {
        this.ledger.problems.push(`${where}: segment ${s.path}: ${(err as Error).message}`);
      }
      this.closedChecked.add(s.path);
    }
    let torn = 0;
    const st = await stat(this.logPath).catch(() => undefined);
    if (st !== undefined) {
      if (this.active === undefined || this.active.ino !== st.ino) {
        this.active = { ino: st.ino, checked: 0, sample: Buffer.alloc(0) };
      }
      const a = this.active;
      const fh = await open(this.logPath, "r");
      try {
        if (st.size < a.checked) {
          this.ledger.problems.push(`${where}: the log shrank to ${st.size} bytes below ${a.checked} already checked`);
          a.checked = 0;
          a.sample = Buffer.alloc(0);
        } else if (a.sample.length > 0) {
          const again = Buffer.alloc(a.sample.length);
          await fh.read(again, 0, again.length, a.checked - again.length);
          if (!again.equals(a.sample)) this.ledger.problems.push(`${where}: bytes of the log before offset ${a.checked}, checked earlier, have changed`);
        }
        const fresh = Buffer.alloc(st.size - a.checked);
        if (fresh.length > 0) await fh.read(fresh, 0, fresh.length, a.checked);
        torn = tornTailBytes(fresh);
        const valid = fresh.subarray(0, fresh.length - torn);
        const firstSeq = a.checked === 0 ? (closed.length > 0 ? closed[closed.length - 1].lastSeq! + 1 : 1) : this.lastSeq + 1;
        try {
          const records = checkLogBytes(valid, { firstSeq });
          this.register(records, where);
          if (records.length > 0) this.lastSeq = records[records.length - 1].seq;
        } catch (err) {
          this.ledger.problems.push(`${where}: active file from byte ${a.checked}: ${(err as Error).message}`);
        }
        a.checked += valid.length;
        a.sample = Buffer.from(valid.subarray(Math.max(0, valid.length - 4096)));
        if (valid.length < 4096 && a.checked > valid.length) {
          const s = Buffer.alloc(Math.min(4096, a.checked));
          await fh.read(s, 0, s.length, a.checked - s.length);
          a.sample = s;
        }
      } finally {
        await fh.close();
      }
    }
    if (torn > 0) this.tornTailsSeen++;
    this.ledger.lastSeqSeen = this.lastSeq;
    // Everything acked since the last check must be there, at its acked seq.
    for (const id of this.ledger.toCheck) {
      const at = this.logged.get(id);
      const seq = this.ledger.acked.get(id)!;
      if (at === undefined) {
        this.lost++;
        this.ledger.problems.push(`${where}: acked event ${id} (seq ${seq}) is missing from the log`);
      } else if (seq !== -1 && at !== seq) this.ledger.problems.push(`${where}: event ${id} was acked with seq ${seq} but is at seq ${at}`);
      else if (seq === -1) this.ledger.acked.set(id, at);
    }
    this.ledger.toCheck = [];
    return torn;
  }
}

/** A full pass over every file, independent of the incremental checks: each event at most once, each acked one at its seq. */
async function fullPass(logPath: string, ledger: Ledger): Promise<{ records: number; files: number; duplicated: number; lost: number; missingSent: number }> {
  const seen = new Map<string, number>();
  let duplicated = 0;
  let expected = 1;
  const files = await listSegments(logPath);
  for (const f of files) {
    const bytes = await readFile(f.path);
    if (f.firstSeq !== undefined && f.firstSeq !== expected) ledger.problems.push(`full pass: ${f.path} starts at ${f.firstSeq}, expected ${expected}`);
    // checkLogBytes in slices of ~16 MiB cut at line ends (a 500 MB file parsed at once would not fit the heap).
    for (let from = 0; from < bytes.length; ) {
      let to = Math.min(bytes.length, from + 16 * 1024 * 1024);
      if (to < bytes.length) to = bytes.lastIndexOf(0x0a, to - 1) + 1;
      const records = checkLogBytes(bytes.subarray(from, to), { firstSeq: expected });
      for (const r of records) {
        const prior = seen.get(r.event_id);
        if (prior !== undefined) {
          duplicated++;
          ledger.problems.push(`full pass: ${r.event_id} at seq ${prior} and ${r.seq}`);
        }
        seen.set(r.event_id, r.seq);
      }
      expected += records.length;
      from = to;
    }
  }
  let lost = 0;
  for (const [id, seq] of ledger.acked) {
    const at = seen.get(id);
    if (at === undefined || (seq !== -1 && at !== seq)) {
      lost++;
      ledger.problems.push(`full pass: acked ${id} (seq ${seq}) is ${at === undefined ? "missing" : `at seq ${at}`}`);
    }
  }
  let missingSent = 0;
  for (const id of ledger.sent) if (!seen.has(id) && !ledger.abandoned.has(id)) missingSent++;
  return { records: expected - 1, files: files.length, duplicated, lost, missingSent };
}

// ---------------------------------------------------------------- the loop

type Mode = "startup" | "listen" | "load" | "race" | "startup-race";
const MODES: Array<[Mode, number]> = [
  ["startup", 0.25],
  ["listen", 0.1],
  ["load", 0.4],
  ["race", 0.15],
  ["startup-race", 0.1],
];
function pickMode(): Mode {
  let x = rand();
  for (const [m, w] of MODES) {
    if ((x -= w) < 0) return m;
  }
  return "load";
}

interface FailedStart {
  cycle: number;
  start: number;
  mode: string;
  status: string;
  reason: string;
  file: string;
}

async function main(): Promise<void> {
  ensureBuilt();
  const dir = args.dir ?? (await mkdtemp(join(tmpdir(), "pulse-kill-loop-")));
  await mkdir(dir, { recursive: true });
  const out = args.out ?? join(dir, "failed-starts");
  await mkdir(out, { recursive: true });
  const logPath = join(dir, "log.jsonl");
  const port = await freePort();
  const began = performance.now();
  console.log(`kill loop: server ${mainJs}, seed ${SEED}, up to ${CYCLES} cycles / ${args.minutes} min, port ${port}, log ${logPath}${SEGMENT_BYTES_MAX ? `, --segment-bytes-max ${SEGMENT_BYTES_MAX}` : ""}; failed starts kept in ${out}`);

  const ledger = new Ledger();
  const checker = new LogChecker(logPath, ledger);
  const failed: FailedStart[] = [];
  const stats = {
    cycles: 0,
    starts: 0,
    modes: {} as Record<string, number>,
    killsBeforeListening: 0,
    killsJustAfterListening: 0,
    killsUnderLoad: 0,
    racingStarts: 0,
    acked: 0,
    duplicateAcks: 0,
    lost: 0,
    duplicated: 0,
    tornTailsSeen: 0,
    failedStarts: 0,
    supervisorRestartsFailed: 0,
    listenMs: [] as number[],
    /** Starts that took over the lock, by the reason they logged (dead, reused-pid, rebooted, corrupt). */
    lockTakeovers: {} as Record<string, number>,
  };
  const recentListenMs: number[] = [];
  const usualStartMs = () => {
    if (recentListenMs.length === 0) return 600;
    const sorted = [...recentListenMs].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  };

  /** Keeps a failed start's whole output, with the lock file and the folder as they are now. */
  const keepFailure = async (s: Start, cycle: number, mode: string, status: string): Promise<FailedStart> => {
    const lock = await readFile(`${logPath}.lock`, "utf8").then((t) => JSON.stringify(t), (e: NodeJS.ErrnoException) => `(${e.code})`);
    const names = await readdir(dir).catch(() => [] as string[]);
    const file = join(out, `failed-start-${s.n}.txt`);
    const text = [
      `cycle ${cycle}, start #${s.n} (pid ${s.pid}), mode ${mode}, seed ${SEED}`,
      `status: ${status}, ${(((s.exitedAt ?? performance.now()) - s.spawnedAt)).toFixed(0)} ms after the spawn`,
      `previous start: ${s.previous ? `#${s.previous.n} pid ${s.previous.pid}, ${s.previous.exited ? "had exited" : "had NOT exited yet"} when this one was spawned` : "none"}`,
      `lock file now: ${lock}`,
      `folder now: ${names.join(" ")}`,
      "",
      "----- stderr -----",
      s.stderr(),
      "----- stdout and stderr, in order -----",
      s.output(),
    ].join("\n");
    await writeFile(file, text);
    const reason = s.stderr().trim().split("\n")[0] || s.output().trim().split("\n").pop() || "(no output)";
    const f = { cycle, start: s.n, mode, status, reason, file };
    failed.push(f);
    stats.failedStarts++;
    console.log(`  FAILED START (cycle ${cycle}, ${mode}, ${status}): ${reason}  -> ${file}`);
    return f;
  };

  /** Waits until `s` listens; a start that exits (or hangs) instead is kept as failed and the "supervisor" starts again. */
  const untilListening = async (s: Start, cycle: number, mode: string): Promise<Start> => {
    for (let attempt = 0; ; attempt++) {
      const timer = sleep(START_TIMEOUT_MS).then(() => "timeout" as const);
      const r = await Promise.race([s.listening, timer]);
      if (r === true) {
        recentListenMs.push(s.listenedAt! - s.spawnedAt);
        if (recentListenMs.length > 20) recentListenMs.shift();
        stats.listenMs.push(Math.round(s.listenedAt! - s.spawnedAt));
        const takeover = /"reason":"([a-z-]+)"[^\n]*"msg":"took over the lock|"msg":"replaced a lock file/.exec(s.output());
        if (takeover) stats.lockTakeovers[takeover[1] ?? "corrupt"] = (stats.lockTakeovers[takeover[1] ?? "corrupt"] ?? 0) + 1;
        return s;
      }
      if (r === "timeout") s.kill();
      const { code, signal } = await s.ended;
      await keepFailure(s, cycle, mode, r === "timeout" ? `no "listening" within ${START_TIMEOUT_MS} ms` : `exited by itself with code ${code}${signal ? ` signal ${signal}` : ""}`);
      if (attempt >= 1) stats.supervisorRestartsFailed++;
      if (attempt >= 4) throw new Error(`${attempt + 1} starts in a row failed; giving up`);
      await sleep(RESTART_DELAY_MS);
      s = spawnServer(logPath, port);
      stats.starts++;
    }
  };

  /** After our SIGKILL: a start that exited with a code of its own had failed just before the kill landed. */
  const gone = async (s: Start, cycle: number, mode: string): Promise<void> => {
    const { code } = await s.ended;
    if (code !== null) await keepFailure(s, cycle, mode, `exited by itself with code ${code} (just before the kill)`);
  };

  let next: Start | undefined;
  let cycle = 0;
  for (cycle = 1; cycle <= CYCLES && Date.now() < DEADLINE; cycle++) {
    let s = next ?? spawnServer(logPath, port);
    if (next === undefined) stats.starts++;
    next = undefined;
    const mode = pickMode();
    stats.modes[mode] = (stats.modes[mode] ?? 0) + 1;

    if (mode === "startup" || mode === "startup-race") {
      const delay = rand() * usualStartMs() * 1.1;
      const r = await Promise.race([sleep(delay).then(() => "kill" as const), s.ended.then(() => "ended" as const)]);
      if (r === "ended") {
        // It exited by itself before the kill: a failed start. The supervisor starts it again.
        s = await untilListening(s, cycle, mode);
      }
      if (s.listenedAt === undefined) stats.killsBeforeListening++;
      else stats.killsJustAfterListening++;
      s.kill();
      if (mode === "startup-race") {
        next = spawnServer(logPath, port);
        stats.starts++;
        stats.racingStarts++;
      }
      await gone(s, cycle, mode);
    } else {
      s = await untilListening(s, cycle, mode);
      if (mode === "listen") {
        await sleep(rand() * 20);
        s.kill();
        stats.killsJustAfterListening++;
        await gone(s, cycle, mode);
      } else {
        const client = createClient(LearningLogService, `127.0.0.1:${port}`);
        const retries = ledger.retries();
        const stop = { now: false };
        const logged = checker.logged;
        const load = [
          ...Array.from({ length: UNARY_WORKERS }, () => unaryWorker(client, ledger, logged, retries, cycle, stop)),
          streamWorker(client, ledger, logged, retries, cycle, stop),
        ];
        await ledger.firstAck(5_000);
        await sleep(30 + rand() * 470);
        stop.now = true;
        s.kill();
        stats.killsUnderLoad++;
        if (mode === "race") {
          next = spawnServer(logPath, port);
          stats.starts++;
          stats.racingStarts++;
        }
        await gone(s, cycle, mode);
        await Promise.all(load);
        client.close();
      }
    }
    stats.cycles++;
    // The log is checked while no server runs (a racing start may be running: then at the next quiet moment).
    if (next === undefined) await checker.check(`cycle ${cycle}`);
    if (cycle % 25 === 0) {
      console.log(`  cycle ${cycle}: ${((performance.now() - began) / 60_000).toFixed(1)} min, ${ledger.acked.size} acked, last seq ${checker.lastSeq}, usual start ${usualStartMs().toFixed(0)} ms, failed starts ${stats.failedStarts}, problems ${ledger.problems.length}`);
    }
    if (ledger.problems.length > 50) break;
  }

  // A racing start may still be starting: let it listen, then stop it.
  if (next !== undefined) {
    next = await untilListening(next, cycle, "final");
    next.kill();
    await next.ended;
    await checker.check("after the last racing start");
  }
  // Last start: every unacked event retried once more, no kill; then SIGTERM.
  let final = spawnServer(logPath, port);
  stats.starts++;
  final = await untilListening(final, cycle, "final");
  const client = createClient(LearningLogService, `127.0.0.1:${port}`);
  const retries = ledger.retries();
  for (let i = 0; i < retries.length; i += 64) {
    await Promise.all(
      retries.slice(i, i + 64).map(async (id) => {
        const { ack } = await client.logEvent({ eventType: "kill_loop", data: { final: true }, eventId: id }, { deadline: CALL_DEADLINE_MS });
        ledger.ack(id, Number(ack!.seq), ack!.duplicate, checker.logged, "final retry");
      }),
    );
  }
  client.close();
  try {
    process.kill(-final.pid, "SIGTERM");
  } catch {
    /* gone */
  }
  const stopped = await final.ended;
  if (stopped.code !== 0) ledger.problems.push(`graceful stop: exit ${stopped.code} signal ${stopped.signal}; output:\n${final.output()}`);
  await checker.check("final");
  const pass = await fullPass(logPath, ledger);
  const verify = spawnSync(process.execPath, [cliJs, "verify", "--log-path", logPath], { cwd: serverRoot, encoding: "utf8" });
  if (verify.status !== 0) ledger.problems.push(`pulse-log verify: exit ${verify.status}: ${verify.stdout}${verify.stderr}`);

  stats.acked = ledger.acked.size;
  stats.duplicateAcks = ledger.duplicateAcks;
  stats.lost = checker.lost + pass.lost;
  stats.duplicated = checker.duplicated + pass.duplicated;
  stats.tornTailsSeen = checker.tornTailsSeen;
  const listen = [...stats.listenMs].sort((a, b) => a - b);
  const summary = {
    seed: SEED,
    segmentBytesMax: SEGMENT_BYTES_MAX ?? null,
    minutes: Number(((performance.now() - began) / 60_000).toFixed(1)),
    ...stats,
    listenMs: { median: listen[Math.floor(listen.length / 2)], p95: listen[Math.floor(listen.length * 0.95)], max: listen[listen.length - 1] },
    sent: ledger.sent.size,
    abandonedRetries: ledger.abandoned.size,
    records: pass.records,
    files: pass.files,
    sentNotInLog: pass.missingSent,
    verify: verify.status === 0 ? verify.stdout.trim().split("\n").slice(-3).join(" | ") : `FAILED (exit ${verify.status})`,
    failed,
    problems: ledger.problems.slice(0, 50),
  };
  await writeFile(join(out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  console.log(JSON.stringify(summary, null, 2));
  const ok = ledger.problems.length === 0 && stats.failedStarts === 0 && pass.missingSent === 0;
  if (ok && args.clean) await rm(dir, { recursive: true, force: true });
  process.exit(ok ? 0 : 1);
}

await main();
