import { nodeFileSystem, type StoreFileHandle, type StoreFileSystem } from "../../src/store/file/file-system.js";

/** Hooks run before the real operation; a hook may throw to inject a fault or await to hold the call. */
export interface FaultHooks {
  beforeWrite?: (length: number, position: number) => Promise<number | void> | number | void;
  beforeDatasync?: () => Promise<void> | void;
  beforeTruncate?: (length: number) => Promise<void> | void;
}

/** Counters of what the store did. */
export interface FsCounters {
  writes: number;
  datasyncs: number;
  bytesRead: number;
}

/** An errno-style error like the ones Node's fs throws. */
export function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

/**
 * The real file system with hooks around write, datasync and truncate, and
 * counters. `beforeWrite` may return a byte count to make the write short
 * (only that many bytes land), as a full tmpfs does.
 */
export function faultyFs(hooks: FaultHooks = {}): { fs: StoreFileSystem; counters: FsCounters; hooks: FaultHooks } {
  const counters: FsCounters = { writes: 0, datasyncs: 0, bytesRead: 0 };
  const wrap = (fh: StoreFileHandle): StoreFileHandle => ({
    async write(buffer, offset, length, position) {
      counters.writes++;
      const allowed = await hooks.beforeWrite?.(length, position);
      if (typeof allowed === "number") {
        if (allowed > 0) await fh.write(buffer, offset, Math.min(allowed, length), position);
        return { bytesWritten: Math.min(allowed, length) };
      }
      return fh.write(buffer, offset, length, position);
    },
    async read(buffer, offset, length, position) {
      const r = await fh.read(buffer, offset, length, position);
      counters.bytesRead += r.bytesRead;
      return r;
    },
    async datasync() {
      counters.datasyncs++;
      await hooks.beforeDatasync?.();
      return fh.datasync();
    },
    async truncate(length) {
      await hooks.beforeTruncate?.(length);
      return fh.truncate(length);
    },
    stat: () => fh.stat(),
    chmod: (mode) => fh.chmod(mode),
    close: () => fh.close(),
  });
  const fs: StoreFileSystem = {
    ...nodeFileSystem,
    openReadWrite: async (path, mode) => wrap(await nodeFileSystem.openReadWrite(path, mode)),
  };
  return { fs, counters, hooks };
}

/** A gate a hook can wait on until the test opens it. */
export function gate(): { wait: () => Promise<void>; open: () => void; reached: Promise<void> } {
  let open!: () => void;
  let reach!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const reached = new Promise<void>((r) => (reach = r));
  return {
    wait: () => {
      reach();
      return opened;
    },
    open,
    reached,
  };
}

/**
 * A hook that holds only its first call on `held` (then runs `after`, which
 * may throw to fail that call); later calls pass at once.
 */
export function holdFirstCall(held: ReturnType<typeof gate>, after: () => void = () => undefined): () => Promise<void> {
  let first = true;
  return async () => {
    if (!first) return;
    first = false;
    await held.wait();
    after();
  };
}
