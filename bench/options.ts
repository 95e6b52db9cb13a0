import { parseArgs } from "node:util";

/**
 * The parts of a run that are not driver scenarios, by the names
 * `--scenario` takes (beside the scenario ids of bench/scenarios.ts).
 */
export const EXTRA_PARTS = ["paced-100", "paced-1000", "redis", "stringify", "long", "replay", "jetstream"] as const;

/** What one `npm run bench` does; every option has a default. */
export interface BenchOptions {
  /** Short run: 2 s per scenario, a 1,000,000-event long run, a 200,000-record replay, no profile, no JetStream (flag --quick). */
  quick: boolean;
  /** Seconds measured per scenario and server. Default 5, or 2 with --quick (flag --duration-s). */
  durationS: number;
  /** Seconds of warm-up before each measurement, not counted. Default 1. */
  warmupS: number;
  /** Runs of each key scenario (one per payload shape, from TypeScript; Redis) for min / median / max. Default 3 (flag --repeats). */
  repeats: number;
  /** Seconds each key scenario's server is driven, unmeasured, before its first run (JIT, heap growth). Default 4, or 2 with --quick (flag --key-warmup-s). */
  keyWarmupS: number;
  /** Events of the long run (seed mix). Default 10,000,000, or 1,000,000 with --quick (flag --long-events). */
  longEvents: number;
  /** Time limit of the long run, in seconds. Default 360, or 30 with --quick (flag --long-max-s). */
  longMaxS: number;
  /** Records of the replay part. Default 1,000,000, or 200,000 with --quick (flag --replay-records). */
  replayRecords: number;
  /**
   * Only these parts (flag --scenario, repeatable or comma-separated): scenario ids and
   * {@link EXTRA_PARTS}. Undefined: everything.
   */
  only: ReadonlySet<string> | undefined;
  /**
   * Before each measured run, wait until the 1-minute load average is under
   * this (at most {@link settleMaxS} s), so that a run does not start in the
   * wake of the one before it (flag --settle-load). Default: no wait.
   */
  settleLoad: number | undefined;
  /** The longest wait for --settle-load, in seconds. Default 90 (flag --settle-max-s). */
  settleMaxS: number;
  /** Leave out the Python client's scenarios (flag --skip-python). */
  skipPython: boolean;
  /** Leave out the long run (flag --skip-long). */
  skipLong: boolean;
  /** Leave out the JetStream rows (bench/jetstream-bench.ts; flag --skip-jetstream). Always with --quick. */
  skipJetStream: boolean;
  /** Leave out the Redis row (flag --skip-redis). */
  skipRedis: boolean;
  /** Leave out the replay part (flag --skip-replay). */
  skipReplay: boolean;
  /**
   * CPU-profile the real server: "key" profiles the key scenarios and any
   * scenario whose target is missed (the default); "always" every scenario
   * with a target (flag --profile); "never" (flag --no-profile, and --quick).
   */
  profile: "key" | "always" | "never";
  /**
   * Where the report goes. Default bench/RESULTS.md for a full run; none for
   * --quick or --scenario unless --results FILE is given; --no-results writes none.
   */
  resultsPath: string | undefined;
}

