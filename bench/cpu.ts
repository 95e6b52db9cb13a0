import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux almost everywhere). */
const TICKS_PER_S = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time a process has used so far, user + system, all its threads (its
 * worker threads and libuv's pool included), in seconds, from
 * /proc/<pid>/stat; with `tid`, that one thread's (/proc/<pid>/task/<tid>/stat;
 * a process's main thread has tid = pid). Undefined when it is gone.
 */
export function cpuSecondsOf(pid: number, tid?: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** The 1-minute load average now, to one decimal. */
export const loadAverage1m = (): number => Math.round(loadavg()[0] * 10) / 10;

/**
 * Waits until the 1-minute load average is under `below`, checking every
 * second, for at most `maxS` seconds; resolves the seconds waited. No wait
 * when `below` is undefined.
 */
export async function settleLoad(below: number | undefined, maxS: number): Promise<number> {
  if (below === undefined) return 0;
  const start = performance.now();
  while (loadavg()[0] >= below && performance.now() - start < maxS * 1000) await new Promise((resolve) => setTimeout(resolve, 1000));
  return (performance.now() - start) / 1000;
}

/** What one process used over a measured part. */
export interface CpuUse {
  /** CPU seconds used over the part. */
  cpuS: number;
  /** Wall seconds of the part (between the two readings). */
  wallS: number;
  /** cpuS / wallS: how many cores the process kept busy. */
  cores: number;
}

interface Reading {
  wallS: number;
  cpuS: number | undefined;
}

const read = (pid: number): Reading => ({ wallS: performance.now() / 1000, cpuS: cpuSecondsOf(pid) });

function use(from: Reading | undefined, to: Reading | undefined): CpuUse | undefined {
  if (from?.cpuS === undefined || to?.cpuS === undefined || to.wallS <= from.wallS) return undefined;
  const cpuS = to.cpuS - from.cpuS;
  const wallS = to.wallS - from.wallS;
  return { cpuS, wallS, cores: cpuS / wallS };
}

/**
 * Reads a server's (and its client's) CPU time when a driver's measured part
 * begins and ends. The driver calls {@link start} and {@link end} (see
 * `WindowMarks` in drivers/driver.ts); the readings are taken at those calls.
 * CPU per event is then the cores used divided by the events/s of the same
 * part, so a mark that comes a little late (a busy event loop) shifts the
 * window without biasing the figure.
 */
export class CpuWindow {
  private serverStart?: Reading;
  private serverEnd?: Reading;
  private clientPid = process.pid;
  private clientStart?: Reading;
  private clientEnd?: Reading;

  /** @param serverPid the process whose CPU per event is reported */
  constructor(private readonly serverPid: number) {}

  /** The measured part begins; `clientPid` is the process generating the load (default: this one). */
  start(clientPid?: number): void {
    this.serverStart = read(this.serverPid);
    if (clientPid !== undefined) this.clientPid = clientPid;
    // One process as both: the same reading, not a second one a clock tick later.
    this.clientStart = this.clientPid === this.serverPid ? this.serverStart : read(this.clientPid);
  }

  /** The measured part ends. */
  end(): void {
    if (this.serverStart === undefined || this.serverEnd !== undefined) return;
    this.serverEnd = read(this.serverPid);
    this.clientEnd = this.clientPid === this.serverPid ? this.serverEnd : read(this.clientPid);
  }

  /** The server's use over the part; undefined when a mark is missing or the process was gone. */
  get server(): CpuUse | undefined {
    return use(this.serverStart, this.serverEnd);
  }

  /** The client's use over the part, when it could be read. */
  get client(): CpuUse | undefined {
    return use(this.clientStart, this.clientEnd);
  }
}

/** Server CPU microseconds per event: cores used / events per second. NaN when either is unknown. */
export function microsPerEvent(cpu: CpuUse | undefined, eventsPerSecond: number | undefined): number {
  if (cpu === undefined || eventsPerSecond === undefined || !(eventsPerSecond > 0)) return Number.NaN;
  return (cpu.cores / eventsPerSecond) * 1e6;
}
