import assert from "node:assert/strict";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { v4 as uuidv4 } from "uuid";
import { systemClock } from "../../../src/clock.js";
import { resolveConfig } from "../../../src/config.js";
import { ServiceError } from "../../../src/errors.js";
import { Appender } from "../../../src/store/file/appender.js";
import { nodeFileSystem, type StoreFileHandle, type StoreFileSystem } from "../../../src/store/file/file-system.js";
import { InvariantError, type InvariantName } from "../../../src/store/file/invariants.js";
import { openFileStore } from "../../../src/store/file/open-file-store.js";
import type { AppendEntry, StorageFailure } from "../../../src/store/store.js";
import { tempDir, type TempDir } from "../../helpers/server.js";

const entry = (n: number): AppendEntry => ({ eventId: uuidv4(), clientChosenId: false, body: `"event_type":"test","data":{"n":${n}}` });

/** Hooks on the real file system: a write that may lie about what it wrote, a handle whose size may be misreported. */
interface Tamper {
  /** Bytes a write leaves out while reporting the whole length written. */
  writeShortBy?: number;
  /** Called before each write reaches the file. */
  beforeWrite?: () => void;
  /** Bytes added to the size the open file reports. */
  sizeOffBy?: number;
  /** Bytes added to the size the open file reports once a folder was synced (after recovery cut the file). */
  sizeOffByAfterSyncDir?: number;
}

function tamperedFs(t: Tamper): StoreFileSystem {
  const wrap = (fh: StoreFileHandle): StoreFileHandle => ({
    async write(buffer, offset, length, position) {
      t.beforeWrite?.();
      const short = t.writeShortBy ?? 0;
      if (short > 0 && length > short) {
        await fh.write(buffer, offset, length - short, position);
        return { bytesWritten: length };
      }
      return fh.write(buffer, offset, length, position);
    },
    read: (buffer, offset, length, position) => fh.read(buffer, offset, length, position),
    datasync: () => fh.datasync(),
    truncate: (length) => fh.truncate(length),
    async stat() {
      const s = await fh.stat();
      return { ...s, size: s.size + (t.sizeOffBy ?? 0) };
    },
    chmod: (mode) => fh.chmod(mode),
    close: () => fh.close(),
  });
  return {
    ...nodeFileSystem,
    openReadWrite: async (path, mode) => wrap(await nodeFileSystem.openReadWrite(path, mode)),
    async syncDir(path) {
      await nodeFileSystem.syncDir(path);
      if (t.sizeOffByAfterSyncDir !== undefined) t.sizeOffBy = t.sizeOffByAfterSyncDir;
    },
  };
}

/** The append is refused INTERNAL "internal error", its cause the broken invariant. */
function isBroken(name: InvariantName) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ServiceError, String(err));
    assert.equal(err.code, status.INTERNAL);
    assert.equal(err.message, "internal error");
    assert.ok(err.cause instanceof InvariantError, String(err.cause));
    assert.equal(err.cause.invariant, name);
    assert.match(err.cause.message, new RegExp(name));
    return true;
  };
}

