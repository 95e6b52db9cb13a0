import { DedupWindow } from "../dedup-window.js";
import type { RecordIdentity } from "./record-message.js";

/**
 * A front end's window of the stream's recent event_ids, to answer a
 * retried event with its original seq and timestamp: at least the last
 * `capacity` ids, whoever wrote them (this front end's client-chosen ones,
 * and every one another front end wrote: which of those a client chose
 * cannot be told from the stream). It is filled in seq order only: records at or
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
   * Adds the client-chosen ids of one append call's records stored by this
   * front end (`seqs` ascending, after what the window holds), all stamped
   * `timestamp`. Ids the server made up are not remembered: they never come back.
   */
  addRun(timestamp: string, eventIds: readonly string[], seqs: readonly number[]): void {
    let i = 0;
    while (i < seqs.length && seqs[i] <= this.last) i++;
    if (i === seqs.length) return;
    this.window.addCommit(timestamp, i === 0 ? eventIds : eventIds.slice(i), i === 0 ? seqs : seqs.slice(i));
    this.last = seqs[seqs.length - 1];
  }

  /** Records up to `seq` are accounted for (a message of this front end whose ids were added by {@link addRun}). */
  advance(seq: number): void {
    if (seq > this.last) this.last = seq;
  }

  /** Adds records read from the stream, in seq order. */
  addRecords(records: readonly RecordIdentity[]): void {
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
