import * as fsp from "node:fs/promises";
import { constants, fstatSync, statSync } from "node:fs";

/**
 * The part of an open file the store uses. Node's `FileHandle` is one; tests
 * pass their own to inject faults (a failing fsync, a short write, ENOSPC).
 */
export interface StoreFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  /** Size, and where the file system reports them the link count and identity (device, inode). */
  stat(): Promise<FileIdentity>;
  chmod(mode: number): Promise<void>;
  close(): Promise<void>;
}

/** What the store reads of a file's metadata: its size, and (real files) its link count and identity. */
export interface FileIdentity {
  size: number;
  /** Names the file has; 0 once removed while open. */
  nlink?: number;
  dev?: number;
  ino?: number;
}

/** The file system operations of the store, injectable for fault tests. */
export interface StoreFileSystem {
  /** Opens a file for reading and writing, creating it with `mode`; writes are durable once datasync() resolves. */
  openReadWrite(path: string, mode: number): Promise<StoreFileHandle>;
  /** Creates a folder and its parents with `mode`. */
  mkdir(path: string, mode: number): Promise<void>;
  /** Appends bytes to a file (created with `mode`) and fsyncs it. */
  appendDurably(path: string, data: Uint8Array, mode: number): Promise<void>;
  /** fsyncs a folder, so that a file created in it survives a crash. */
  syncDir(path: string): Promise<void>;
  /** Renames a file (closing the active file into a segment). */
  rename(from: string, to: string): Promise<void>;
  /** Deletes a file (retention). */
  unlink(path: string): Promise<void>;
  /** A file's size and last modification time (retention), and its identity (the writer checks the log is still its file). */
  stat(path: string): Promise<FileIdentity & { mtimeMs: number }>;
  /** The names in a folder (the log's segments). */
  readdir(path: string): Promise<string[]>;
}

/**
 * A file opened with O_DSYNC: each write returns only once its data is
 * durable (what a write then fdatasync gives, in one system call and one
 * trip through libuv's thread pool instead of two). datasync() therefore has
 * work only after a truncate, which O_DSYNC does not cover.
 */
class DsyncFile implements StoreFileHandle {
  private truncated = false;

  constructor(
    private readonly fh: fsp.FileHandle,
    private readonly path: string,
  ) {}

  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    return this.fh.write(buffer, offset, length, position).catch(this.named);
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.fh.read(buffer, offset, length, position).catch(this.named);
  }

  async datasync(): Promise<void> {
    if (!this.truncated) return;
    await this.fh.datasync().catch(this.named);
    this.truncated = false;
  }

  async truncate(length: number): Promise<void> {
    this.truncated = true;
    await this.fh.truncate(length).catch(this.named);
  }

  // Metadata of the open file comes from the kernel's caches: asked in this
  // thread it costs a few µs, through libuv's pool a thread hop and tens of
  // µs of CPU (the writer checks the file before and after every commit).
  stat(): Promise<FileIdentity> {
    try {
      return Promise.resolve(fstatSync(this.fh.fd));
    } catch (err) {
      return Promise.reject(withPath(err, this.path));
    }
  }

  chmod(mode: number): Promise<void> {
    return this.fh.chmod(mode).catch(this.named);
  }

  close(): Promise<void> {
    return this.fh.close().catch(this.named);
  }

  private readonly named = (err: unknown): never => {
    throw withPath(err, this.path);
  };
}

/**
 * The error with the file it concerns: Node's errors of calls on an open
 * file (fsync, write, ftruncate...) name none ("EIO: i/o error, fsync"), and
 * an operator needs to know which file or folder failed. Keeps code, errno
 * and syscall; errors that already name a path are returned as they are.
 */
export function withPath(err: unknown, path: string): unknown {
  const e = err as NodeJS.ErrnoException | undefined;
  if (!(e instanceof Error) || typeof e.code !== "string" || e.path !== undefined) return err;
  const named = Object.assign(new Error(`${e.message} '${path}'`, { cause: err }), { code: e.code, errno: e.errno, syscall: e.syscall, path });
  return named;
}

/** The real file system. */
export const nodeFileSystem: StoreFileSystem = {
  openReadWrite: async (path, mode) => new DsyncFile(await fsp.open(path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC, mode), path),
  async mkdir(path, mode) {
    await fsp.mkdir(path, { recursive: true, mode });
  },
  async appendDurably(path, data, mode) {
    const fh = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, mode);
    try {
      await fh.write(data);
      await fh.datasync();
    } catch (err) {
      throw withPath(err, path);
    } finally {
      await fh.close();
    }
  },
  async syncDir(path) {
    const fh = await fsp.open(path, constants.O_RDONLY);
    try {
      await fh.sync();
    } catch (err) {
      throw withPath(err, path);
    } finally {
      await fh.close();
    }
  },
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  // In this thread, as DsyncFile's stat (a path lookup in the kernel's caches).
  stat: (path) => {
    try {
      return Promise.resolve(statSync(path));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  },
  readdir: (path) => fsp.readdir(path),
};
