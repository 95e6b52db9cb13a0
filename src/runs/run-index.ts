import { Mutex } from "async-mutex";
import type { Logger } from "pino";
import { parseRecordText, runOfLine } from "../record/line.js";
import { eventTypeOfBody } from "../record/body.js";
import { parseTimeBound } from "../store/time-bound.js";
import type { AppendEntry, AppendResult, LogRecordView, OpenOptions, ReadQuery, RecordCursor, RecordSource } from "../store/store.js";
import { RunCursor } from "./run-cursor.js";
import { RunSpans } from "./run-spans.js";

/**
 * The run index: for each run the log holds, where its records are (spans of
 * seqs), how many of each type, its first and last record, and how it ended.
 * Reads by run and `pulse-log runs` ask it instead of scanning the log.
 *
 * It follows the log two ways. The event writer tells it each append the
 * store answered ({@link noteWritten}: a few map operations per event, no
 * read of the log); anything written another way (the trust tracker's audit
 * records, another front end of a shared stream, what was written before a
 * restart) is read from the store by {@link catchUp}, which every query runs
 * first. Both are idempotent by seq, so a record is counted once whichever
 * way it arrives. {@link RunIndexFile} keeps a checkpoint so that a restart
 * reads only the records after it.
 */

/** The event types of the run lifecycle, written by the clients' run blocks. */
export const RUN_STARTED = "run_started";
export const RUN_FINISHED = "run_finished";

/** Where a run stands, as ListRuns reports it. */
export type RunState = "logging" | "finished" | "failed" | "ended-without-finish";

/** What the index knows of one run. */
export interface RunEntry {
  readonly run: string;
  firstSeq: number;
  lastSeq: number;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  /** Records by event type. */
  readonly types: Map<string, number>;
  /** The last run_finished record's status and error (cleared by a later run_started). */
  finish?: { status: "finished" | "failed"; error: string };
  /** Where the run's records are. */
  readonly spans: RunSpans;
}

/** What is counted of a run, as listed and as checkpointed. */
export interface RunCounts {
  run: string;
  firstSeq: number;
  lastSeq: number;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  /** Records by event type. */
  types: Record<string, number>;
}

/** One run as listed. */
export interface RunInfo extends RunCounts {
  state: RunState;
  error: string;
}

/** Options of a {@link RunIndex}. */
export interface RunIndexOptions {
  /** A run with no finish record and no hold is still logging for this long after its last record, in ms. Default 15 minutes. */
  idleMs?: number;
  /** Seqs noted ahead of a gap before a catch-up is started without waiting for a query. Default 65,536. */
  pendingMax?: number;
  /** The clock for the idle rule, in ms since the epoch. Default Date.now. */
  now?: () => number;
}

/** What the index reads the log through: the store's records and how far they are durable. */
export interface IndexedLog {
  readonly records: RecordSource;
  readonly lastSeq: number;
}

/** The status and error of a run_finished record's JSON text (`{"status": .., "error": {"type", "message"}}` in data). */
export function finishOf(recordJson: string): { status: "finished" | "failed"; error: string } {
  const parsed = parseRecordText(recordJson);
  const data = parsed.ok ? parsed.value.data : undefined;
  const d = data !== null && typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
  const status = d.status === "finished" ? "finished" : "failed";
  let error = "";
  const e = d.error;
  if (typeof e === "string") error = e;
  else if (e !== null && typeof e === "object") {
    const { type, message } = e as { type?: unknown; message?: unknown };
    error = [typeof type === "string" ? type : "", typeof message === "string" ? message : ""].filter((s) => s.length > 0).join(": ");
  }
  return { status, error };
}

/** The counts of an index entry, as plain data. */
function countsOf(e: RunEntry): RunCounts {
  return { run: e.run, firstSeq: e.firstSeq, lastSeq: e.lastSeq, firstTimestamp: e.firstTimestamp, lastTimestamp: e.lastTimestamp, count: e.count, types: Object.fromEntries(e.types) };
}

export class RunIndex {
  private readonly runs = new Map<string, RunEntry>();
  /** Every seq up to this one is in the index. */
  private covered = 0;
  /** The event_id of the record at {@link covered} (checks a checkpoint against the log). */
  private coveredEventId = "";
  /** Seqs noted beyond a gap, with their event_ids: skipped when the catch-up reaches them. */
  private readonly pending = new Map<number, string>();
  /** Open HoldRun calls by run, and runs whose last hold ended with no finish record. */
  private readonly holds = new Map<string, number>();
  private readonly holdEnded = new Set<string>();
  private readonly catchingUp = new Mutex();
  private readonly idleMs: number;
  private readonly pendingMax: number;
  private readonly now: () => number;
  /** Bumped by every change: a checkpoint is written only when it moved. */
  private version = 0;
  /** Aborted by {@link close}: a catch-up under way stops where it is (what it read stays counted). */
  private readonly closing = new AbortController();

