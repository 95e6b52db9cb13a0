import { parseArgs } from "node:util";

/** What one `npm run bench` does; every option has a default. */
export interface BenchOptions {
  /** Short run: 2 s per scenario and a 1,000,000-event long run (flag --quick). */
  quick: boolean;
  /** Seconds measured per scenario and server. Default 5, or 2 with --quick (flag --duration-s). */
  durationS: number;
  /** Seconds of warm-up before each measurement, not counted. Default 1. */
  warmupS: number;
  /** Events of the long run. Default 10,000,000, or 1,000,000 with --quick (flag --long-events). */
  longEvents: number;
  /** Time limit of the long run, in seconds. Default 360, or 60 with --quick (flag --long-max-s). */
  longMaxS: number;
  /** Leave out the Python client's scenario (flag --skip-python). */
  skipPython: boolean;
  /** Leave out the long run (flag --skip-long). */
  skipLong: boolean;
  /** Leave out the JetStream rows (bench/jetstream-bench.ts; flag --skip-jetstream). */
  skipJetStream: boolean;
  /**
   * CPU-profile the real server: "auto" profiles when a throughput or latency
   * target is missed (flag --profile forces it, --no-profile never). Default "auto", never with --quick.
   */
  profile: "auto" | "always" | "never";
  /** Where the report goes. Default bench/RESULTS.md; --no-results writes none (flag --results FILE). */
  resultsPath: string | undefined;
}

/** Usage text for --help. */
export const usage = `Usage: npm run bench -- [options]

Runs the real server, a naive baseline (open/append/fsync/close per event) and a
no-op server side by side, drives them from TypeScript and Python, prints a
Markdown table and writes it to bench/RESULTS.md.

  --quick             2 s per scenario, 1,000,000-event long run (60 s at most), no profile
  --duration-s N      seconds measured per scenario and server [default 5]
  --warmup-s N        seconds of warm-up before each measurement [default 1]
  --long-events N     events of the long run                  [default 10000000]
  --long-max-s N      time limit of the long run, in seconds  [default 360]
  --skip-python       leave out the Python client
  --skip-jetstream    leave out the JetStream rows (they need nats-server)
  --skip-long         leave out the long run
  --profile           always CPU-profile the real server (default: only when a target is missed)
  --no-profile        never profile
  --results FILE      write the report there                  [default bench/RESULTS.md]
  --no-results        write no report file
  -h, --help          show this text
`;

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${text}"`);
  return n;
}

/** Parses the flags; returns undefined after printing usage for --help. Throws on a bad flag. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | undefined {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean" },
      "duration-s": { type: "string" },
      "warmup-s": { type: "string" },
      "long-events": { type: "string" },
      "long-max-s": { type: "string" },
      "skip-python": { type: "boolean" },
      "skip-long": { type: "boolean" },
      "skip-jetstream": { type: "boolean" },
      profile: { type: "boolean" },
      "no-profile": { type: "boolean" },
      results: { type: "string" },
      "no-results": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) {
    process.stdout.write(usage);
    return undefined;
  }
  const quick = v.quick ?? false;
  return {
    quick,
    durationS: positive("duration-s", v["duration-s"], quick ? 2 : 5),
    warmupS: positive("warmup-s", v["warmup-s"], 1),
    longEvents: Math.round(positive("long-events", v["long-events"], quick ? 1_000_000 : 10_000_000)),
    longMaxS: positive("long-max-s", v["long-max-s"], quick ? 60 : 360),
    skipPython: v["skip-python"] ?? false,
    skipLong: v["skip-long"] ?? false,
    skipJetStream: v["skip-jetstream"] ?? false,
    profile: v.profile ? "always" : v["no-profile"] || quick ? "never" : "auto",
    resultsPath: v["no-results"] ? undefined : (v.results ?? "bench/RESULTS.md"),
  };
}
