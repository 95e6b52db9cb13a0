import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { v4 as uuidv4 } from "uuid";
import { Appender } from "../../src/store/appender.js";
import { listSegments } from "../../src/store/segments.js";
import { verifyLog } from "../../src/store/verify.js";
import { tempDir, type TempDir } from "../helpers/server.js";

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
    const { appender } = await Appender.open({ path, segmentBytesMax: 20_000, retentionBytesMax: 50_000, onSegment: (e) => e.kind === "deleted" && deleted.push(e.path) });
    for (let b = 0; b < 12; b++) await appender.append(entries(30, `c${b}`));
    await appender.close();
    assert.ok(deleted.length > 0);
    const report = await verifyLog(path);
    assert.equal(report.ok, true, JSON.stringify(report.broken));
    assert.ok(report.firstSeq! > 1);
    assert.equal(report.lastSeq, 360);
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
