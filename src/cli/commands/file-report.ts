import { stat, writeFile } from "node:fs/promises";
import { formatTimestamp, parseTimestamp } from "../../clock.js";
import { LogReader } from "../../store/file/reader.js";
import type { LogRecordView, ReadQuery } from "../../store/store.js";
import { listSegments } from "../../store/file/segments.js";
import { RunStatus } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { runIdProblem } from "../../record/layout.js";
import { SummaryBuilder, type SummaryData } from "../../summary/aggregate.js";
import { comparisonHtml } from "../../summary/compare-html.js";
import { compareRuns } from "../../summary/compare.js";
import { summaryHtml } from "../../summary/html.js";
import { runOfRecordText } from "../../record/line.js";
import { comparisonText, summaryText, addTypeCountLines } from "../../summary/text.js";
import { CliError, ExitCode, toCliError } from "../exit-codes.js";
import { logClient, type ServerConnection } from "../remote.js";
import type { Output } from "../output.js";
import { cliTimeMicros } from "../time.js";
import { RUN_STATUS_TEXT } from "./runs.js";

/** The log's files with their sizes; NOT_FOUND exit when there are none. */
async function logFiles(logPath: string): Promise<Array<{ path: string; bytes: number }>> {
  const files = [];
  for (const s of await listSegments(logPath)) files.push({ path: s.path, bytes: (await stat(s.path)).size });
  if (files.length === 0) throw new CliError(ExitCode.notFound, `no log at ${logPath} (set --log-path or PULSE_LEARNING_LOG_PATH)`);
  return files;
}

/** Reads every record of the query through the Reader, with a progress bar over the bytes. */
async function forEachRecord(logPath: string, query: ReadQuery, out: Output, label: string, totalBytes: number, visit: (r: Parameters<SummaryBuilder["add"]>[0]) => void): Promise<{ skipped: number; nonFinite: number }> {
  const bar = out.progress(label, totalBytes, "bytes");
  let bytes = 0;
  let skipped: number;
  let nonFinite: number;
  const reader = new LogReader(logPath);
  const cursor = await reader.open(query);
  try {
    for await (const batch of cursor.batches()) {
      for (const r of batch) {
        visit(r);
        bytes += r.fieldLength("json") + 1;
      }
      bar.update(Math.min(bytes, totalBytes));
    }
    skipped = cursor.skippedLines;
    nonFinite = cursor.nonFiniteRecords;
  } finally {
    bar.stop();
    await cursor.close();
  }
  return { skipped, nonFinite };
}

/** Options of `pulse-log stats`. */
export interface StatsOptions {
  logPath: string;
  /** Read through this server's ReadEvents instead of the files (any store, JetStream included). */
  server?: ServerConnection;
  /** Only these runs' records. */
  runs?: string[];
}

type RecordVisitor = (r: Pick<LogRecordView, "seq" | "timestamp" | "eventType" | "json">) => void;

/** Streams every record of a time range (and of the given runs, when any) through a server's ReadEvents (no follow). */
async function forEachRemoteRecord(server: ServerConnection, sinceMicros: number | undefined, untilMicros: number | undefined, visit: RecordVisitor, runs: string[] = []): Promise<void> {
  const client = logClient(server);
  try {
    const stream = client.readEvents({
      since: sinceMicros === undefined ? undefined : formatTimestamp(sinceMicros),
      until: untilMicros === undefined ? undefined : formatTimestamp(untilMicros),
      runs,
    });
    for await (const message of stream) {
      for (const r of message.records) visit({ seq: Number(r.seq), timestamp: r.timestamp, eventType: r.eventType, json: r.json });
    }
  } catch (err) {
    throw toCliError(err, server);
  } finally {
    client.close();
  }
}

/** `pulse-log stats`: counts by type, first/last seq and time, file sizes, events/s over the log's life. */
export async function stats(options: StatsOptions, out: Output): Promise<void> {
  const files = options.server === undefined ? await logFiles(options.logPath) : [];
  const totalBytes = files.reduce((a, f) => a + f.bytes, 0);
  const counts = new Map<string, number>();
  let records = 0;
  let first: { seq: number; timestamp: string } | undefined;
  let last: { seq: number; timestamp: string } | undefined;
  const visit: RecordVisitor = (r) => {
    records++;
    counts.set(r.eventType, (counts.get(r.eventType) ?? 0) + 1);
    if (first === undefined) first = { seq: r.seq, timestamp: r.timestamp };
    last = { seq: r.seq, timestamp: r.timestamp };
  };
  let skipped = 0;
  let nonFinite = 0;
  const runs = options.runs ?? [];
  const query: ReadQuery = runs.length > 0 ? { runs: new Set(runs) } : {};
  if (options.server === undefined) ({ skipped, nonFinite } = await forEachRecord(options.logPath, query, out, "stats", totalBytes, visit));
  else await forEachRemoteRecord(options.server, undefined, undefined, visit, runs);
  const lifeSeconds = first && last ? (parseTimestamp(last.timestamp) - parseTimestamp(first.timestamp)) / 1e6 : 0;
  const result = {
    records,
    countsByType: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])),
    firstSeq: first?.seq ?? null,
    lastSeq: last?.seq ?? null,
    firstTime: first?.timestamp ?? null,
    lastTime: last?.timestamp ?? null,
    lifeSeconds,
    eventsPerSecond: lifeSeconds > 0 ? records / lifeSeconds : null,
    files,
    totalBytes,
    skippedLines: skipped,
    nonFiniteRecords: nonFinite,
  };
  if (out.options.json) {
    await out.json(result);
    return;
  }
  const of = runs.length > 0 ? ` of run${runs.length > 1 ? "s" : ""} ${runs.join(", ")}` : "";
  const lines = [options.server === undefined ? `${records} records${of} in ${files.length} file(s), ${totalBytes} bytes` : `${records} records${of} read from ${options.server.address}`];
  if (first && last) {
    lines.push(`seq   ${first.seq} .. ${last.seq}`);
    lines.push(`time  ${first.timestamp} .. ${last.timestamp} (${lifeSeconds.toFixed(1)} s)`);
    if (result.eventsPerSecond !== null) lines.push(`rate  ${result.eventsPerSecond.toFixed(2)} events/s over the log's life`);
  }
  lines.push("", "by type:");
  addTypeCountLines(result.countsByType, lines);
  if (files.length > 0) {
    lines.push("", "files:");
    for (const f of files) lines.push(`  ${String(f.bytes).padStart(12)}  ${f.path}`);
  }
  if (skipped > 0) lines.push("", `${skipped} line(s) that are not records were skipped`);
  if (nonFinite > 0) lines.push("", `${nonFinite} record(s) hold NaN/Infinity, as the original module wrote them`);
  await out.write(lines.join("\n") + "\n");
}

