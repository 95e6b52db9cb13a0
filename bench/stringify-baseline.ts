/**
 * The in-process baseline of the CPU-per-event figures: `JSON.stringify` of
 * the very records the real server wrote (lines read back from its log and
 * parsed before the clock starts), one call per record on one thread. A
 * server that decodes, validates, redacts, numbers, hash-chains and durably
 * writes each record cannot cost less than this floor's order of magnitude;
 * the ratio says how far above it the server is.
 */
import { open, stat } from "node:fs/promises";
import { listSegments } from "../src/store/file/segments.js";

/** Log lines read back from a run, and the log's average line size. */
export interface LogSample {
  /** Complete lines from the start of the log (without their newline). */
  lines: string[];
  /** Bytes of all the log's files divided by the records in them (hash chain and newline included). */
  avgLineBytes: number;
  /** Records in the log (its last seq). */
  records: number;
}

const SAMPLE_BYTES = 4 * 1024 * 1024;

async function readSlice(path: string, position: number, length: number): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.toString("utf8", 0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Samples the log of a finished run: the first 4 MiB of lines of its oldest
 * file, and the average line size over all its files. The last record's seq,
 * read from the end of the active file, counts the records.
 */
export async function sampleLog(logPath: string): Promise<LogSample | undefined> {
  const segments = await listSegments(logPath);
  const sizes = await Promise.all(segments.map(async (s) => (await stat(s.path)).size));
  const activeSize = segments.at(-1)?.active ? sizes.at(-1)! : 0;
  if (activeSize === 0) return undefined;
  const tail = (await readSlice(logPath, Math.max(0, activeSize - 8192), Math.min(8192, activeSize))).trimEnd().split("\n").at(-1)!;
  const records = Number((JSON.parse(tail) as { seq?: unknown }).seq);
  if (!(records > 0)) return undefined;
  const head = await readSlice(segments[0].path, 0, Math.min(SAMPLE_BYTES, sizes[0]));
  const lines = head.split("\n").slice(0, -1);
  const bytes = sizes.reduce((sum, n) => sum + n, 0);
  return { lines, avgLineBytes: bytes / records, records };
}

/**
 * CPU microseconds per record of `JSON.stringify`, over the parsed `lines`
 * round-robin for at least `minSeconds` of CPU time, after a warm-up pass.
 */
export function stringifyMicros(lines: readonly string[], minSeconds = 1): number {
  const records = lines.map((line) => JSON.parse(line) as unknown);
  let sink = 0;
  for (const r of records) sink += JSON.stringify(r).length;
  const cpu = process.cpuUsage();
  let done = 0;
  let usedS = 0;
  while (usedS < minSeconds) {
    for (const r of records) sink += JSON.stringify(r).length;
    done += records.length;
    const c = process.cpuUsage(cpu);
    usedS = (c.user + c.system) / 1e6;
  }
  // Keep the result alive so the loop cannot be optimised away.
  if (sink === 0) throw new Error("stringify produced nothing");
  return (usedS / done) * 1e6;
}
