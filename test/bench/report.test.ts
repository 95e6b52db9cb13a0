import assert from "node:assert/strict";
import type { CpuUse } from "../../bench/cpu.js";
import type { RedisRun } from "../../bench/redis-peer.js";
import { payloadsAndThreads, reportMarkdown, type BenchReport } from "../../bench/report.js";
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
    assert.equal(cells[10], "<= 1.0x Redis");
    assert.equal(cells[11], "**no**", "2.0x Redis");
  });

  it("gives n/a for a ratio without its baseline, never a division by nothing", () => {
    const markdown = reportMarkdown(report({ redis: undefined, stringify: [] }));
    const seed = row(markdown, "seed mix", "seed-1000");
    assert.equal(seed[4], "n/a");
    assert.equal(seed[5], "n/a");
    const weight = row(markdown, "variable weight changes", "bidi-1000");
    assert.equal(weight[2], "2.50", "one run: the figure alone");
    assert.equal(weight[6], "n/a", "no no-op run");
    assert.equal(weight[11], "", "no Redis run to judge against");
    assert.equal(row(reportMarkdown(report()), "variable weight changes", "bidi-1000")[11], "yes", "2.5 us is 0.5x Redis's 5 us");
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
    const redis = row(markdown, "Redis 7.0.15 XADD", "16 connections");
    assert.equal(redis[2], "4.00 / **5.00** / 6.00");
    assert.equal(redis[4], "1.0x");
    const stringify = row(markdown, "JSON.stringify of the seed-mix records");
    assert.equal(stringify[2], "2.40 / **2.50** / 2.60 (CPU per record)");
    assert.equal(stringify[4], "0.5x");
  });
});

/** A key run with per-thread figures: `mainCores` of the process's `cores` on the main thread, `v8Cores` on the V8 platform, `pauseCores` of GC pauses. */
const threaded = (eventsPerSecond: number, cores: number, mainCores: number, v8Cores: number, pauseCores: number, loadAverage = 1): Measured => ({
  usPerEvent: (cores / eventsPerSecond) * 1e6,
  loadAverage,
  peakRssBytes: 80e6,
  serverCpu: cpu(cores),
  result: { events: eventsPerSecond, seconds: 1, eventsPerSecond, latency: { count: 10, p50Ms: 4, p99Ms: 12.5 } },
  threadCores: { main: mainCores, workers: 0.1, libuv: 0.05, v8: v8Cores, other: cores - mainCores - v8Cores - 0.15 },
  gcPauseCores: pauseCores,
});

describe("bench/report: payloads and threads", () => {
  const scenarios = mainScenarios({ python: false });
  const of = (id: string) => scenarios.find((s) => s.id === id)!;
  const withThreads = (): BenchReport =>
    report({
      keyWarmupS: 4,
      scenarios: [
        // 200,000 events/s at 1.2 cores: 6 us per event; main thread 0.8 cores: 4 us; GC (0.1 + 0.14) / 1.2 = 20 %.
        { scenario: of("seed-1000"), byServer: { pulse: [threaded(200_000, 1.2, 0.8, 0.14, 0.1), threaded(190_000, 1.33, 0.9, 0.2, 0.1), threaded(210_000, 1.05, 0.7, 0.1, 0.08)] }, avgLineBytes: 370 },
        { scenario: of("seed-string-1000"), byServer: { pulse: [threaded(250_000, 1.0, 0.7, 0.1, 0.05)] } },
        { scenario: of("bidi-1000"), byServer: { pulse: [threaded(500_000, 1.25, 0.6, 0.1, 0.05)] } },
      ],
    });

  it("leads the report, before the CPU table", () => {
    const markdown = reportMarkdown(withThreads());
    assert.ok(markdown.indexOf("## Payloads and threads") > 0);
    assert.ok(markdown.indexOf("## Payloads and threads") < markdown.indexOf("## Server CPU per durable event"));
  });

  it("gives whole-process and main-thread CPU per event, min / median / max, and the one-process ceiling from the main thread", () => {
    const cells = row(payloadsAndThreads(withThreads()).join("\n"), "seed mix as Pulse sends it");
    assert.equal(cells[1], "5.00 / **6.00** / 7.00");
    assert.equal(cells[4], "3.33 / **4.00** / 4.74");
    // 1e6 / 4 us
    assert.equal(cells[11], "250,000");
  });

  it("gives each thread group's CPU per event and the GC share: main-thread pauses plus the V8 platform's threads", () => {
    const cells = row(payloadsAndThreads(withThreads()).join("\n"), "seed mix as Pulse sends it");
    // workers 0.1 cores at 200,000 events/s (the median run) = 0.5 us; V8 0.14 / 200,000 = 0.7 us
    assert.equal(cells[5], "0.50");
    assert.equal(cells[7], "0.70");
    // (0.08 + 0.1) / 1.05 = 17 %, (0.1 + 0.14) / 1.2 = 20 %, (0.1 + 0.2) / 1.33 = 23 %
    assert.equal(cells[9], "17 % / **20 %** / 23 %");
    assert.equal(cells[10], "8 %", "main-thread pauses alone: 0.1 / 1.2");
  });

  it("gives same-run ratios to Redis and to the seed mix, and judges the seed mix's targets", () => {
    const text = payloadsAndThreads(withThreads()).join("\n");
    const seed = row(text, "seed mix as Pulse sends it");
    // 6 us / Redis's median 5 us
    assert.equal(seed[2], "1.2x");
    assert.equal(seed[3], "1.0x");
    assert.equal(seed[15], "<= 1x Redis: **no**; main thread: **no**; GC: **no**");
    const strings = row(text, "seed mix with string rule outcomes");
    // 4 us / 6 us
    assert.equal(strings[3], "0.7x");
    assert.equal(strings[15], "-", "no target for this shape");
    const weight = row(text, "variable weight changes");
    // 2.5 us / 5 us = 0.5x: met
    assert.equal(weight[15], "<= 0.5x Redis: yes");
    assert.equal(row(text, "Redis 7.0.15")[2], "1.0x");
  });

  it("is left out when no key scenario measured threads", () => {
    assert.deepEqual(payloadsAndThreads(report({ scenarios: [] })), []);
  });
});
