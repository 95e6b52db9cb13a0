import { readFileSync, writeFileSync } from "node:fs";

/** Memory of one process, from /proc/<pid>/status, in bytes. */
export interface ProcessMemory {
  /** Resident set size now (VmRSS). */
  rssBytes: number;
  /** Peak resident set size since start or since the last {@link resetPeakRss} (VmHWM). */
  peakBytes: number;
}

function statusKb(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Reads a process's current and peak RSS; undefined when the process is gone. */
export function readMemory(pid: number): ProcessMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  return { rssBytes: statusKb(text, "VmRSS"), peakBytes: statusKb(text, "VmHWM") };
}

/**
 * Resets the kernel's peak-RSS mark (VmHWM) of a process by writing 5 to
 * /proc/<pid>/clear_refs, so each scenario reports its own peak. Returns
 * false where that is not allowed; the sampler's maximum is then the peak.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples a process's RSS at a fixed interval. The peak is the larger of the
 * sampled maximum and the kernel's VmHWM (which catches spikes between samples).
 */
export class RssSampler {
  private readonly timer: NodeJS.Timeout;
  private readonly peakResettable: boolean;
  private maxSampled = 0;

  /**
   * @param pid the process to watch
   * @param intervalMs sampling interval; default 250 ms
   */
  constructor(
    private readonly pid: number,
    intervalMs = 250,
  ) {
    this.peakResettable = resetPeakRss(pid);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const m = readMemory(this.pid);
    if (m !== undefined) this.maxSampled = Math.max(this.maxSampled, m.rssBytes);
  }

  /** Stops sampling; returns the peak RSS seen and the RSS at the end, in bytes. */
  stop(): { peakBytes: number; finalBytes: number } {
    clearInterval(this.timer);
    this.sample();
    const m = readMemory(this.pid);
    const hwm = this.peakResettable && m !== undefined ? m.peakBytes : 0;
    return { peakBytes: Math.max(this.maxSampled, hwm), finalBytes: m?.rssBytes ?? Number.NaN };
  }
}
