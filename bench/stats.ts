/**
 * Latency recording for the benchmark drivers: every ack's latency is kept
 * (a run sees at most a few hundred thousand acks), so percentiles are exact.
 */
export class LatencyRecorder {
  private readonly samples: number[] = [];

  /** Records one latency, in milliseconds. */
  add(ms: number): void {
    this.samples.push(ms);
  }

  /** p50 and p99 (nearest rank) and how many acks. */
  summary(): LatencySummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    return { count: sorted.length, p50Ms: nearestRank(sorted, 50), p99Ms: nearestRank(sorted, 99) };
  }
}

/** p50 and p99 of a set of ack latencies. */
export interface LatencySummary {
  count: number;
  /** Median ack latency, in ms (NaN when there was none). */
  p50Ms: number;
  /** 99th percentile ack latency, in ms (NaN when there was none). */
  p99Ms: number;
}

function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const nowMs = (): number => performance.now();
