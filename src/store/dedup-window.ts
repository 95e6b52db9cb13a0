/** A recently written record, as the dedup window keeps it (a store's start-up scan hands these in). */
export interface RecentRecord {
  eventId: string;
  seq: number;
  timestamp: string;
}

interface Generation {
  ids: Map<string, number>;
  // Commits of this generation: first seq and timestamp, ascending.
  firstSeqs: number[];
  timestamps: string[];
}

const newGeneration = (): Generation => ({ ids: new Map(), firstSeqs: [], timestamps: [] });

/**
 * The event_ids of recent records, to answer a retried event with its
 * original seq and timestamp instead of writing it again. It always remembers
 * at least the last `capacity` ids (at most twice that): two generations of
 * `capacity` ids each, the older dropped whole when the newer fills, so there
 * are no per-id deletions (which make large Maps slow). Ids map to their seq
 * only; timestamps are kept once per commit, since every record of a group
 * commit shares one.
 */
export class DedupWindow {
  private current = newGeneration();
  private previous = newGeneration();

  constructor(private readonly capacity: number) {}

  /** The record written with this event_id, if it is still remembered. */
  get(eventId: string): { seq: number; timestamp: string } | undefined {
    let seq = this.current.ids.get(eventId);
    if (seq !== undefined) return { seq, timestamp: timestampOf(this.current, seq) };
    seq = this.previous.ids.get(eventId);
    if (seq !== undefined) return { seq, timestamp: timestampOf(this.previous, seq) };
    return undefined;
  }

  /** Records a durable commit: `eventIds[i]` got `seqs[i]`, all at `timestamp`. */
  addCommit(timestamp: string, eventIds: readonly string[], seqs: readonly number[]): void {
    if (eventIds.length === 0) return;
    this.current.firstSeqs.push(seqs[0]);
    this.current.timestamps.push(timestamp);
    for (let i = 0; i < eventIds.length; i++) {
      this.current.ids.set(eventIds[i], seqs[i]);
      if (this.current.ids.size >= this.capacity) this.rotate(timestamp, seqs[i + 1]);
    }
  }

  /** Replaces the content with records read from the log's tail (oldest first). */
  load(recent: readonly RecentRecord[]): void {
    this.current = newGeneration();
    this.previous = newGeneration();
    let lastTimestamp: string | undefined;
    for (const r of recent) {
      if (r.timestamp !== lastTimestamp) {
        this.current.firstSeqs.push(r.seq);
        this.current.timestamps.push(r.timestamp);
        lastTimestamp = r.timestamp;
      }
      this.current.ids.set(r.eventId, r.seq);
      if (this.current.ids.size >= this.capacity) {
        this.rotate(r.timestamp, undefined);
        lastTimestamp = undefined;
      }
    }
  }

  private rotate(timestamp: string, nextSeq: number | undefined): void {
    this.previous = this.current;
    this.current = newGeneration();
    // The rest of the running commit continues in the new generation.
    if (nextSeq !== undefined) {
      this.current.firstSeqs.push(nextSeq);
      this.current.timestamps.push(timestamp);
    }
  }
}

function timestampOf(g: Generation, seq: number): string {
  // The last commit of the generation whose first seq is <= seq.
  let lo = 0;
  let hi = g.firstSeqs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (g.firstSeqs[mid] <= seq) lo = mid;
    else hi = mid - 1;
  }
  return g.timestamps[lo];
}
