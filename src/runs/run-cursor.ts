import type { LogRecordView, OpenOptions, ReadQuery, RecordCursor, RecordSource } from "../store/store.js";

/**
 * A read of some runs through the run index: it reads only the spans of
 * seqs where the runs' records are (each found by the store's own search),
 * then everything past what the index had read when the read began (new
 * records, and a follower's). The query's own conditions (time, types, runs)
 * are applied by each span's cursor; the limit is counted here, across spans.
 */
export class RunCursor implements RecordCursor {
  private inner: RecordCursor | undefined;
  /** Index of the span being read; spans.length / 2 is the open tail. */
  private span = 0;
  private kept = 0;
  private finished = false;
  private readonly limit: number;
  private readonly fromSeq: number;

  /**
   * @param spans sorted, disjoint [first, last] pairs (flat) of the runs' records up to `indexedSeq`
   * @param indexedSeq records after it are read in full (the index had not seen them)
   */
  constructor(
    private readonly source: RecordSource,
    private readonly query: ReadQuery,
    private readonly spans: readonly number[],
    private readonly indexedSeq: number,
    /** Given to every cursor it opens on the source (the caller's deadline). */
    private readonly openOptions?: OpenOptions,
  ) {
    this.limit = query.limit ?? 0;
    this.fromSeq = query.fromSeq ?? 1;
    // Spans wholly before fromSeq are not read.
    while (this.span < spans.length / 2 && spans[this.span * 2 + 1] < this.fromSeq) this.span++;
  }

  get nextSeq(): number {
    if (this.inner !== undefined) return this.inner.nextSeq;
    return Math.max(this.fromSeq, this.span < this.spans.length / 2 ? this.spans[this.span * 2] : this.indexedSeq + 1);
  }

  get done(): boolean {
    return this.finished;
  }

  /** The span being read: [first, last]; the tail's last is unbounded. */
  private bounds(): [number, number] {
    if (this.span < this.spans.length / 2) return [Math.max(this.fromSeq, this.spans[this.span * 2]), this.spans[this.span * 2 + 1]];
    return [Math.max(this.fromSeq, this.indexedSeq + 1), Number.POSITIVE_INFINITY];
  }

  async *batches(maxSeq?: number, signal?: AbortSignal): AsyncGenerator<LogRecordView[]> {
    const max = maxSeq ?? Number.POSITIVE_INFINITY;
    while (!this.finished) {
      const [first, last] = this.bounds();
      if (first > max) return;
      this.inner ??= await this.source.open({ ...this.query, fromSeq: first, limit: undefined }, this.openOptions);
      for await (const batch of this.inner.batches(Math.min(last, max), signal)) {
        let out = batch;
        if (this.limit > 0 && this.kept + batch.length >= this.limit) {
          out = batch.slice(0, this.limit - this.kept);
          this.finished = true;
        }
        this.kept += out.length;
        if (out.length > 0) yield out;
        if (this.finished) return;
      }
      // Past until: nothing later matches.
      if (this.inner.done) {
        this.finished = true;
        return;
      }
      // The span is read through, or reading stopped at maxSeq inside it (a follower waits for more).
      if (last > max) return;
      await this.inner.close();
      this.inner = undefined;
      this.span++;
    }
  }

  async close(): Promise<void> {
    await this.inner?.close();
    this.inner = undefined;
  }
}
