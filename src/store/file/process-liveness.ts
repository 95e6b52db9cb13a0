import { readFile } from "node:fs/promises";
import { errnoOf } from "../../errors.js";

/** A process as a lock file names it: enough to tell whether it still runs. */
export interface ProcessRef {
  pid: number;
  host: string;
  /** Its start time, in clock ticks since boot (Linux: field 22 of /proc/<pid>/stat); another start time under the same pid is another process. */
  started?: number;
  /** The boot it ran in (Linux: /proc/sys/kernel/random/boot_id). */
  boot?: string;
}

/** Whether a named process still runs: alive, exiting (killed, tearing down), or gone and why. */
export type Liveness = { state: "alive" } | { state: "exiting" } | { state: "dead"; reason: "dead" | "reused-pid" | "rebooted" };

/** A process as /proc shows it (Linux). */
interface ProcState {
  /** R, S, D, Z (zombie: exited, not yet reaped), X (dead)... */
  state: string;
  /** Clock ticks since boot when it started. */
  started: number;
  /** It is exiting: PF_EXITING set, or a SIGKILL pending (killed, not yet torn down). */
  exiting: boolean;
}

const PF_EXITING = 0x4;
const SIGKILL_BIT = 1n << 8n;


/** /proc/<pid>/stat and status, or undefined when they cannot be read (no procfs, hidepid, the process gone meanwhile). */
async function procState(pid: number | "self"): Promise<ProcState | undefined> {
  let stat: string;
  let status: string;
  try {
    [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, "latin1"), readFile(`/proc/${pid}/status`, "latin1")]);
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the fields follow the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const flags = Number(fields[6]);
  const started = Number(fields[19]);
  if (state === undefined || !Number.isFinite(flags) || !Number.isSafeInteger(started)) return undefined;
  const pending = (name: string) => {
    const m = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, "m").exec(status);
    return m !== null && (BigInt(`0x${m[1]}`) & SIGKILL_BIT) !== 0n;
  };
  return { state, started, exiting: (flags & PF_EXITING) !== 0 || pending("SigPnd") || pending("ShdPnd") };
}

/** This process's start time in clock ticks since boot, or undefined without /proc. */
export async function ownStartTime(): Promise<number | undefined> {
  return (await procState("self"))?.started;
}

let bootId: Promise<string | undefined> | undefined;

/** The id of the current boot (read once), or undefined without /proc. */
export function currentBoot(): Promise<string | undefined> {
  bootId ??= readFile("/proc/sys/kernel/random/boot_id", "latin1").then(
    (t) => t.trim() || undefined,
    () => undefined,
  );
  return bootId;
}

/**
 * Whether the process `ref` names still runs. Checked only on `host` (this
 * host): a process on another host counts as alive, its liveness cannot be
 * seen from here. Gone: no such pid, a zombie, a pid reused by a process that
 * started later (or by this very process), or a ref from an earlier boot.
 */
export async function livenessOf(ref: ProcessRef, host: string): Promise<Liveness> {
  if (ref.host !== host) return { state: "alive" };
  // Our own pid in a ref we did not write is a dead predecessor's (pid reuse, e.g. pid 1 in containers).
  if (ref.pid === process.pid) return { state: "dead", reason: "reused-pid" };
  const boot = await currentBoot();
  if (ref.boot !== undefined && boot !== undefined && ref.boot !== boot) return { state: "dead", reason: "rebooted" };
  try {
    process.kill(ref.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if (errnoOf(err) !== "EPERM") return { state: "dead", reason: "dead" };
  }
  const proc = await procState(ref.pid);
  if (proc === undefined) {
    // No /proc to look closer (or it is hidden): it exists, unless it vanished meanwhile.
    try {
      process.kill(ref.pid, 0);
      return { state: "alive" };
    } catch (err) {
      return errnoOf(err) === "EPERM" ? { state: "alive" } : { state: "dead", reason: "dead" };
    }
  }
  // A zombie has exited (its files, the log and the port, are closed); only its parent has not reaped it yet.
  if (proc.state === "Z" || proc.state === "X" || proc.state === "x") return { state: "dead", reason: "dead" };
  if (ref.started !== undefined && ref.started !== proc.started) return { state: "dead", reason: "reused-pid" };
  return proc.exiting ? { state: "exiting" } : { state: "alive" };
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === "EPERM";
  }
}
