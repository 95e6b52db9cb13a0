import { open, readFile, rename, unlink } from "node:fs/promises";
import { hostname } from "node:os";

/** Who holds a log, as written in its lock file. */
export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the holder took the lock. */
  since: string;
}

/** Thrown when another live process holds the log. */
export class LogLockedError extends Error {
  override readonly name = "LogLockedError";
  constructor(
    readonly lockPath: string,
    readonly owner: LockOwner,
  ) {
    super(`the log is already being written by process ${owner.pid} on ${owner.host} (since ${owner.since}); lock file ${lockPath}`);
  }
}

/** A held lock; release it at shutdown. */
export interface LogLock {
  readonly path: string;
  release(): Promise<void>;
}

// Locks this process holds: a second writer in the same process is refused too.
const heldHere = new Set<string>();

function isAlive(pid: number): boolean {
  // Our own pid in a lock we do not hold is a dead predecessor's (pid reuse, e.g. in containers).
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path, "utf8")) as LockOwner;
    return typeof owner.pid === "number" ? owner : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the single-writer lock of a log: `<log>.lock`, created exclusively and
 * holding our pid. A lock whose process is gone (a crash, a kill -9) is stale
 * and is taken over by atomically renaming our own lock file over it, then
 * reading it back: of two processes racing for a stale lock, only the one
 * whose content is there proceeds. A lock held by a live process, or by
 * another host (its liveness cannot be checked from here), is refused.
 */
export async function acquireLogLock(logPath: string): Promise<LogLock> {
  const path = `${logPath}.lock`;
  const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const content = JSON.stringify(me) + "\n";
  if (heldHere.has(path)) throw new LogLockedError(path, (await readOwner(path)) ?? me);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, "wx", 0o600);
      try {
        await fh.writeFile(content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return held(path, me);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = await readOwner(path);
    if (owner && (owner.host !== me.host || isAlive(owner.pid))) {
      throw new LogLockedError(path, owner);
    }
    // Stale (dead holder, or unreadable content): replace it atomically.
    const temp = `${path}.${process.pid}.tmp`;
    const fh = await open(temp, "w", 0o600);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
    const now = await readOwner(path);
    if (now && now.pid === me.pid && now.since === me.since) return held(path, me);
  }
  const owner = await readOwner(path);
  throw new LogLockedError(path, owner ?? { pid: -1, host: "unknown", since: "unknown" });
}

function held(path: string, me: LockOwner): LogLock {
  heldHere.add(path);
  return {
    path,
    async release() {
      heldHere.delete(path);
      // Only remove the lock if it is still ours.
      const owner = await readOwner(path);
      if (owner && owner.pid === me.pid && owner.since === me.since) await unlink(path).catch(() => undefined);
    },
  };
}
