import { DedupWindow } from "../dedup-window.js";
import type { LogRecordView } from "../store.js";

/**
 * A front end's window of the stream's recent event_ids, to answer a
 * retried event with its original seq and timestamp: the records of the
 * last `capacity` seqs at least, whoever wrote them (this front end, other
 * front ends on the stream). It is filled in seq order only: records at or
 * below the last seq it holds are passed over, so reading a stretch of the
 * stream twice (the tail at open, then a catch-up) adds nothing twice.
 */
export class StreamWindow {
  private readonly window: DedupWindow;
  private last = 0;

  constructor(capacity: number) {
    this.window = new DedupWindow(capacity);
  }

  /** The highest seq the window holds (0 when empty). */
  get lastSeq(): number {
    return this.last;
  }

  /** The record written with this event_id, if it is still remembered. */
  get(eventId: string): { seq: number; timestamp: string } | undefined {
    return this.window.get(eventId);
  }

  /**
   * Adds records `first`, `first + 1`... with these ids and timestamps (one
   * group commit of this front end); runs of one timestamp are kept once.
   */
  addRun(first: number, eventIds: readonly string[], timestamps: readonly string[]): void {
    let i = Math.max(0, this.last + 1 - first);
    while (i < eventIds.length) {
      let j = i + 1;
      while (j < eventIds.length && timestamps[j] === timestamps[i]) j++;
      const seqs = Array.from({ length: j - i }, (_, k) => first + i + k);
      this.window.addCommit(timestamps[i], eventIds.slice(i, j), seqs);
      i = j;
    }
    this.last = Math.max(this.last, first + eventIds.length - 1);
  }

  /** Adds records read from the stream, in seq order. */
  addRecords(records: readonly LogRecordView[]): void {
    let i = 0;
    while (i < records.length && records[i].seq <= this.last) i++;
    while (i < records.length) {
      const timestamp = records[i].timestamp;
      const ids: string[] = [];
      const seqs: number[] = [];
      for (; i < records.length && records[i].timestamp === timestamp; i++) {
        // Read in seq order; a record not after the last one (damage, another writer's mistake) is not remembered.
        if (records[i].seq <= this.last) continue;
        ids.push(records[i].eventId);
        seqs.push(records[i].seq);
        this.last = records[i].seq;
      }
      this.window.addCommit(timestamp, ids, seqs);
    }
  }
}
