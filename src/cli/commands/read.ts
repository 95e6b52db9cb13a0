import type { LogRecord } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import type { Output } from "../output.js";
import { lastSeqOf, logClient, type LogClient, type ServerConnection } from "../remote.js";

/** Options of `pulse-log replay`. */
export interface ReplayOptions {
  server: ServerConnection;
  fromSeq?: number;
  since?: string;
  until?: string;
  types: string[];
  limit?: number;
  /** Only these runs' records (read through the server's run index). */
  runs?: string[];
}

/** Options of `pulse-log tail`. */
export interface TailOptions {
  server: ServerConnection;
  follow: boolean;
  types: string[];
  since?: string;
  /** How many of the last records to print first; undefined: 10, or all since --since. */
  lines?: number;
  /** Only these runs' records. */
  runs?: string[];
}

/** `pulse-log replay`: streams the selected records from the server and prints them, with a progress bar on a terminal. */
export async function replay(options: ReplayOptions, out: Output): Promise<void> {
  const client = logClient(options.server);
  try {
    const from = options.fromSeq ?? 1;
    // The total for the bar is known only from the log's last seq; ask only when a bar can show.
    const bar = out.options.progress && process.stderr.isTTY ? out.progress("replay", Math.max(0, (await lastSeqOf(client)) - from + 1), "seqs") : undefined;
    const stream = client.readEvents({
      fromSeq: options.fromSeq === undefined ? undefined : BigInt(options.fromSeq),
      since: options.since,
      until: options.until,
      eventTypes: options.types,
      limit: BigInt(options.limit ?? 0),
      runs: options.runs,
    });
    try {
      for await (const m of stream) {
        await out.records(m.records);
        if (bar && m.records.length > 0) bar.update(Number(m.records[m.records.length - 1].seq) - from + 1);
      }
    } finally {
      bar?.stop();
    }
  } finally {
    client.close();
  }
}

/** The last `n` records (of the types, since the time) with seq <= lastSeq, reading back in growing windows. */
async function lastRecords(client: LogClient, lastSeq: number, n: number, options: TailOptions): Promise<LogRecord[]> {
  if (lastSeq === 0 || n === 0) return [];
  // By run, the server's index reads only where the runs are: read them whole.
  let window = Number.isFinite(n) && (options.runs ?? []).length === 0 ? Math.max(256, n * 4) : lastSeq;
  for (;;) {
    const from = Math.max(1, lastSeq - window + 1);
    const kept: LogRecord[] = [];
    const stream = client.readEvents({ fromSeq: BigInt(from), since: options.since, eventTypes: options.types, limit: BigInt(lastSeq - from + 1), runs: options.runs });
    let past = false;
    for await (const m of stream) {
      for (const r of m.records) {
        if (Number(r.seq) > lastSeq) {
          past = true;
          break;
        }
        kept.push(r);
        if (kept.length > n) kept.shift();
      }
      if (past) break; // leaving the loop cancels the call
    }
    if (kept.length >= n || from === 1) return kept;
    window *= 4;
  }
}

/**
 * `pulse-log tail`: prints the last records, then with --follow every new
 * one as it is committed, until interrupted (Ctrl-C ends it with exit 0).
 */
export async function tail(options: TailOptions, out: Output): Promise<void> {
  const client = logClient(options.server);
  try {
    const lastSeq = await lastSeqOf(client);
    const n = options.lines ?? (options.since !== undefined ? Number.POSITIVE_INFINITY : 10);
    await out.records(await lastRecords(client, lastSeq, n, options));
    if (!options.follow) return;
    const stream = client.readEvents({ fromSeq: BigInt(lastSeq + 1), eventTypes: options.types, follow: true, runs: options.runs });
    const stop = () => (stream as unknown as { cancel(): void }).cancel();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      for await (const m of stream) await out.records(m.records);
    } catch (err) {
      if ((err as { code?: number }).code !== 1 /* CANCELLED: we were interrupted */) throw err;
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
  } finally {
    client.close();
  }
}