async function seqsIn(path: string): Promise<number[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .filter((l) => l.endsWith("}"))
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

describe("store invariants on the commit path", () => {
  let dir: TempDir;
  let path: string;
  beforeEach(async () => {
    dir = await tempDir();
    path = join(dir.path, "logs", "pulse_learning_log.jsonl");
  });
  afterEach(() => dir.remove());

  /**
   * Opens an appender, acks three records, breaks the invariant with `tamper`
   * for the next commit, and checks: that append and every later one are
   * refused INTERNAL naming the invariant (even once the fault is gone), the
   * failure is reported once, and nothing past the acked records is acked.
   */
  async function breaks(name: InvariantName, tamper: (appender: Appender, t: Tamper) => void, options: { hashChain?: boolean } = {}): Promise<void> {
    const t: Tamper = {};
    const failures: StorageFailure[] = [];
    const { appender } = await Appender.open({ path, fs: tamperedFs(t), hashChain: options.hashChain, observer: { failed: (f) => failures.push(f) } });
    try {
      const acked = [];
      for (let i = 0; i < 3; i++) acked.push(...(await appender.append([entry(i)])));
      assert.deepEqual(
        acked.map((r) => r.seq),
        [1, 2, 3],
      );
      tamper(appender, t);
      await assert.rejects(appender.append([entry(3), entry(4)]), isBroken(name));
      Object.assign(t, { writeShortBy: 0, beforeWrite: undefined, sizeOffBy: 0 } satisfies Tamper);
      // Refused until a restart: no ack after a broken invariant.
      for (let i = 0; i < 3; i++) await assert.rejects(appender.append([entry(10 + i)]), isBroken(name));
      assert.equal(appender.lastSeq, 3);
    } finally {
      await appender.close();
    }
    assert.equal(failures.length, 1, "reported (logged at error) once");
    assert.equal(failures[0].stage, "commit");
    assert.ok(failures[0].err instanceof InvariantError && failures[0].err.invariant === name);
  }

  it('"file size equals durable size": a write that reports every byte written but wrote fewer', async () => {
    await breaks("file size equals durable size", (_a, t) => {
      t.writeShortBy = 7;
    });
    // A restart recovers: the refused append's first record landed whole (durable, never acked: a retry finds it),
    // its second is a torn tail, cut; the log goes on after the last whole record and uses no seq twice.
    const { appender, recovery } = await Appender.open({ path });
    try {
      assert.equal(recovery.lastSeq, 4);
      assert.ok(recovery.tornBytes > 0);
      assert.deepEqual(
        (await appender.append([entry(5)])).map((r) => r.seq),
        [5],
      );
    } finally {
      await appender.close();
    }
    assert.deepEqual(await seqsIn(path), [1, 2, 3, 4, 5]);
  });

  it('"seq strictly increasing": a commit whose records do not follow the last durable seq', async () => {
    await breaks("seq strictly increasing", (appender) => {
      // The writer's seq counter goes back: the next records would reuse seqs 2 and 3.
      Reflect.set(appender, "seq", 1);
    });
  });

  it('"durable seq never ahead of written": a commit that would make durable a seq not yet given out', async () => {
    await breaks("durable seq never ahead of written", (appender, t) => {
      // While the commit's write runs, the writer forgets the seqs it gave out.
      t.beforeWrite = () => Reflect.set(appender, "seq", 0);
    });
  });

  it('"sealer tip equals last hash": a sealer that hands back another tip than the hash it wrote', async () => {
    await breaks("sealer tip equals last hash", (appender) => {
      const sealer = Reflect.get(appender, "sealer") as { seal: (records: unknown, tip: string) => Promise<{ lines: Buffer; tip: string }> };
      const seal = sealer.seal.bind(sealer);
      sealer.seal = async (records, tip) => ({ ...(await seal(records, tip)), tip: "0".repeat(64) });
    });
  });

  it("without the hash chain, the sealer's tip is not checked and commits go on", async () => {
    const { appender } = await Appender.open({ path, hashChain: false });
    try {
      for (let i = 0; i < 3; i++) await appender.append([entry(i)]);
      assert.equal(appender.lastSeq, 3);
    } finally {
      await appender.close();
    }
  });

  it("a broken invariant is logged at error with its name by the file store, and the call gets INTERNAL", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString("utf8").split("\n")) if (l !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const t: Tamper = {};
    const config = resolveConfig(["--addr", "127.0.0.1:0", "--log-path", path], {});
    const store = await openFileStore(config, { clock: systemClock, logger: pino({ level: "info" }, sink), fs: tamperedFs(t) });
    try {
      await store.append([entry(1)]);
      t.writeShortBy = 3;
      await assert.rejects(store.append([entry(2)]), isBroken("file size equals durable size"));
    } finally {
      await store.close();
    }
    const logged = lines.filter((l) => l.level === 50);
    assert.equal(logged.length, 1, JSON.stringify(lines));
    assert.equal(logged[0].invariant, "file size equals durable size");
    assert.match(String(logged[0].msg), /store invariant broken \(file size equals durable size\)/);
  });
});

describe("store invariants after recovery", () => {
  let dir: TempDir;
  let path: string;
  beforeEach(async () => {
    dir = await tempDir();
    path = join(dir.path, "logs", "pulse_learning_log.jsonl");
    await mkdir(join(dir.path, "logs"), { recursive: true });
  });
  afterEach(() => dir.remove());

  it('"file size equals durable size": a file that stays longer than the bytes recovery kept refuses to open', async () => {
    const { appender } = await Appender.open({ path });
    await appender.append([entry(1)]);
    await appender.close();
    await assert.rejects(Appender.open({ path, fs: tamperedFs({ sizeOffByAfterSyncDir: 5 }) }), (err: unknown) => err instanceof InvariantError && err.invariant === "file size equals durable size");
  });

  it('"seq strictly increasing": a log whose active file starts past its last seq (seqs that go back) refuses to open rather than reuse seqs', async () => {
    const line = (seq: number) => `{"event_id":"${uuidv4()}","timestamp":"2026-11-24T19:05:53.700123+00:00","event_type":"test","data":{},"seq":${seq}}\n`;
    await writeFile(path, line(10) + line(5));
    await assert.rejects(Appender.open({ path, hashChain: false }), (err: unknown) => err instanceof InvariantError && err.invariant === "seq strictly increasing");
  });

  it("a log the writer left (chain on, rotated or not) reopens with every invariant holding", async () => {
    for (const segmentBytesMax of [undefined, 600]) {
      const p = join(dir.path, `log-${segmentBytesMax ?? "one"}`, "pulse_learning_log.jsonl");
      for (let round = 0; round < 3; round++) {
        const { appender } = await Appender.open({ path: p, segmentBytesMax });
        for (let i = 0; i < 4; i++) await appender.append([entry(i), entry(i + 100)]);
        await appender.close();
      }
      const { appender, recovery } = await Appender.open({ path: p, segmentBytesMax });
      await appender.close();
      assert.equal(recovery.lastSeq, 24);
    }
  });
});
