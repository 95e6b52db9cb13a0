import { open } from "node:fs/promises";
import { RunStatus, type RunInfo } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { CliError, ExitCode } from "../exit-codes.js";
import type { Output } from "../output.js";
import { logClient, type ServerConnection } from "../remote.js";

/** How `pulse-log runs` names each status. */
export const RUN_STATUS_TEXT: Readonly<Record<RunStatus, string>> = {
  [RunStatus.UNSPECIFIED]: "unknown",
  [RunStatus.LOGGING]: "still logging",
  [RunStatus.FINISHED]: "finished",
  [RunStatus.FAILED]: "failed",
  [RunStatus.ENDED_WITHOUT_FINISH]: "ended without a finish record",
};

/** Options of `pulse-log runs`. */
export interface RunsOptions {
  server: ServerConnection;
  /** Only these runs; empty: all. */
  runs: string[];
}

/** A run as `pulse-log runs --json` prints it: one JSON object per line. */
function runJson(r: RunInfo): Record<string, unknown> {
  return {
    run: r.run,
    status: RUN_STATUS_TEXT[r.status],
    events: Number(r.eventCount),
    first_seq: Number(r.firstSeq),
    last_seq: Number(r.lastSeq),
    first_time: r.firstTimestamp,
    last_time: r.lastTimestamp,
    event_types: Object.fromEntries(Object.entries(r.eventTypes).map(([t, n]) => [t, Number(n)])),
    ...(r.error === "" ? {} : { error: r.error }),
  };
}

/** `pulse-log runs`: the runs the log holds, from the server's run index (no scan of the log). */
export async function runs(options: RunsOptions, out: Output): Promise<void> {
  const client = logClient(options.server);
  try {
    const answer = await client.listRuns({ runs: options.runs });
    const missing = options.runs.filter((r) => !answer.runs.some((a) => a.run === r));
    if (out.options.json) {
      for (const r of answer.runs) await out.json(runJson(r));
    } else {
      const rows = answer.runs.map((r) => [r.run, RUN_STATUS_TEXT[r.status] + (r.error ? ` (${r.error})` : ""), String(r.eventCount), `${r.firstSeq}..${r.lastSeq}`, `${r.firstTimestamp} .. ${r.lastTimestamp}`, Object.keys(r.eventTypes).sort().join(",")]);
      const header = ["RUN", "STATUS", "EVENTS", "SEQ", "TIME", "TYPES"];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
      const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
      await out.write([line(header), ...rows.map(line)].join("\n") + "\n");
      if (answer.runs.length === 0 && options.runs.length === 0) out.note(`no runs in the log (read up to seq ${answer.indexedSeq})`);
    }
    if (missing.length > 0) throw new CliError(ExitCode.notFound, `no run named ${missing.map((r) => JSON.stringify(r)).join(", ")} in the log`);
  } finally {
    client.close();
  }
}

/** Options of `pulse-log export`. */
export interface ExportOptions {
  server: ServerConnection;
  /** The run to export. */
  run: string;
  /** Write here (created 0600, not overwritten) instead of stdout. */
  output?: string;
}

/**
 * `pulse-log export --run NAME`: one run's records as a JSONL file, each line
 * exactly as in the log, in seq order: the file the original module would
 * have written for that run (its readers read it as they read that one).
 */
export async function exportRun(options: ExportOptions, out: Output): Promise<void> {
  const client = logClient(options.server);
  const file = options.output === undefined ? undefined : await open(options.output, "wx", 0o600).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(err.code === "EEXIST" ? ExitCode.usage : ExitCode.failure, err.code === "EEXIST" ? `${options.output} exists; export does not overwrite a file` : `cannot create ${options.output}: ${err.message}`);
  });
  let count = 0;
  try {
    const found = await client.listRuns({ runs: [options.run] });
    if (found.runs.length === 0) throw new CliError(ExitCode.notFound, `no run named ${JSON.stringify(options.run)} in the log (pulse-log runs lists them)`);
    for await (const m of client.readEvents({ runs: [options.run] })) {
      if (m.records.length === 0) continue;
      let text = "";
      for (const r of m.records) text += r.json + "\n";
      count += m.records.length;
      if (file === undefined) await out.write(text);
      else await file.write(text);
    }
    await file?.sync();
  } finally {
    await file?.close();
    client.close();
  }
  if (options.output !== undefined) out.note(`${count} records of run ${options.run} written to ${options.output}`);
}
