/**
 * The log the runs benchmark reads (bench/runs-bench.ts): many runs of
 * different sizes, logging a few at a time beside events of no run, and two
 * runs of a chosen size whose replay and listing are measured. Written
 * straight through the real Appender (hash chain on, as the server writes by
 * default), each run's records carrying the run member exactly as the event
 * writer makes it (`runMember`), so the server starts on a log it could
 * have written itself.
 *
 * Layout: the log is cut into `groups` sections of equal length; each
 * section has `runsPerGroup` runs logging at once, each run spread evenly
 * over its own window of the section (the whole section, unless said
 * otherwise), and events of no run wherever no run is due. At every seq the
 * run furthest behind its even pace writes the record, so the runs
 * interleave as concurrent processes' records do on one server. Each run
 * begins with run_started and (most) end with run_finished; the records in
 * between take four event types in turn.
 */
import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { Appender } from "../src/store/file/appender.js";
import type { AppendEntry } from "../src/store/store.js";
import { runMember } from "../src/record/body.js";
import { RunSpans } from "../src/runs/run-spans.js";
import { listSegments } from "../src/store/file/segments.js";

/** One run of the layout. */
export interface RunPlan {
  run: string;
  /** Records it has, run_started and run_finished included. */
  size: number;
  /** The section it logs in (0-based). */
  group: number;
  /** Its window inside the section, as fractions of the section: [from, to). */
  window: [number, number];
  /** How it ends: a run_finished of this status, or none (a process that died). */
  end: "finished" | "failed" | "none";
}

/** What the log holds and where. */
export interface RunsLayout {
  /** Records in the log. */
  records: number;
  groups: number;
  sectionRecords: number;
  runs: RunPlan[];
}

/** Options of {@link runsLayout}. */
export interface RunsLayoutOptions {
  /** Records in the log. Default 10,000,000. */
  records?: number;
  /** Sections of concurrent runs. Default 10. */
  groups?: number;
  /** Runs logging at once in each section. Default 5. */
  runsPerGroup?: number;
  /** Records of each of the two measured runs. Default 10,000. */
  targetRecords?: number;
}

/** The two measured runs: spread over a whole section, and dense in a short window of another one. */
export const TARGET_SPREAD = "target-spread";
export const TARGET_DENSE = "target-dense";

/**
 * The default layout: 10 sections of 1,000,000 records, 5 concurrent runs in
 * each (50 runs). A section's runs have 4, 8, 12, 16 and 20 % of its records
 * (times 1, 1.25 or 1.5 by section), so 40 to 10 % of its records belong to
 * no run. Section 4 (the log's middle): {@link TARGET_SPREAD} replaces the
 * smallest run and has `targetRecords` spread over the whole section beside
 * the other four (one record in about 100 is its own). Section 7:
 * {@link TARGET_DENSE} has `targetRecords` within 5 % of the section (from
 * 40 to 45 %: about one record in 5 its own there) beside the other four,
 * which log over the whole section.
 */
export function runsLayout(options: RunsLayoutOptions = {}): RunsLayout {
  const records = options.records ?? 10_000_000;
  const groups = options.groups ?? 10;
  const perGroup = options.runsPerGroup ?? 5;
  const target = options.targetRecords ?? 10_000;
  const sectionRecords = Math.floor(records / groups);
  const runs: RunPlan[] = [];
  for (let g = 0; g < groups; g++) {
    const factor = 1 + (g % 3) * 0.25;
    for (let k = 0; k < perGroup; k++) {
      const n = runs.length;
      const end = n % 5 === 3 ? "none" : n % 7 === 2 ? "failed" : "finished";
      // Run k of a section has (k + 1) shares of 60 % (times the factor) of its records.
      const size = Math.max(2, Math.round((sectionRecords * 0.6 * factor * (k + 1)) / ((perGroup * (perGroup + 1)) / 2)));
      runs.push({ run: `exp-${String(g).padStart(2, "0")}-${k}`, size, group: g, window: [0, 1], end });
    }
  }
  const middle = Math.floor(groups / 2) - 1;
  const later = Math.min(groups - 1, Math.floor((groups * 7) / 10));
  const spread = runs.find((r) => r.group === Math.max(0, middle))!;
  Object.assign(spread, { run: TARGET_SPREAD, size: target, end: "finished" });
  const dense = runs.find((r) => r.group === later && r !== spread)!;
  Object.assign(dense, { run: TARGET_DENSE, size: target, window: [0.4, 0.45], end: "finished" });
  return { records: sectionRecords * groups, groups, sectionRecords, runs };
}

