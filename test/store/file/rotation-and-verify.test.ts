import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { v4 as uuidv4 } from "uuid";
import { Appender, type StorageFailure } from "../../../src/store/file/appender.js";
import { listSegments } from "../../../src/store/file/segments.js";
import { verifyLog } from "../../../src/store/file/verify.js";
import { errnoError, faultyFs } from "../../helpers/faulty-fs.js";
import { tempDir, type TempDir } from "../../helpers/server.js";

const entries = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ eventId: uuidv4(), body: `"event_type":"t","data":{"tag":"${tag}","i":${i},"pad":"${"p".repeat(100)}"}` }));

describe("segments, retention and the hash chain", () => {
  let dir: TempDir;
  let path: string;
  beforeEach(async () => {
    dir = await tempDir();
    path = join(dir.path, "pulse_learning_log.jsonl");
  });
  afterEach(() => dir.remove());

  it("closes full files into segments named by seq range, continues across restarts, and verifies across them", async () => {
    const closed: string[] = [];
    const first = await Appender.open({ path, segmentBytesMax: 20_000, onSegment: (e) => closed.push(e.path) });
    for (let b = 0; b < 10; b++) await first.appender.append(entries(30, `a${b}`));
    await first.appender.close();
    const segments = await listSegments(path);
    assert.ok(segments.length >= 4, `${segments.length} files`);
    assert.deepEqual(closed, segments.filter((s) => !s.active).map((s) => s.path));
    // Contiguous seq ranges from 1.
    let next = 1;
    for (const s of segments.filter((x) => !x.active)) {
      assert.equal(s.firstSeq, next);
      next = s.lastSeq! + 1;
    }
    // Reopen: seq continues even when the active file is empty right after a rotation.
    const second = await Appender.open({ path, segmentBytesMax: 20_000 });
    assert.equal(second.recovery.lastSeq, 300);
    const [r] = await second.appender.append(entries(1, "b"));
    assert.equal(r.seq, 301);
    await second.appender.close();
    const report = await verifyLog(path);
    assert.equal(report.ok, true, JSON.stringify(report.broken));
    assert.equal(report.records, 301);
    assert.equal(report.firstSeq, 1);
    assert.equal(report.lastSeq, 301);
  });

  it("deletes the oldest segments beyond the size limit, and the rest still verifies", async () => {
    const deleted: string[] = [];
    const { appender } = await Appender.open({ path, segmentBytesMax: 20_000, retentionBytesMax: 50_000, dedupWindowRecords: 30, onSegment: (e) => e.kind === "deleted" && deleted.push(e.path) });
    for (let b = 0; b < 12; b++) await appender.append(entries(30, `c${b}`));
    await appender.close();
    assert.ok(deleted.length > 0);
    const report = await verifyLog(path);
    assert.equal(report.ok, true, JSON.stringify(report.broken));
    assert.ok(report.firstSeq! > 1);
    assert.equal(report.lastSeq, 360);
  });

  it("a failed rotation is reported with its error, loses nothing, and the next commit recovers and rotates again", async () => {
    let failRename = true;
    const { fs } = faultyFs();
    const realRename = fs.rename;
    fs.rename = async (from, to) => {
      if (failRename) {
        failRename = false;
        throw errnoError("EIO");
      }
      return realRename(from, to);
    };
    const failures: StorageFailure[] = [];
    let reported!: () => void;
    const rotationFailed = new Promise<void>((resolve) => (reported = resolve));
    const observer = {
      failed: (f: StorageFailure) => {
        failures.push(f);
        reported();
      },
    };
    const { appender } = await Appender.open({ path, fs, segmentBytesMax: 5_000, observer });
    const first = await appender.append(entries(60, "g"));
    // The rotation runs after the commit's callers are answered.
    await rotationFailed;
    assert.deepEqual(
      failures.map((f) => [f.stage, (f.err as NodeJS.ErrnoException).code]),
      [["rotation", "EIO"]],
    );
    const second = await appender.append(entries(60, "h"));
    assert.equal(second[0].seq, first[first.length - 1].seq + 1);
    await appender.close();
    const closed = (await listSegments(path)).filter((x) => !x.active);
    assert.ok(closed.length >= 1, "rotated once the fault cleared");
    const report = await verifyLog(path);
    assert.equal(report.ok, true, JSON.stringify(report.broken));
    assert.equal(report.records, 120);
  });

  it("deletes segments older than the age limit by the injected clock", async () => {
    // An hour passes in a moment: the store's clock jumps. The (fake) file
    // system keeps modification times by the same clock: each write sets its
    // file's, a rename moves it (the real ones are too coarse to tell apart).
    const hourMs = 3_600_000;
    let offsetMs = 0;
    const nowMs = () => Date.now() + offsetMs;
    const clock = { nowMicros: () => nowMs() * 1000 };
    const { fs } = faultyFs();
    const mtimes = new Map<string, number>();
    const { openReadWrite, rename, stat: realStat } = fs;
    fs.openReadWrite = async (p, mode) => {
      const fh = await openReadWrite(p, mode);
      return { ...fh, write: (...args) => (mtimes.set(p, nowMs()), fh.write(...args)), read: (...args) => fh.read(...args), datasync: () => fh.datasync(), truncate: (n) => fh.truncate(n), stat: () => fh.stat(), chmod: (m) => fh.chmod(m), close: () => fh.close() };
    };
    fs.rename = async (from, to) => {
      await rename(from, to);
      const m = mtimes.get(from);
      if (m !== undefined) mtimes.set(to, m);
      mtimes.delete(from);
    };
    fs.stat = async (p) => ({ size: (await realStat(p)).size, mtimeMs: mtimes.get(p) ?? nowMs() });
    const deleted: string[] = [];
    const closed: string[] = [];
    let onClosed = () => {};
    const onSegment = (e: { kind: string; path: string }) => {
      (e.kind === "deleted" ? deleted : closed).push(e.path);
      onClosed();
    };
    // Rotation runs after a commit's callers are answered: wait for it.
    const closedCount = (n: number) => new Promise<void>((resolve) => (onClosed = () => closed.length >= n && resolve())).then(() => undefined);
    const { appender } = await Appender.open({ path, fs, clock, segmentBytesMax: 5_000, retentionAgeMs: 60_000, dedupWindowRecords: 60, onSegment });
    const firstClosed = closedCount(1);
    await appender.append(entries(60, "old"));
    await firstClosed;
    const secondClosed = closedCount(2);
    await appender.append(entries(60, "old"));
    await secondClosed;
    const before = [...closed];
    assert.deepEqual(deleted, [], "nothing is old yet");
    offsetMs = hourMs;
    await appender.append(entries(60, "new"));
    await appender.close();
    assert.deepEqual(
      deleted.sort(),
      before.sort(),
      "the segments of an hour ago are deleted, the new one kept",
    );
    const report = await verifyLog(path);
    assert.equal(report.ok, true, JSON.stringify(report.broken));
    assert.equal(report.firstSeq, 121);
    assert.equal(report.records, 60);
  });

  it("retention never shortens exactly-once: the segments holding the newest --dedup-window records stay, so a retry is a duplicate after a restart too", async () => {
    const deleted: string[] = [];
    const options = { path, segmentBytesMax: 2_000, retentionBytesMax: 1, dedupWindowRecords: 100, onSegment: (e: { kind: string; path: string }) => e.kind === "deleted" && deleted.push(e.path) };
    const ids = Array.from({ length: 200 }, () => uuidv4());
    let { appender } = await Appender.open(options);
    for (let i = 0; i < ids.length; i += 10) await appender.append(ids.slice(i, i + 10).map((id, j) => ({ eventId: id, clientChosenId: true, body: `"event_type":"t","data":{"n":${i + j}}` })));
    // Retention ran (the oldest segments went) but kept what the window needs.
    assert.ok(deleted.length > 0, "retention deleted the segments older than the window");
    const retry = ids[ids.length - 100]; // the oldest id the window must still know
    const [before] = await appender.append([{ eventId: retry, clientChosenId: true, body: `"event_type":"t","data":{}` }]);
    assert.equal(before.duplicate, true);
    await appender.close();
    ({ appender } = await Appender.open(options));
    try {
      const [after] = await appender.append([{ eventId: retry, clientChosenId: true, body: `"event_type":"t","data":{}` }]);
      assert.equal(after.duplicate, true, "answered as a duplicate after the restart, not written again");
      assert.equal(after.seq, before.seq);
    } finally {
      await appender.close();
    }
  });

  describe("verify names the first broken line", () => {
    let lines: string[];
    beforeEach(async () => {
      const { appender } = await Appender.open({ path });
      for (let b = 0; b < 5; b++) await appender.append(entries(4, `d${b}`));
      await appender.close();
      lines = (await readFile(path, "utf8")).split("\n").filter((l) => l);
      assert.equal((await verifyLog(path)).ok, true);
    });
    const rewrite = (next: string[]) => writeFile(path, next.join("\n") + "\n");

    it("an edited value", async () => {
      await rewrite(lines.map((l, i) => (i === 7 ? l.replace('"i":3', '"i":4') : l)));
      const report = await verifyLog(path);
      assert.equal(report.ok, false);
      assert.equal(report.broken?.seq, 8);
      assert.match(report.broken!.reason, /hash does not match/);
    });

    it("a deleted line", async () => {
      await rewrite(lines.filter((_, i) => i !== 10));
      const report = await verifyLog(path);
      assert.equal(report.broken?.seq, 12);
      assert.equal(report.broken?.expectedSeq, 11);
      assert.match(report.broken!.reason, /deleted/);
    });

    it("reordered lines", async () => {
      const swapped = [...lines];
      [swapped[4], swapped[5]] = [swapped[5], swapped[4]];
      await rewrite(swapped);
      const report = await verifyLog(path);
      assert.equal(report.broken?.line, 5);
      assert.match(report.broken!.reason, /jumps|reordered/);
    });

    it("an edited first record", async () => {
      await rewrite(lines.map((l, i) => (i === 0 ? l.replace('"i":0', '"i":9') : l)));
      const report = await verifyLog(path);
      assert.equal(report.broken?.seq, 1);
    });

    it("a line re-chained by hand with a wrong hash", async () => {
      const edited = lines.map((l, i) => (i === 2 ? l.replace(/"hash":"[0-9a-f]{64}"/, `"hash":"${"0".repeat(64)}"`) : l));
      await rewrite(edited);
      const report = await verifyLog(path);
      assert.equal(report.broken?.seq, 3);
    });
  });

  it("keeps its files private", async () => {
    const { appender } = await Appender.open({ path, segmentBytesMax: 5_000 });
    await appender.append(entries(60, "e"));
    await appender.append(entries(1, "f"));
    await appender.close();
    const { stat } = await import("node:fs/promises");
    for (const name of await readdir(dir.path)) {
      if (name.endsWith(".jsonl")) assert.equal((await stat(join(dir.path, name))).mode & 0o777, 0o600, name);
    }
  });
});
