import { status } from "@grpc/grpc-js";
import { errnoOf, ServiceError } from "../../errors.js";
import type { StoreFileHandle, StoreFileSystem } from "./file-system.js";

/** What happened to the active log file under the writer. */
export type LogFileChange = "removed" | "replaced" | "truncated" | "written";

const WHAT: Readonly<Record<LogFileChange, string>> = {
  removed: "removed (or moved away, with its folder or alone)",
  replaced: "replaced (another file is at its path)",
  truncated: "truncated",
  written: "written by another process",
};

/**
 * The active log file vanished or changed under the writer: the writer
 * refuses every commit from then on (UNAVAILABLE), as any byte it wrote would
 * land outside the log (an unlinked file) or beside bytes it does not know
 * (a hole, another writer's records), and going on from an empty file would
 * reuse seqs. Only a restart, once the operator restored the log, lifts it.
 */
export class LogFileChangedError extends ServiceError {
  constructor(
    readonly change: LogFileChange,
    readonly path: string,
    readonly detail: string,
  ) {
    super(status.UNAVAILABLE, `the log file was ${WHAT[change]} under the server; nothing was written; restart it after restoring the log (${path}: ${detail})`);
  }
}


/**
 * Checks that the open active file is still the log: still linked (nlink
 * above 0), still the file at its path (same device and inode), and exactly
 * `writtenSize` bytes long (shorter: truncated; longer: another writer).
 * Two metadata calls (fstat of the descriptor, stat of the path), run side
 * by side; a file system that does not report identities (a test double)
 * is checked on size alone. Resolves undefined when all holds.
 */
export async function checkLogFile(fh: StoreFileHandle, path: string, fs: Pick<StoreFileSystem, "stat">, writtenSize: number): Promise<LogFileChangedError | undefined> {
  const [open, named] = await Promise.all([
    fh.stat(),
    fs.stat(path).catch((err: unknown) => {
      // ENOENT: the file or a folder above it is gone; ENOTDIR: a file now stands where a folder was.
      if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR") return undefined;
      throw err;
    }),
  ]);
  if (named !== undefined && open.ino !== undefined && named.ino !== undefined && (open.ino !== named.ino || open.dev !== named.dev)) {
    return new LogFileChangedError("replaced", path, `the file at the path is inode ${named.ino}, the open one ${open.ino}`);
  }
  if (open.nlink === 0) return new LogFileChangedError("removed", path, "the open file has no name left");
  if (named === undefined) return new LogFileChangedError("removed", path, "no file at the log path");
  if (open.size < writtenSize) return new LogFileChangedError("truncated", path, `${open.size} bytes, ${writtenSize} written`);
  if (open.size > writtenSize) return new LogFileChangedError("written", path, `${open.size} bytes, ${writtenSize} written by this server`);
  return undefined;
}