  constructor(
    private readonly log: IndexedLog,
    private readonly logger: Logger,
    options: RunIndexOptions = {},
  ) {
    this.idleMs = options.idleMs ?? 15 * 60_000;
    this.pendingMax = options.pendingMax ?? 65_536;
    this.now = options.now ?? Date.now;
  }

  /** The highest seq up to which every record is indexed. */
  get indexedSeq(): number {
    return this.covered;
  }

  /** Changes since the index was made: a checkpoint writer compares it. */
  get changes(): number {
    return this.version;
  }

  /** Appends the store answered (the event writer's observer): indexes what they wrote. */
  noteWritten(entries: readonly AppendEntry[], results: readonly AppendResult[]): void {
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      if (r.duplicate || r.seq <= this.covered) continue;
      const entry = entries[i];
      if (r.seq === this.covered + 1) {
        this.advance(r.seq, entry.eventId);
      } else {
        if (this.pending.has(r.seq)) continue;
        this.pending.set(r.seq, entry.eventId);
      }
      if (entry.run !== undefined) {
        const eventType = entry.eventType ?? eventTypeOfBody(entry.body) ?? "";
        this.add(entry.run, r.seq, r.timestamp, eventType, eventType === RUN_FINISHED || eventType === RUN_STARTED ? () => `{${entry.body}}` : undefined);
      }
    }
    if (this.pending.size > this.pendingMax) this.catchUpInBackground();
  }

  /** Moves {@link covered} to seq, then past the pending seqs that follow it. */
  private advance(seq: number, eventId: string): void {
    this.covered = seq;
    this.coveredEventId = eventId;
    this.version++;
    for (;;) {
      const next = this.pending.get(this.covered + 1);
      if (next === undefined) return;
      this.pending.delete(this.covered + 1);
      this.covered++;
      this.coveredEventId = next;
    }
  }

  /** Counts one record of a run. `json` gives the record's JSON for the lifecycle records. */
  private add(run: string, seq: number, timestamp: string, eventType: string, json: (() => string) | undefined): void {
    let entry = this.runs.get(run);
    if (entry === undefined) {
      entry = { run, firstSeq: seq, lastSeq: seq, firstTimestamp: timestamp, lastTimestamp: timestamp, count: 0, types: new Map(), spans: new RunSpans() };
      this.runs.set(run, entry);
    }
    entry.count++;
    entry.types.set(eventType, (entry.types.get(eventType) ?? 0) + 1);
    entry.spans.add(seq);
    if (seq < entry.firstSeq) {
      entry.firstSeq = seq;
      entry.firstTimestamp = timestamp;
    }
    if (seq >= entry.lastSeq) {
      entry.lastSeq = seq;
      entry.lastTimestamp = timestamp;
      // A record after the end of a hold: the run goes on (a restarted process).
      this.holdEnded.delete(run);
      if (eventType === RUN_FINISHED && json !== undefined) entry.finish = finishOf(json());
      else if (eventType === RUN_STARTED) entry.finish = undefined;
    }
    this.version++;
  }

  /**
   * Reads what the index has not seen, up to the store's durable end: the
   * records other writers put there and those before a restart. Queries call
   * it first; one runs at a time.
   */
  catchUp(signal?: AbortSignal): Promise<void> {
    return this.catchingUp.runExclusive(async () => {
      const target = this.log.lastSeq;
      if (this.covered >= target || this.closing.signal.aborted) return;
      const started = performance.now();
      const from = this.covered + 1;
      const cursor = await this.log.records.open({ fromSeq: from });
      // The caller's signal, or the index closing (a shutdown does not wait for a long rebuild).
      const stop = signal === undefined ? this.closing.signal : AbortSignal.any([signal, this.closing.signal]);
      try {
        for await (const batch of cursor.batches(target, stop)) for (const view of batch) this.catchUpRecord(view);
      } finally {
        await cursor.close();
      }
      if (stop.aborted) throw new Error(`run index: reading the log stopped at seq ${this.covered} of ${target}`);
      // Everything up to target was read (a gap in seqs is records retention deleted).
      if (this.covered < target) this.covered = target;
      for (const seq of this.pending.keys()) if (seq <= this.covered) this.pending.delete(seq);
      // What the writer noted meanwhile follows on.
      const next = this.pending.get(this.covered + 1);
      if (next !== undefined) {
        this.pending.delete(this.covered + 1);
        this.advance(this.covered + 1, next);
      }
      const records = target - from + 1;
      if (records >= 100_000) this.logger.info({ fromSeq: from, toSeq: target, ms: Math.round(performance.now() - started) }, "run index caught up with the log");
    });
  }

  private catchUpRecord(view: LogRecordView): void {
    const seq = view.seq;
    if (!Number.isSafeInteger(seq) || seq <= this.covered) return;
    const noted = this.pending.get(seq);
    this.covered = seq;
    if (noted !== undefined) {
      // The writer indexed it already.
      this.pending.delete(seq);
      this.coveredEventId = noted;
      return;
    }
    this.coveredEventId = view.eventId;
    this.version++;
    const run = runOfLine(view.bytes);
    if (run !== undefined) this.add(run, seq, view.timestamp, view.eventType, () => view.json);
  }

  private catchUpInBackground(): void {
    if (this.catchingUp.isLocked()) return;
    this.catchUp().catch((err: unknown) => this.logger.warn({ err }, "run index: reading the log behind a gap failed; the next query tries again"));
  }

  /** Stops any catch-up under way and refuses new ones: the server is stopping. */
  close(): void {
    this.closing.abort();
  }

  /** Marks a run held open by a HoldRun call; returns the release. */
  hold(run: string): () => void {
    this.holds.set(run, (this.holds.get(run) ?? 0) + 1);
    this.holdEnded.delete(run);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.holds.get(run) ?? 1) - 1;
      if (left > 0) {
        this.holds.set(run, left);
        return;
      }
      this.holds.delete(run);
      this.holdEnded.add(run);
    };
  }

  /** Where a run stands now. */
  stateOf(entry: RunEntry): RunState {
    if (entry.finish !== undefined) return entry.finish.status;
    if ((this.holds.get(entry.run) ?? 0) > 0) return "logging";
    if (this.holdEnded.has(entry.run)) return "ended-without-finish";
    const lastMicros = parseTimeBound(entry.lastTimestamp);
    if (lastMicros === undefined) return "ended-without-finish";
    return this.now() - lastMicros / 1000 < this.idleMs ? "logging" : "ended-without-finish";
  }

  /** The runs (all, or those named), by first seq; catches up first. */
  async list(runs?: ReadonlySet<string>, signal?: AbortSignal): Promise<RunInfo[]> {
    await this.catchUp(signal);
    const entries = runs === undefined || runs.size === 0 ? [...this.runs.values()] : [...runs].flatMap((r) => this.runs.get(r) ?? []);
    return entries
      .sort((a, b) => a.firstSeq - b.firstSeq)
      .map((e) => ({ ...countsOf(e), state: this.stateOf(e), error: e.finish?.error ?? "" }));
  }

  /**
   * Where the records of these runs are, up to {@link indexedSeq}: sorted,
   * disjoint [first, last] seq spans (as a flat array), after a catch-up.
   */
  async spansOf(runs: ReadonlySet<string>, signal?: AbortSignal): Promise<{ spans: number[]; indexedSeq: number }> {
    await this.catchUp(signal);
    const all = [...runs].flatMap((r) => this.runs.get(r) ?? []).map((e) => e.spans);
    return { spans: RunSpans.union(all), indexedSeq: this.covered };
  }

  /** A cursor over the records of the query's runs that reads only where they are (see {@link RunCursor}). */
  async open(source: RecordSource, query: ReadQuery & { runs: ReadonlySet<string> }, signal?: AbortSignal, options?: OpenOptions): Promise<RecordCursor> {
    const { spans, indexedSeq } = await this.spansOf(query.runs, signal);
    return new RunCursor(source, query, spans, indexedSeq, options);
  }

  /**
   * The index's state, for a checkpoint; undefined while records noted beyond
   * a gap are in it (a restore would count them twice): catch up first.
   */
  snapshot(): IndexSnapshot | undefined {
    if (this.pending.size > 0) return undefined;
    return {
      seq: this.covered,
      eventId: this.coveredEventId,
      runs: [...this.runs.values()].map((e) => ({ ...countsOf(e), finish: e.finish, spans: e.spans.toJSON() })),
    };
  }

  /** Starts from a checkpoint (before any record is noted): the catch-up then reads only what follows it. */
  restore(snapshot: IndexSnapshot): void {
    this.runs.clear();
    for (const r of snapshot.runs) {
      this.runs.set(r.run, { ...r, types: new Map(Object.entries(r.types)), spans: RunSpans.fromJSON(r.spans) });
    }
    this.covered = snapshot.seq;
    this.coveredEventId = snapshot.eventId;
  }
}

/** A checkpoint of the index: the runs as of `seq`, whose record has `eventId`. */
export interface IndexSnapshot {
  seq: number;
  eventId: string;
  runs: Array<RunCounts & { finish?: { status: "finished" | "failed"; error: string }; spans: { gap: number; spans: number[] } }>;
}
