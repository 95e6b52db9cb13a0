import assert from "node:assert/strict";
import type { CpuUse } from "../../bench/cpu.js";
import type { RedisRun } from "../../bench/redis-peer.js";
import { reportMarkdown, type BenchReport } from "../../bench/report.js";
import { mainScenarios, type Measured } from "../../bench/scenarios.js";

const cpu = (cores: number): CpuUse => ({ cpuS: cores, wallS: 1, cores });

const run = (usPerEvent: number, eventsPerSecond: number, loadAverage = 1.5): Measured => ({
  usPerEvent,
  loadAverage,
  peakRssBytes: 80e6,
  serverCpu: cpu((usPerEvent * eventsPerSecond) / 1e6),
  result: { events: eventsPerSecond, seconds: 1, eventsPerSecond, latency: { count: 10, p50Ms: 4, p99Ms: 12.5 } },
});

const redisRun = (usPerEvent: number): RedisRun => ({
  eventsPerSecond: 250_000,
  events: 250_000,
  cpu: cpu(usPerEvent / 4),
  usPerEvent,
  p50Ms: 1,
  p99Ms: 2,
  peakRssBytes: 50e6,
  loadAverage: 2,
});

function report(overrides: Partial<BenchReport> = {}): BenchReport {
  const scenarios = mainScenarios({ python: false });
  const seed = scenarios.find((s) => s.id === "seed-1000")!;
  const weight = scenarios.find((s) => s.id === "bidi-1000")!;
  return {
    command: "npm run bench",
    date: "2026-11-30",
    machine: { cores: 2, cpuModel: "test CPU", memoryGb: 4, kernel: "Linux test", node: "v20", loadAverage: 1.5 },
    warmupS: 1,
    durationS: 2,
    repeats: 3,
    scenarios: [
      {
        scenario: seed,
        // Repeats in the order they ran: the table sorts them.
        byServer: { pulse: [run(12, 150_000, 3.1), run(9, 200_000, 0.9), run(10, 180_000, 1.2)], naive: [run(50, 2_000)], noop: [run(2, 400_000)] },
        avgLineBytes: 355,
      },
      { scenario: weight, byServer: { pulse: [run(2.5, 600_000)] } },
    ],
    redis: { version: "7.0.15", fieldBytes: 355, fieldFrom: "the seed mix's average line", runs: [redisRun(6), redisRun(4), redisRun(5)], errors: [] },
    stringify: [{ payload: "seed", sampleRecords: 1000, avgLineBytes: 355, usPerRecord: [2.4, 2.6, 2.5] }],
    profiles: [],
    notes: [],
    ...overrides,
  };
}

/** The table row of the report whose first cell starts with `start` (and, when given, that contains `also`). */
function row(markdown: string, start: string, also = ""): string[] {
  const line = markdown.split("\n").find((l) => l.startsWith(`| ${start}`) && l.includes(also));
  assert.ok(line !== undefined, `no row starting with "${start}" in:\n${markdown}`);
  return line.split(" | ").map((c) => c.replace(/^\| |\s\|$/g, "").trim());
}

describe("bench/report: the figures and ratios RESULTS.md leads with", () => {
  it("gives min / median / max of the repeats, the median in bold, in microseconds to 3 significant places", () => {
    const cells = row(reportMarkdown(report()), "seed mix", "seed-1000");
    assert.equal(cells[2], "9.00 / **10.0** / 12.0");
    assert.equal(cells[7], "150,000 / **180,000** / 200,000");
    assert.equal(cells[9], "3.1, 0.9, 1.2", "load average at the start of each run, in the order they ran");
  });

  it("gives same-run ratios of medians: to Redis and to JSON.stringify of the same records", () => {
    const cells = row(reportMarkdown(report()), "seed mix", "seed-1000");
    // 10 us (median of 12, 9, 10) / 5 us (median of Redis's 6, 4, 5)
    assert.equal(cells[4], "2.0x");
    // 10 us / 2.5 us (median of 2.4, 2.6, 2.5)
    assert.equal(cells[5], "4.0x");
    assert.equal(cells[6], "2.00", "no-op server's CPU per event");
    assert.equal(cells[10], "<= 6 us");
    assert.equal(cells[11], "**no**");
  });

  it("gives n/a for a ratio without its baseline, never a division by nothing", () => {
    const markdown = reportMarkdown(report({ redis: undefined, stringify: [] }));
    const seed = row(markdown, "seed mix", "seed-1000");
    assert.equal(seed[4], "n/a");
    assert.equal(seed[5], "n/a");
    const weight = row(markdown, "variable weight changes");
    assert.equal(weight[2], "2.50", "one run: the figure alone");
    assert.equal(weight[6], "n/a", "no no-op run");
    assert.equal(weight[11], "yes");
  });

  it("gives throughput ratios to the naive server as a multiple and to the no-op server as a percentage", () => {
    const cells = row(reportMarkdown(report()), "bidi IngestEvents, seed mix");
    // 180,000 / 2,000 and 180,000 / 400,000
    assert.equal(cells[5], "90.0x");
    assert.equal(cells[7], "45 %");
    assert.equal(cells[8], "4.00 / 12.5", "ack p50 / p99 in ms");
  });

  it("puts the baselines' own rows beside the server's: Redis at 1.0x, JSON.stringify relative to Redis", () => {
    const markdown = reportMarkdown(report());
    const redis = row(markdown, "Redis 7.0.15 XADD");
    assert.equal(redis[2], "4.00 / **5.00** / 6.00");
    assert.equal(redis[4], "1.0x");
    const stringify = row(markdown, "JSON.stringify of the seed-mix records");
    assert.equal(stringify[2], "2.40 / **2.50** / 2.60 (CPU per record)");
    assert.equal(stringify[4], "0.5x");
  });
});
