import { runOfLine } from "../record/line.js";
import type { LogRecordView, ReadQuery } from "./store.js";
import { TimeBound } from "./time-bound.js";

/** Options of a {@link ReadFilter}. */
export interface ReadFilterOptions {
  /** The first seq the cursor reads when it starts past the query's fromSeq (it found the start by itself). Default: fromSeq. */
  startSeq?: number;
  /**
   * How far, in microseconds, a record's timestamp may be past until before
   * reading stops. 0 (the default) for a log whose timestamps grow with seq;
   * a store whose writers stamp their own records (several front ends, clock
   * skew) gives its margin, so that a later seq stamped a little earlier is
   * still read. Records at or past until are never kept either way.
   */
  untilSlackMicros?: number;
}

/**
 * A {@link ReadQuery} applied to a store's records in seq order: the one
 * place that says which records a read returns (fromSeq, since, until,
 * event types, limit) and when it is done. Every store's cursor feeds each
 * record through it, in three steps so that a cursor checks the cheap
 * conditions before it makes anything of a record:
 *
 *   1. {@link passSeq}: a record before the read's position is not returned
 *      again (before fromSeq, a search that landed early, a redelivery);
 *   2. {@link inTimeBytes} or {@link inTime}: since and until (a record
 *      past until ends the read);
 *   3. {@link take}: the event types and runs, then the limit (ends the read).
 *
 * {@link matches} is steps 2 and 3 for a record view. A timestamp that does
 * not parse is outside any time range, and ends nothing.
 */
export class ReadFilter {
  /** The seq after the last record passed (matching or not): where a cursor, or a follower, continues. */
  nextSeq: number;
  private readonly since?: TimeBound;
  private readonly until?: TimeBound;
  /** The time from which on a record ends the read: until plus the slack. */
  private readonly stop?: TimeBound;
  private readonly types?: ReadonlySet<string>;
  /** The runs asked for; absent: any run, or none. */
  readonly runs?: ReadonlySet<string>;
  private readonly limit: number;
  private kept = 0;
  private finished = false;

  constructor(query: ReadQuery, options: ReadFilterOptions = {}) {
    this.nextSeq = Math.max(query.fromSeq ?? 1, options.startSeq ?? 1);
    this.limit = query.limit ?? 0;
    if (query.sinceMicros !== undefined) this.since = new TimeBound(query.sinceMicros);
    if (query.untilMicros !== undefined) {
      this.until = new TimeBound(query.untilMicros);
      const slack = options.untilSlackMicros ?? 0;
      this.stop = slack > 0 ? new TimeBound(query.untilMicros + slack) : this.until;
    }
    if (query.eventTypes !== undefined && query.eventTypes.size > 0) this.types = query.eventTypes;
    if (query.runs !== undefined && query.runs.size > 0) this.runs = query.runs;
  }

  /** True once the limit is reached or a record past until was seen: nothing more will match. */
  get done(): boolean {
    return this.finished;
  }

  /** Step 1: false for a seq before {@link nextSeq} (skip the record); else moves nextSeq past it and returns true. */
  passSeq(seq: number): boolean {
    if (seq < this.nextSeq) return false;
    this.nextSeq = seq + 1;
    return true;
  }

  /** Step 2 on the timestamp's bytes chunk[start..end): true when it is in [since, until). */
  inTimeBytes(chunk: Buffer, start: number, end: number): boolean {
    const { since, until } = this;
    if (since !== undefined && !(since.compareBytes(chunk, start, end) >= 0)) return false;
    if (until === undefined || until.compareBytes(chunk, start, end) < 0) return true;
    if (this.stop!.compareBytes(chunk, start, end) >= 0) this.finished = true;
    return false;
  }

  /** Step 2 on the timestamp's text: true when it is in [since, until). */
  inTime(timestamp: string): boolean {
    const { since, until } = this;
    if (since !== undefined && !(since.compare(timestamp) >= 0)) return false;
    if (until === undefined || until.compare(timestamp) < 0) return true;
    if (this.stop!.compare(timestamp) >= 0) this.finished = true;
    return false;
  }

  /**
   * Step 3: true when the event type and the run are wanted; counts the
   * record against the limit (reaching it ends the read). `run` is asked for
   * only when the read names runs.
   */
  take(eventType: string, run?: () => string | undefined): boolean {
    if (this.types !== undefined && !this.types.has(eventType)) return false;
    if (this.runs !== undefined) {
      const r = run?.();
      if (r === undefined || !this.runs.has(r)) return false;
    }
    if (this.limit > 0 && ++this.kept >= this.limit) this.finished = true;
    return true;
  }

  /** Steps 2 and 3 for a record whose seq passed: true when it is returned. */
  matches(record: Pick<LogRecordView, "timestamp" | "eventType"> & { readonly bytes?: Buffer }): boolean {
    const { bytes } = record;
    return this.inTime(record.timestamp) && this.take(record.eventType, bytes === undefined ? undefined : () => runOfLine(bytes));
  }
}
