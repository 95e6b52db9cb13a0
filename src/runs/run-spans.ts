/**
 * Where one run's records are: sorted, disjoint spans [first, last] of seqs
 * (a flat array of pairs). A record within `gap` seqs of the last span's end
 * extends it, so a run logging beside a few others is one span, and reading
 * it reads the records between its own at most `gap` at a time. Memory is
 * bounded: when a run has {@link SPANS_MAX} spans, the gap doubles and the
 * spans closer than it merge (fewer, longer spans: more to skip on a read).
 */

/** Default gap, in seqs: a read by run reads at most this many other records between two of its own without a new search. */
export const SPAN_GAP = 1024;
/** Most spans one run keeps before it coarsens. */
export const SPANS_MAX = 4096;

export class RunSpans {
  private spans: number[] = [];

  constructor(private gap = SPAN_GAP) {}

  /** The number of spans. */
  get length(): number {
    return this.spans.length / 2;
  }

  /** Adds a record's seq (in any order; in seq order is the cheap case). */
  add(seq: number): void {
    const s = this.spans;
    const n = s.length;
    if (n === 0) {
      s.push(seq, seq);
      return;
    }
    const lastEnd = s[n - 1];
    if (seq > lastEnd) {
      if (seq - lastEnd <= this.gap) s[n - 1] = seq;
      else {
        s.push(seq, seq);
        if (s.length / 2 > SPANS_MAX) this.coarsen();
      }
      return;
    }
    if (seq >= s[n - 2]) return; // inside the last span
    this.insert(seq);
  }

  /** A seq before the last span (a record indexed late): put it in place and merge neighbours within the gap. */
  private insert(seq: number): void {
    const s = this.spans;
    let lo = 0;
    let hi = s.length / 2;
    // First span whose end is >= seq.
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid * 2 + 1] < seq) lo = mid + 1;
      else hi = mid;
    }
    if (s[lo * 2] <= seq) return; // inside span lo
    s.splice(lo * 2, 0, seq, seq);
    this.merge();
  }

  /** Merges spans whose distance is within the gap. */
  private merge(): void {
    const s = this.spans;
    const out: number[] = [];
    for (let i = 0; i < s.length; i += 2) {
      const n = out.length;
      if (n > 0 && s[i] - out[n - 1] <= this.gap) out[n - 1] = Math.max(out[n - 1], s[i + 1]);
      else out.push(s[i], s[i + 1]);
    }
    this.spans = out;
  }

  private coarsen(): void {
    while (this.spans.length / 2 > SPANS_MAX / 2) {
      this.gap *= 2;
      this.merge();
    }
  }

  /** The spans as a flat array of pairs (a copy). */
  toArray(): number[] {
    return this.spans.slice();
  }

  toJSON(): { gap: number; spans: number[] } {
    return { gap: this.gap, spans: this.spans };
  }

  static fromJSON(json: { gap: number; spans: number[] }): RunSpans {
    const r = new RunSpans(json.gap);
    r.spans = json.spans.slice();
    return r;
  }

  /** The union of several runs' spans: sorted, disjoint, adjacent ones joined. */
  static union(all: readonly RunSpans[]): number[] {
    if (all.length === 1) return all[0].toArray();
    const pairs: Array<[number, number]> = [];
    for (const r of all) for (let i = 0; i < r.spans.length; i += 2) pairs.push([r.spans[i], r.spans[i + 1]]);
    pairs.sort((a, b) => a[0] - b[0]);
    const out: number[] = [];
    for (const [a, b] of pairs) {
      const n = out.length;
      if (n > 0 && a <= out[n - 1] + 1) out[n - 1] = Math.max(out[n - 1], b);
      else out.push(a, b);
    }
    return out;
  }
}