// Four event types in turn (as bench/replay-bench.ts writes them).
const bodies = [
  (i: number) => `"event_type":"variable_weight_update","data":{"variable":"var_${i % 97}","from":${(i % 13) / 10},"to":${(i % 17) / 10}}`,
  (i: number) => `"event_type":"rule_activation","data":{"rule_id":"r${i % 31}","variable_id":"var_${i % 97}","outcome":{"delta":${(i % 19) / 100},"applied":${i % 3 !== 0}},"forecast_id":null,"success":true}`,
  (i: number) => `"event_type":"symbolic_revision_triggered","data":{"reason":"drift ${i}"}`,
  (i: number) => `"event_type":"rule_effectiveness","data":{"rule_id":"r${i % 31}","activation_count":${i},"success_rate":0.5,"impact_score":0.1,"timestamp":"x"}`,
];

/** The body of the `k`-th record (0-based) of run `plan` at log index `i`, run member included. */
function runBody(plan: RunPlan, k: number, i: number): string {
  let body: string;
  if (k === 0) body = `"event_type":"run_started","data":{"params":{"lr":0.001,"seed":${i % 1000},"layers":4}}`;
  else if (k === plan.size - 1 && plan.end === "finished") body = `"event_type":"run_finished","data":{"status":"finished"}`;
  else if (k === plan.size - 1 && plan.end === "failed") body = `"event_type":"run_finished","data":{"status":"failed","error":{"type":"ValueError","message":"loss is NaN"}}`;
  else body = bodies[i % bodies.length](i);
  return body + runMember(plan.run);
}

/** What {@link writeRunsLog} wrote. */
export interface WrittenLog {
  records: number;
  bytes: number;
  files: number;
  seconds: number;
  /** Each run's spans as the server's index keeps them (RunSpans, default gap): [first, last] seq pairs. */
  spans: Map<string, number[]>;
}

/**
 * Writes the layout's records to a new log at `path` with the real Appender
 * (hash chain on), 10,000 records per append. Calls `progress` every
 * 1,000,000 records. Throws if `maxSeconds` pass first.
 */
export async function writeRunsLog(path: string, layout: RunsLayout, options: { maxSeconds?: number; progress?: (line: string) => void } = {}): Promise<WrittenLog> {
  const started = performance.now();
  const deadline = started + (options.maxSeconds ?? 3600) * 1000;
  const { appender } = await Appender.open({ path, dedupWindowRecords: 1 });
  const spans = new Map<string, RunSpans>();
  let seq = 0;
  let entries: AppendEntry[] = [];
  const flush = async () => {
    if (entries.length === 0) return;
    const results = await appender.append(entries);
    if (results.length !== entries.length || results[results.length - 1].seq !== seq) throw new Error(`the appender answered seq ${results[results.length - 1]?.seq}, expected ${seq}`);
    entries = [];
    if (seq % 1_000_000 < 10_000) options.progress?.(`runs log: ${seq.toLocaleString("en-US")} records written (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    if (performance.now() > deadline) throw new Error(`writing the log took more than ${options.maxSeconds} s`);
  };
  const push = async (body: string, run: string | undefined) => {
    seq++;
    entries.push({ eventId: randomUUID(), body, run });
    if (run !== undefined) {
      let s = spans.get(run);
      if (s === undefined) spans.set(run, (s = new RunSpans()));
      s.add(seq);
    }
    if (entries.length >= 10_000) await flush();
  };
  try {
    for (let g = 0; g < layout.groups; g++) {
      const plans = layout.runs.filter((r) => r.group === g);
      const emitted = plans.map(() => 0);
      const L = layout.sectionRecords;
      const from = plans.map((p) => Math.floor(p.window[0] * L));
      const to = plans.map((p) => Math.floor(p.window[1] * L));
      for (let p = 0; p < L; p++) {
        // The run furthest behind its even pace over its window writes this record.
        let pick = -1;
        let behind = 0;
        for (let r = 0; r < plans.length; r++) {
          if (p < from[r] || emitted[r] >= plans[r].size) continue;
          // Paced to be done at 98 % of the window: the rest is room to catch up where runs met.
          const due = Math.min(plans[r].size, Math.floor(((p - from[r] + 1) * plans[r].size) / ((to[r] - from[r]) * 0.98)));
          if (due - emitted[r] > behind) {
            behind = due - emitted[r];
            pick = r;
          }
        }
        const i = seq + 1;
        if (pick < 0) await push(bodies[i % bodies.length](i), undefined);
        else await push(runBody(plans[pick], emitted[pick]++, i), plans[pick].run);
      }
      for (let r = 0; r < plans.length; r++) if (emitted[r] !== plans[r].size) throw new Error(`run ${plans[r].run} got ${emitted[r]} of ${plans[r].size} records in its section`);
    }
    await flush();
  } finally {
    await appender.close();
  }
  const files = await listSegments(path);
  let bytes = 0;
  for (const f of files) bytes += (await stat(f.path)).size;
  return { records: seq, bytes, files: files.length, seconds: (performance.now() - started) / 1000, spans: new Map([...spans].map(([run, s]) => [run, s.toArray()])) };
}