/** Options of `pulse-log summary`. */
export interface SummaryCommandOptions {
  logPath: string;
  since?: string;
  until?: string;
  /** Write the visual summary (one self-contained HTML page) here instead of printing text. */
  html?: string;
  /** Read through this server's ReadEvents instead of the files (any store, JetStream included). */
  server?: ServerConnection;
  /** One run: summarise only its records; two: compare them. */
  runs?: string[];
}

/**
 * Asks the server's run index where the runs without a run_finished record
 * stand (still logging, or ended without one: only the server knows who
 * holds a run). A server without ListRuns leaves them as the records say.
 */
async function addServerStatus(server: ServerConnection, summaries: SummaryData[]): Promise<void> {
  const open = summaries.flatMap((s) => s.runs.filter((r) => r.finished === undefined));
  if (open.length === 0) return;
  const client = logClient(server);
  try {
    const answer = await client.listRuns({ runs: [...new Set(open.map((r) => r.run))] });
    const status = new Map(answer.runs.map((r) => [r.run, r.status]));
    for (const row of open) {
      const s = status.get(row.run);
      if (s === RunStatus.LOGGING || s === RunStatus.ENDED_WITHOUT_FINISH) row.serverStatus = RUN_STATUS_TEXT[s];
    }
  } catch {
    // An older server (UNIMPLEMENTED) or a failed call: the summary stands on the records alone.
  } finally {
    client.close();
  }
}

/**
 * `pulse-log summary`: the text summary, or with --html the visual one; of
 * the whole log, of one run, or two runs compared. Records are routed by
 * their "run" member here too, so the result is right against a server that
 * does not filter ReadEvents by run.
 */
export async function summary(options: SummaryCommandOptions, out: Output): Promise<void> {
  const runs = [...new Set(options.runs ?? [])];
  for (const run of runs) {
    const problem = runIdProblem(run);
    if (problem !== undefined) throw new CliError(ExitCode.usage, `--run ${JSON.stringify(run)}: ${problem}`);
  }
  if (runs.length > 2) throw new CliError(ExitCode.usage, `--run: give one run to summarise or two to compare, not ${runs.length}`);
  const builders = runs.length === 0 ? [new SummaryBuilder()] : runs.map(() => new SummaryBuilder());
  const visit: RecordVisitor =
    runs.length === 0
      ? (r) => builders[0].add(r)
      : (r) => {
          const run = runOfRecordText(r.json);
          const i = run === undefined ? -1 : runs.indexOf(run);
          if (i >= 0) builders[i].add(r);
        };
  const query: ReadQuery = {
    sinceMicros: options.since === undefined ? undefined : cliTimeMicros(options.since),
    untilMicros: options.until === undefined ? undefined : cliTimeMicros(options.until),
    runs: runs.length > 0 ? new Set(runs) : undefined,
  };
  if (options.server === undefined) {
    const files = await logFiles(options.logPath);
    await forEachRecord(options.logPath, query, out, "summary", files.reduce((a, f) => a + f.bytes, 0), visit);
  } else {
    await forEachRemoteRecord(options.server, query.sinceMicros, query.untilMicros, visit, runs);
  }
  const info = { source: options.server?.address ?? options.logPath, since: options.since, until: options.until, generatedAt: new Date().toISOString() };
  if (runs.length === 2) {
    const comparison = compareRuns([runs[0], runs[1]], builders[0], builders[1]);
    if (options.server !== undefined) await addServerStatus(options.server, [comparison.a, comparison.b]);
    const records = comparison.a.records + comparison.b.records;
    if (options.html !== undefined) {
      await writeFile(options.html, comparisonHtml(comparison, info));
      if (out.options.json) await out.json({ html: options.html, records, runs: { [runs[0]]: comparison.a.records, [runs[1]]: comparison.b.records } });
      else out.note(`wrote ${options.html} (run ${runs[0]}: ${comparison.a.records} records, run ${runs[1]}: ${comparison.b.records} records)`);
      return;
    }
    if (out.options.json) await out.json(comparison);
    else await out.write(comparisonText(comparison));
    return;
  }
  const data = builders[0].build();
  if (options.server !== undefined) await addServerStatus(options.server, [data]);
  if (options.html !== undefined) {
    await writeFile(options.html, summaryHtml(data, { ...info, run: runs[0] }));
    if (out.options.json) await out.json({ html: options.html, records: data.records });
    else out.note(`wrote ${options.html} (${data.records} records${runs.length === 1 ? ` of run ${runs[0]}` : ""})`);
    return;
  }
  if (out.options.json) await out.json(data);
  else await out.write(runs.length === 1 && data.records === 0 ? `no records of run ${runs[0]} in range\n` : summaryText(data));
}
