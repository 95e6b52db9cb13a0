/**
 * Start time of the file store on a large rotated log: how long opening the
 * log takes (torn-tail check, last record, and the dedup window rebuilt from
 * the newest records across as many closed segments as it needs), against
 * the same open with no window (the tail alone) in the same run.
 *
 *   node --import tsx bench/start-time.ts [--records 10000000] [--segments 40] [--runs 3] [--dir DIR] [--keep]
 *
 * Builds the log with the real appender (client event_ids, hash chain on),
 * then opens it `runs` times per row, alternating rows, each time from the
 * page cache and, when this process may drop the cache (root), cold.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { v4 as uuidv4 } from "uuid";
import { Appender } from "../src/store/file/appender.js";
import { listSegments } from "../src/store/file/segments.js";

const { values } = parseArgs({
  options: {
    records: { type: "string", default: "10000000" },
    segments: { type: "string", default: "40" },
    runs: { type: "string", default: "3" },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const records = Number(values.records);
const segments = Number(values.segments);
const runs = Number(values.runs);
const BATCH = 10_000;
const body = (i: number) => `"event_type":"variable_weight_update","data":{"variable":"v${i % 1000}","from":0.5,"to":0.75}`;

async function build(path: string): Promise<void> {
  // One line is about 250 bytes: size the segments so the log ends up in `segments` files.
  const probe = Buffer.byteLength(`{"event_id":"${uuidv4()}","timestamp":"2026-11-30T12:00:00.000000+00:00",${body(0)},"seq":${records},"hash":"${"0".repeat(64)}"}\n`);
  const segmentBytesMax = Math.ceil((probe * records) / segments);
  const { appender } = await Appender.open({ path, segmentBytesMax, dedupWindowRecords: 1 });
  const started = performance.now();
  for (let done = 0; done < records; done += BATCH) {
    const n = Math.min(BATCH, records - done);
    await appender.append(Array.from({ length: n }, (_, i) => ({ eventId: uuidv4(), clientChosenId: true, body: body(done + i) })));
    if (done % 1_000_000 === 0) process.stderr.write(`  built ${done} records (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  }
  await appender.close();
}

async function dropCaches(): Promise<boolean> {
  try {
    await writeFile("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}

/** One open and close: wall time of the open, this process's CPU time for it, and what it loaded. */
async function openOnce(path: string, window: number) {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const { appender, recovery } = await Appender.open({ path, dedupWindowRecords: window });
  const ms = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  await appender.close();
  return { ms, cpuMs: (used.user + used.system) / 1000, windowRecords: recovery.windowRecords, lastSeq: recovery.lastSeq };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
};
const fmt = (x: { min: number; median: number; max: number }) => `${x.min.toFixed(0)} / ${x.median.toFixed(0)} / ${x.max.toFixed(0)}`;

const dir = values.dir ?? (await mkdtemp(join(tmpdir(), "pulse-start-bench-")));
const path = join(dir, "pulse_learning_log.jsonl");
try {
  if ((await readdir(dir)).length === 0) {
    process.stderr.write(`building ${records} records in ~${segments} files under ${dir}\n`);
    await build(path);
  }
  const files = await listSegments(path);
  let bytes = 0;
  for (const f of files) bytes += (await stat(f.path)).size;
  const canDrop = await dropCaches();
  const rows = [
    { label: "dedup window 100,000 (default)", window: 100_000 },
    { label: "no dedup window (the tail alone)", window: 0 },
  ];
  const results = new Map<string, { warm: number[]; warmCpu: number[]; cold: number[]; loaded: number; lastSeq: number }>();
  for (const r of rows) results.set(r.label, { warm: [], warmCpu: [], cold: [], loaded: 0, lastSeq: 0 });
  for (let i = 0; i < runs; i++) {
    for (const r of rows) {
      const res = results.get(r.label)!;
      if (canDrop) {
        await dropCaches();
        res.cold.push((await openOnce(path, r.window)).ms);
      }
      const warm = await openOnce(path, r.window);
      res.warm.push(warm.ms);
      res.warmCpu.push(warm.cpuMs);
      res.loaded = warm.windowRecords;
      res.lastSeq = warm.lastSeq;
    }
  }
  const [load1] = (await import("node:os")).loadavg();
  console.log(`\nLog: ${records.toLocaleString("en")} records, ${files.length} files (${files.filter((f) => !f.active).length} closed segments), ${(bytes / 1e9).toFixed(2)} GB; ${runs} runs per row; load average ${load1.toFixed(2)}\n`);
  console.log("| open | window records loaded | warm ms (min / median / max) | warm CPU ms (min / median / max) | cold ms (min / median / max) |");
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) {
    const res = results.get(r.label)!;
    console.log(`| ${r.label} | ${res.loaded.toLocaleString("en")} | ${fmt(stats(res.warm))} | ${fmt(stats(res.warmCpu))} | ${canDrop ? fmt(stats(res.cold)) : "n/a (cannot drop the page cache)"} |`);
  }
  const a = stats(results.get(rows[0].label)!.warm).median;
  const b = stats(results.get(rows[1].label)!.warm).median;
  console.log(`\nwindow / tail-only (warm medians): ${(a / Math.max(b, 0.001)).toFixed(1)}x, ${(a - b).toFixed(0)} ms more; last seq ${results.get(rows[0].label)!.lastSeq}`);
} finally {
  if (!values.keep && values.dir === undefined) await rm(dir, { recursive: true, force: true });
}
