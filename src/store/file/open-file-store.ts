import type { Logger } from "pino";
import { errnoOf } from "../../errors.js";
import { Appender } from "./appender.js";
import { lockTakeoverOf } from "./lock.js";
import { LogFileChangedError } from "./log-file-check.js";
import { InvariantError } from "./invariants.js";
import { withPath, type StoreFileSystem } from "./file-system.js";
import type { StorageFailure, StoreDeps } from "../store.js";

/** What the file store is opened with (the server's config has these members: the option table's rows for the log). */
export interface FileStoreConfig {
  /** The active log file (--log-path); segments and the lock sit beside it. */
  readonly logPath: string;
  /** Bytes waiting to be written before appends are refused (--queue-bytes-max). */
  readonly queueBytesMax: number;
  /** Recent records whose event_ids answer retries exactly once (--dedup-window). */
  readonly dedupWindowRecords: number;
  /** SHA-256 chain over the records (--hash-chain). */
  readonly hashChain: boolean;
  /** Active file size at which it is closed into a segment (--segment-bytes-max). */
  readonly segmentBytesMax: number;
  /** Closed segments are deleted, oldest first, while all exceed this (--retention-bytes-max); undefined keeps all. */
  readonly retentionBytesMax?: number;
  /** Closed segments older than this are deleted (--retention-days); undefined keeps all. */
  readonly retentionAgeMs?: number;
}

/** The file store's own seam beside the deps every store takes. */
export interface FileStoreSeams {
  /** File system the store's files are written through (fault tests inject through it). Default: the real one. */
  readonly fs?: StoreFileSystem;
}

/**
 * Opens the embedded JSONL store from its config: repairs a torn
 * tail, rebuilds the dedup window, and logs what opening found (a lock taken
 * over, a torn tail cut, damaged lines, a log of the original module).
 */
export async function openFileStore(config: FileStoreConfig, deps: StoreDeps & FileStoreSeams): Promise<Appender> {
  const { logger, observer } = deps;
  const { appender, recovery } = await Appender.open({
    observer: {
      commit: observer?.commit,
      failed: (failure) => {
        logStorageFailure(logger, failure);
        observer?.failed?.(failure);
      },
    },
    path: config.logPath,
    fs: deps.fs,
    clock: deps.clock,
    queueBytesMax: config.queueBytesMax,
    dedupWindowRecords: config.dedupWindowRecords,
    hashChain: config.hashChain,
    segmentBytesMax: config.segmentBytesMax,
    retentionBytesMax: config.retentionBytesMax,
    retentionAgeMs: config.retentionAgeMs,
    onSegment: (event) => logger.info(event, event.kind === "closed" ? "closed a log segment" : "deleted a log segment (retention)"),
  }).catch((err: unknown) => {
    throw logPathError(config.logPath, err);
  });
  const takeover = lockTakeoverOf(config.logPath);
  if (takeover?.reason === "corrupt") logger.warn({ lockPath: takeover.lockPath, content: takeover.content }, "replaced a lock file that named no holder (a process killed while writing it)");
  else if (takeover) logger.warn({ lockPath: takeover.lockPath, holder: takeover.previous, reason: takeover.reason }, "took over the lock of a process that is gone");
  if (recovery.tornBytes > 0) {
    logger.warn({ tornBytes: recovery.tornBytes, quarantine: recovery.quarantinePath }, "cut a torn tail off the log (a crash interrupted a write); the bytes are kept in the quarantine file");
  }
  if (recovery.damagedLines > 0) {
    const lines = recovery.damaged.map((d) => ({ file: d.path, line: d.line, offset: d.offset, reason: d.reason }));
    logger.warn({ damagedLines: recovery.damagedLines, lines }, "complete lines near the end of the log are not records; kept in place (pulse-log verify names every break)");
  }
  if (recovery.nonFiniteRecords > 0) logger.info({ records: recovery.nonFiniteRecords }, "records hold NaN/Infinity written by the original module; read as those numbers");
  if (recovery.legacy) logger.info({ lastSeq: recovery.lastSeq }, "log written by the original module: seq continues after its line count");
  logger.info({ path: config.logPath, lastSeq: recovery.lastSeq, dedupWindowRecords: recovery.windowRecords }, "log opened");
  return appender;
}

/** The log's folder or file cannot be made or opened for a reason a restart does not fix; the message names --log-path and what to do. */
export class LogPathError extends Error {
  override readonly name = "LogPathError";
}

// Errors of the path itself (not of the disk's state or of another process): configuration to fix.
const PATH_ERRORS: Record<string, string> = {
  EACCES: "permission denied: the server's user cannot create or write it",
  EPERM: "operation not permitted for the server's user",
  ENOTDIR: "a file is in the way where a folder of the path should be",
  EISDIR: "it is a folder, not a file",
  EROFS: "the file system is read-only",
};

function logPathError(logPath: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  const why = typeof e?.code === "string" ? PATH_ERRORS[e.code] : undefined;
  // Any other storage error names the file or folder it concerns (the log's, when it names none: an fsync at start).
  if (why === undefined || e.syscall === undefined) return withPath(err, logPath);
  return new LogPathError(`--log-path ${logPath}: ${why} (${e.code} on ${e.syscall} ${e.path ?? ""}); choose a log path the server's user can write`, { cause: err });
}

function logStorageFailure(logger: Logger, failure: StorageFailure): void {
  const { stage, err, appends, records } = failure;
  const errno = errnoOf(err);
  if (err instanceof InvariantError) {
    logger.error({ invariant: err.invariant, details: err.details, err, appends, records }, `store invariant broken (${err.invariant}): the appends not yet durable were refused (INTERNAL), and every write is refused until a restart`);
    return;
  }
  if (err instanceof LogFileChangedError) {
    logger.error({ change: err.change, path: err.path, detail: err.detail, appends, records }, "the log file vanished or changed under the server: every write is refused (UNAVAILABLE) until a restart; restore the log first");
    return;
  }
  if (stage === "commit") logger.error({ errno, err, appends, records }, "log write failed: the appends not yet durable were refused (UNAVAILABLE, or RESOURCE_EXHAUSTED for a full disk); the log goes on from the last durable record");
  else logger.error({ errno, err }, "closing the active log file into a segment failed; the next commit recovers and retries");
}
