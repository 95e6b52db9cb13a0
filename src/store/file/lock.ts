import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { link, open, readdir, readFile, realpath, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { currentBoot, livenessOf, ownStartTime, pidExists, type ProcessRef } from "./process-liveness.js";
import { errnoOf } from "../../errors.js";

/**
 * Who holds a log, as written in its lock file: the process (pid, host, start
 * time and boot, so a reused pid or a lock from an earlier boot is seen stale).
 */
export interface LockOwner extends ProcessRef {
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

/** Thrown when the lock file cannot be read, written or replaced (permissions, a folder in its place...): names the file. */
export class LockFileError extends Error {
  override readonly name = "LockFileError";
  constructor(
    readonly lockPath: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`lock file ${lockPath}: ${message}`, options);
  }
}

/** What taking the lock replaced: the lock of a holder that is gone, or a lock file that held no valid owner. */
export interface LockTakeover {
  lockPath: string;
  /** dead: the process is gone (or a zombie); reused-pid: its pid now belongs to another process; rebooted: written before the last boot; corrupt: no valid owner in the file. */
  reason: "dead" | "reused-pid" | "rebooted" | "corrupt";
  /** The holder named in the replaced file, when it named one. */
  previous?: LockOwner;
  /** The replaced file's first bytes, when it was corrupt (JSON-escaped). */
  content?: string;
}

/** A held lock; release it at shutdown. */
export interface LogLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Options of {@link acquireLogLock}; the defaults suit a server. */
export interface LogLockOptions {
  /** How long to wait for a holder that is exiting (killed, tearing down) to be gone, in ms. Default 5,000. */
  exitWaitMs?: number;
  /**
   * A lock file without a valid owner younger than this (in ms) may be
   * another process's lock being written without the atomic protocol (an
   * older version): it is read again until it is this old. Default 1,000.
   */
  corruptGraceMs?: number;
}

// Locks this process holds or is taking: a second writer in the same process is refused too
// (and a lock naming our own pid that is in neither set is a dead predecessor's, see livenessOf).
const heldHere = new Set<string>();
// The content of every lock this process holds (each names a fresh id): a lock file reached by
// another path (a bind mount) holding one of them is ours and alive, not a dead predecessor's.
const heldContents = new Set<string>();
const takingHere = new Set<string>();
// Takeovers of the last acquisitions, by lock path, until the server reads them (lockTakeoverOf).
const takeovers = new Map<string, LockTakeover>();

/** What the last acquisition of `logPath`'s lock replaced, once (the server logs it); undefined when it replaced nothing. */
export function lockTakeoverOf(logPath: string): LockTakeover | undefined {
  const t = takeovers.get(logPath);
  takeovers.delete(logPath);
  return t;
}

/**
 * The log path with symlinks and `..` resolved (the file's when it exists,
 * else its folder's), so every spelling of one log names one lock file. A
 * folder that does not exist yet keeps the path as given.
 */
async function canonicalPath(logPath: string): Promise<string> {
  try {
    return await realpath(logPath);
  } catch {
    try {
      return join(await realpath(dirname(logPath)), basename(logPath));
    } catch {
      return logPath;
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Parses a lock file's bytes; undefined when they hold no valid owner (empty, cut short, not ours). */
function parseOwner(bytes: Buffer): LockOwner | undefined {
  try {
    const o = JSON.parse(bytes.toString("utf8")) as Partial<LockOwner> | null;
    if (o === null || typeof o !== "object" || !Number.isSafeInteger(o.pid) || o.pid! <= 0 || typeof o.host !== "string") return undefined;
    return { pid: o.pid!, host: o.host, since: typeof o.since === "string" ? o.since : "unknown", started: typeof o.started === "number" ? o.started : undefined, boot: typeof o.boot === "string" ? o.boot : undefined };
  } catch {
    return undefined;
  }
}

async function readBytes(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return undefined;
    throw err;
  }
}

// ---------------------------------------------------------------- taking and releasing

/** Leftovers of acquisitions a kill interrupted: `<lock>[.takeover].<pid>[.<uuid>].tmp` / `.stale` of processes that are gone. */
async function removeLeftovers(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(?:takeover\.)?(\d+)\.(?:[0-9a-f-]{36}\.)?(?:tmp|stale)$/.exec(name.slice(prefix.length));
    if (m === null) continue;
    const pid = Number(m[1]);
    // Its process may still be using it.
    if (pid === process.pid || pidExists(pid)) continue;
    await unlink(join(dir, name)).catch(() => undefined);
  }
}

/** Writes our lock content to a fresh temporary file beside the lock, durably. */
async function writeTemp(path: string, content: string): Promise<string> {
  const temp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return temp;
}

/**
 * Creates the lock file holding `content`, atomically: a hard link of the
 * complete temporary file, so the lock never exists empty or half-written
 * (a kill leaves the whole file or none). Where hard links are not supported,
 * falls back to an exclusive create and a write. False when the lock exists.
 */
async function create(path: string, temp: string, content: string): Promise<boolean> {
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw err;
  }
  let fh;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if (errnoOf(err) === "EEXIST") return false;
    throw err;
  }
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/** What a lock (or takeover guard) file's bytes say about its holder. */
type Verdict = { state: "alive"; owner: LockOwner } | { state: "wait" } | { state: "stale"; takeover: LockTakeover };

async function judge(path: string, bytes: Buffer, host: string, corruptGraceMs: number): Promise<Verdict> {
  const owner = parseOwner(bytes);
  if (owner !== undefined && heldContents.has(bytes.toString("utf8"))) return { state: "alive", owner };
  if (owner === undefined) {
    // No valid owner. A young one may be an older version's lock being written: look again shortly.
    const { mtimeMs } = await stat(path).catch(() => ({ mtimeMs: 0 }));
    const age = Date.now() - mtimeMs;
    if (age >= 0 && age < corruptGraceMs) return { state: "wait" };
    return { state: "stale", takeover: { lockPath: path, reason: "corrupt", content: JSON.stringify(bytes.subarray(0, 120).toString("utf8")) } };
  }
  const holder = await livenessOf(owner, host);
  if (holder.state === "alive") return { state: "alive", owner };
  if (holder.state === "exiting") return { state: "wait" };
  return { state: "stale", takeover: { lockPath: path, reason: holder.reason, previous: owner } };
}

/**
 * Removes a file judged stale if it still holds the bytes judged, by renaming
 * it aside and comparing; puts back what it moved otherwise. Between the two
 * renames the name is free, so this is used only for the takeover guard, and
 * only when its holder died during a takeover (a window of milliseconds).
 */
async function removeByRename(path: string, judged: Buffer): Promise<void> {
  const grave = `${path}.${process.pid}.${randomUUID()}.stale`;
  try {
    await rename(path, grave);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return;
    throw err;
  }
  const moved = await readFile(grave);
  if (!moved.equals(judged)) await link(grave, path).catch(() => undefined);
  await unlink(grave).catch(() => undefined);
}

/**
 * Removes the stale lock whose bytes were judged, under the takeover guard
 * (`<lock>.takeover`, created exclusively like the lock): takeovers are
 * serialized, and the holder of the guard removes the lock only if it still
 * holds exactly the judged bytes, so no live holder's lock is ever removed.
 * False when another process holds the guard (it is taking over) or the lock
 * changed meanwhile: look again.
 */
async function removeStaleLock(path: string, judged: Buffer, temp: string, content: string, host: string, corruptGraceMs: number): Promise<boolean> {
  const guard = `${path}.takeover`;
  if (!(await create(guard, temp, content))) {
    const bytes = await readBytes(guard);
    if (bytes === undefined) return false;
    const verdict = await judge(guard, bytes, host, corruptGraceMs);
    // Its taker was killed half-way: clear the guard, then start over.
    if (verdict.state === "stale") await removeByRename(guard, bytes);
    return false;
  }
  try {
    const now = await readBytes(path);
    if (now === undefined || !now.equals(judged)) return false;
    await unlink(path);
    return true;
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

/**
 * Takes the single-writer lock of a log: `<log>.lock` beside the log's real
 * path (symlinks and `..` resolved, so a second server given another spelling
 * of the path meets the same lock), holding our pid, host, start time and boot. It is created atomically (a hard link of a complete
 * temporary file), so it is never seen empty or cut short by a kill. A lock
 * whose holder is gone is stale and taken over: the holder's pid does not
 * exist, is a zombie (killed, not yet reaped), belongs to a process that
 * started later (pid reused), or the lock was written before the last boot;
 * a lock file with no valid owner in it (an older version killed while
 * writing it, a disk that lost its content) is taken over too. A holder that
 * is exiting (SIGKILL pending, tearing down) is waited for, up to
 * `exitWaitMs`. A lock held by a live process, or by another host (its
 * liveness cannot be checked from here), is refused with
 * {@link LogLockedError}; a lock file that cannot be read or written fails
 * with {@link LockFileError} naming it.
 *
 * Of processes racing for a stale lock, exactly one gets it: the stale file
 * is removed under a takeover guard, only if it still holds the bytes judged
 * stale, and the lock is then created exclusively. (The one gap: a process
 * killed while holding the guard, for the few milliseconds of a takeover,
 * leaves a stale guard, and two processes clearing that guard at once could
 * both take over.)
 */
export async function acquireLogLock(logPath: string, options: LogLockOptions = {}): Promise<LogLock> {
  return acquireLockFile(`${await canonicalPath(logPath)}.lock`, logPath, options);
}

/** The identity of an open log file: its device and inode (fstat of the open file). */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/**
 * Takes the lock of one log file by its identity (device and inode), beside
 * it: `.writer-<dev>-<ino>.lock` in its folder (symlinks resolved). The name
 * lock ({@link acquireLogLock}) covers every spelling of one path; this one
 * covers another name of the same file in that folder (a hard link) and the
 * folder seen through a bind mount. Refused with {@link LogLockedError} like
 * the name lock. The writer holds the lock of the file it writes and moves it
 * to the new active file at each rotation.
 */
export async function acquireFileIdentityLock(filePath: string, identity: FileIdentity, options: LogLockOptions = {}): Promise<LogLock> {
  const dir = dirname(await canonicalPath(filePath));
  return acquireLockFile(join(dir, `.writer-${identity.dev}-${identity.ino}.lock`), `${filePath}#${identity.dev}-${identity.ino}`, options);
}

async function acquireLockFile(path: string, key: string, options: LogLockOptions): Promise<LogLock> {
  if (heldHere.has(path) || takingHere.has(path)) {
    const bytes = await readBytes(path).catch(() => undefined);
    throw new LogLockedError(path, (bytes && parseOwner(bytes)) ?? { pid: process.pid, host: hostname(), since: "unknown" });
  }
  takingHere.add(path);
  try {
    return await take(path, key, options);
  } finally {
    takingHere.delete(path);
  }
}

async function take(path: string, key: string, options: LogLockOptions): Promise<LogLock> {
  const exitWaitMs = options.exitWaitMs ?? 5_000;
  const corruptGraceMs = options.corruptGraceMs ?? 1_000;
  const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), started: await ownStartTime(), boot: await currentBoot() };
  // The id makes each lock's content unique, so this process knows its own locks by content (heldContents).
  const content = JSON.stringify({ ...me, id: randomUUID() }) + "\n";
  try {
    await removeLeftovers(path);
    const temp = await writeTemp(path, content);
    try {
      let takeover: LockTakeover | undefined;
      // Waiting (for an exiting holder, a young corrupt lock, another process's takeover) is bounded in time.
      const since = performance.now();
      const waitMs = Math.max(exitWaitMs, corruptGraceMs) + 1_000;
      for (let attempt = 0; attempt < 1_000 && performance.now() - since <= waitMs; attempt++) {
        if (await create(path, temp, content)) {
          if (takeover) takeovers.set(key, takeover);
          else takeovers.delete(key);
          return held(path, content);
        }
        const bytes = await readBytes(path);
        if (bytes === undefined) continue; // released meanwhile
        const verdict = await judge(path, bytes, me.host, corruptGraceMs);
        if (verdict.state === "alive") throw new LogLockedError(path, verdict.owner);
        if (verdict.state === "wait") {
          // Killed and still exiting (a supervisor restarting at once), or a young lock without a valid owner.
          const owner = parseOwner(bytes);
          if (owner && performance.now() - since > exitWaitMs) throw new LogLockedError(path, owner);
          await sleep(20);
          continue;
        }
        if (await removeStaleLock(path, bytes, temp, content, me.host, corruptGraceMs)) takeover = verdict.takeover;
        else await sleep(5 + Math.random() * 15); // another process is taking over, or the lock changed: look again
      }
      const bytes = await readBytes(path);
      const owner = bytes && parseOwner(bytes);
      if (owner) throw new LogLockedError(path, owner);
      throw new LockFileError(path, "it kept changing while this process tried to take it (other processes are starting on the same log)");
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  } catch (err) {
    if (err instanceof LogLockedError || err instanceof LockFileError) throw err;
    throw new LockFileError(path, (err as Error).message, { cause: err });
  }
}

function held(path: string, content: string): LogLock {
  heldHere.add(path);
  heldContents.add(content);
  return {
    path,
    async release() {
      heldHere.delete(path);
      heldContents.delete(content);
      // Only remove the lock if it is still ours.
      const now = await readBytes(path).catch(() => undefined);
      if (now !== undefined && now.toString("utf8") === content) await unlink(path).catch(() => undefined);
    },
  };
}