/** Usage text for --help; `scenarioIds` are the names of bench/scenarios.ts. */
export function usage(scenarioIds: readonly string[]): string {
  return `Usage: npm run bench -- [options]

Runs the real server, a naive baseline (open/append/fsync/close per event), a
no-op server and Redis (appendfsync always) side by side, drives them from
TypeScript and Python, reads every server's CPU time from /proc, prints a
Markdown report and (full runs) writes it to bench/RESULTS.md.

  --quick             2 s per scenario, 1,000,000-event long run (30 s at most),
                      200,000-record replay, no profile, no JetStream: about 3 minutes
                      on a quiet machine; writes no RESULTS.md
  --scenario NAME     run only this part (repeatable, or NAME,NAME); writes no RESULTS.md.
                      Names: ${[...scenarioIds, ...EXTRA_PARTS].join(", ")}
  --repeats N         runs of each key scenario (one per payload shape, on a warmed
                      server of its own) and of Redis (min / median / max) [default 3]
  --duration-s N      seconds measured per scenario and server [default 5]
  --warmup-s N        seconds of warm-up before each measurement [default 1]
  --key-warmup-s N    seconds each key scenario's server is warmed, unmeasured,
                      before its first run (it is kept for all its runs) [default 4]
  --long-events N     seed-mix events of the long run         [default 10000000]
  --long-max-s N      time limit of the long run, in seconds  [default 360]
  --replay-records N  records written and replayed            [default 1000000]
  --settle-load L     before each measured run, wait until the 1-minute load
                      average is under L (the runs before it raise it)  [default: no wait]
  --settle-max-s N    the longest such wait, in seconds       [default 90]
  --skip-python       leave out the Python client
  --skip-redis        leave out the Redis row
  --skip-replay       leave out the replay part
  --skip-jetstream    leave out the JetStream rows (they need nats-server)
  --skip-long         leave out the long run
  --profile           CPU-profile every scenario with a target (default: the key
                      scenarios and any whose target is missed)
  --no-profile        never profile
  --results FILE      write the report there                  [default bench/RESULTS.md]
  --no-results        write no report file
  -h, --help          show this text
`;
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${text}"`);
  return n;
}

/**
 * Parses the flags; returns undefined after printing usage for --help.
 * Throws on a bad flag or an unknown --scenario name.
 */
export function parseBenchOptions(argv: readonly string[], scenarioIds: readonly string[]): BenchOptions | undefined {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean" },
      scenario: { type: "string", multiple: true },
      repeats: { type: "string" },
      "duration-s": { type: "string" },
      "warmup-s": { type: "string" },
      "key-warmup-s": { type: "string" },
      "long-events": { type: "string" },
      "long-max-s": { type: "string" },
      "replay-records": { type: "string" },
      "settle-load": { type: "string" },
      "settle-max-s": { type: "string" },
      "skip-python": { type: "boolean" },
      "skip-long": { type: "boolean" },
      "skip-jetstream": { type: "boolean" },
      "skip-redis": { type: "boolean" },
      "skip-replay": { type: "boolean" },
      profile: { type: "boolean" },
      "no-profile": { type: "boolean" },
      results: { type: "string" },
      "no-results": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    process.stdout.write(usage(scenarioIds));
    return undefined;
  }
  let only: Set<string> | undefined;
  if (v.scenario !== undefined) {
    only = new Set(v.scenario.flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== ""));
    const known = new Set<string>([...scenarioIds, ...EXTRA_PARTS]);
    const unknown = [...only].filter((s) => !known.has(s));
    if (unknown.length > 0) throw new Error(`--scenario: unknown ${unknown.join(", ")}; known: ${[...known].join(", ")}`);
  }
  const quick = v.quick ?? false;
  const partial = quick || only !== undefined;
  return {
    quick,
    durationS: positive("duration-s", v["duration-s"], quick ? 2 : 5),
    warmupS: positive("warmup-s", v["warmup-s"], 1),
    repeats: Math.round(positive("repeats", v.repeats, 3)),
    keyWarmupS: positive("key-warmup-s", v["key-warmup-s"], quick ? 2 : 4),
    longEvents: Math.round(positive("long-events", v["long-events"], quick ? 1_000_000 : 10_000_000)),
    longMaxS: positive("long-max-s", v["long-max-s"], quick ? 30 : 360),
    replayRecords: Math.round(positive("replay-records", v["replay-records"], quick ? 200_000 : 1_000_000)),
    only,
    settleLoad: v["settle-load"] === undefined ? undefined : positive("settle-load", v["settle-load"], 0),
    settleMaxS: positive("settle-max-s", v["settle-max-s"], 90),
    skipPython: v["skip-python"] ?? false,
    skipLong: v["skip-long"] ?? false,
    skipJetStream: (v["skip-jetstream"] ?? false) || quick,
    skipRedis: v["skip-redis"] ?? false,
    skipReplay: v["skip-replay"] ?? false,
    profile: v["no-profile"] || quick ? "never" : v.profile ? "always" : "key",
    resultsPath: v["no-results"] ? undefined : (v.results ?? (partial ? undefined : "bench/RESULTS.md")),
  };
}
