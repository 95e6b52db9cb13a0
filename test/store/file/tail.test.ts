import assert from "node:assert/strict";
import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { v4 as uuidv4 } from "uuid";
import { Appender } from "../../../src/store/file/appender.js";
import { LogReader } from "../../../src/store/file/reader.js";
import { listSegments } from "../../../src/store/file/segments.js";
import { verifyLog } from "../../../src/store/file/verify.js";
import type { AppendEntry } from "../../../src/store/store.js";
import { tempDir, type TempDir } from "../../helpers/server.js";

const entry = (n: number, id?: string): AppendEntry => ({ eventId: id ?? uuidv4(), clientChosenId: id !== undefined, body: `"event_type":"test","data":{"n":${n},"pad":"${"p".repeat(60)}"}` });

/** A record as the original Python module wrote it (json.dumps defaults: spaces, NaN for nan, no seq). */
const legacyLine = (data: string) => `{"event_id": "${uuidv4()}", "timestamp": "2025-06-01T10:00:00.000001", "event_type": "legacy", "data": ${data}}\n`;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Every record a fresh reader returns, and its cursor's counters. */
async function readAll(path: string) {
  const cursor = await new LogReader(path).open({});
  const records: Array<{ seq: number; json: string; eventId: string }> = [];
  try {
    for await (const batch of cursor.batches()) for (const r of batch) records.push({ seq: r.seq, json: r.json, eventId: r.eventId });
  } finally {
    await cursor.close();
  }
  return { records, skipped: cursor.skippedLines, nonFinite: cursor.nonFiniteRecords };
}

async function writeRecords(path: string, n: number, options: { segmentBytesMax?: number } = {}): Promise<string[]> {
  const ids = Array.from({ length: n }, () => uuidv4());
  const { appender } = await Appender.open({ path, ...options });
  await appender.append(ids.map((id, i) => entry(i + 1, id)));
  await appender.close();
  return ids;
}

describe("start-up scan of the log's end", () => {
  let dir: TempDir;
  let path: string;
  beforeEach(async () => {
    dir = await tempDir();
    path = join(dir.path, "pulse_learning_log.jsonl");
  });
  afterEach(() => dir.remove());

  describe("only an incomplete tail is torn", () => {
    it("keeps a complete last line that does not parse, reports it with its line number, and goes on after the last record", async () => {
      await writeRecords(path, 2);
      const before = (await readFile(path, "utf8")) + "{garbage that a hand edit left}\n";
      await writeFile(path, before);
      const { appender, recovery } = await Appender.open({ path });
      assert.equal(recovery.tornBytes, 0);
      assert.equal(await readFile(path, "utf8"), before, "nothing cut");
      assert.equal(await exists(`${path}.quarantine`), false);
      assert.equal(recovery.damagedLines, 1);
      assert.equal(recovery.damaged[0].line, 3);
      assert.equal(recovery.damaged[0].path, path);
      assert.match(recovery.damaged[0].reason, /JSON/);
      const [r] = await appender.append([entry(3)]);
      assert.equal(r.seq, 3);
      await appender.close();
    });

    it("reports a damaged line in the middle of the scanned records", async () => {
      await writeRecords(path, 3);
      const lines = (await readFile(path, "utf8")).split("\n");
      lines.splice(1, 0, "not a record");
      await writeFile(path, lines.join("\n"));
      const { appender, recovery } = await Appender.open({ path });
      assert.equal(recovery.lastSeq, 3);
      assert.equal(recovery.damagedLines, 1);
      assert.equal(recovery.damaged[0].line, 2);
      await appender.close();
    });

    it("still cuts a last line without its newline into the quarantine file", async () => {
      await writeRecords(path, 1);
      const good = await readFile(path, "utf8");
      await writeFile(path, good + '{"event_id":"x","timest');
      const { appender, recovery } = await Appender.open({ path });
      assert.equal(recovery.tornBytes, '{"event_id":"x","timest'.length);
      assert.equal(await readFile(path, "utf8"), good);
      assert.equal(recovery.damagedLines, 0);
      await appender.close();
    });
  });

  describe("logs of the original module with NaN and Infinity", () => {
    it("keeps a last record holding NaN, continues seq after the line count, and every reader understands it", async () => {
      const legacy = legacyLine('{"w": 0.5}') + legacyLine('{"w": NaN, "hi": Infinity, "lo": -Infinity, "s": "NaN stays a string"}');
      await writeFile(path, legacy);
      const { appender, recovery } = await Appender.open({ path });
      assert.equal(recovery.tornBytes, 0);
      assert.equal(recovery.legacy, true);
      assert.equal(recovery.lastSeq, 2);
      assert.equal(recovery.nonFiniteRecords, 1);
      const [r] = await appender.append([entry(3)]);
      assert.equal(r.seq, 3);
      await appender.close();
      assert.ok((await readFile(path, "utf8")).startsWith(legacy), "the original records are kept as written");

      const read = await readAll(path);
      assert.deepEqual(
        read.records.map((x) => x.seq),
        [1, 2, 3],
      );
      assert.equal(read.skipped, 0);
      assert.equal(read.nonFinite, 1);
      assert.match(read.records[1].json, /"w": NaN, "hi": Infinity, "lo": -Infinity/, "returned as written");

      const report = await verifyLog(path);
      assert.equal(report.ok, true, JSON.stringify(report.broken));
      assert.equal(report.records, 3);
      assert.equal(report.nonFiniteRecords, 1);
    });
  });

  describe("a byte order mark and CRLF line ends (an editor touched the file)", () => {
    it("a BOM before the first record: nothing is cut, seq goes on, and the server, the reader and verify agree", async () => {
      await writeRecords(path, 3);
      await writeFile(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), await readFile(path)]));
      const { appender, recovery } = await Appender.open({ path });
      assert.equal(recovery.tornBytes, 0);
      assert.equal(recovery.lastSeq, 3);
      assert.equal(recovery.damagedLines, 0);
      await appender.append([entry(4)]);
      await appender.close();
      const read = await readAll(path);
      assert.deepEqual(
        read.records.map((r) => r.seq),
        [1, 2, 3, 4],
      );
      assert.equal(read.records[0].json[0], "{", "the BOM is not part of the record");
      const report = await verifyLog(path);
      assert.equal(report.ok, true, JSON.stringify(report.broken));
      assert.equal(report.records, 4);
    });

    it("a BOM before a one-line log of the original module: the record is kept and seq starts at 2", async () => {
      await writeFile(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(legacyLine('{"w": 1}'))]));
      const { appender, recovery } = await Appender.open({ path });
      assert.equal(recovery.tornBytes, 0);
      assert.equal(recovery.lastSeq, 1);
      const [r] = await appender.append([entry(2)]);
      assert.equal(r.seq, 2);
      await appender.close();
      assert.equal((await readAll(path)).records.length, 2);
      assert.equal((await verifyLog(path)).ok, true);
    });

    it("CRLF line ends: seq goes on, the next segment is named from the right seq, and verify and the reader agree with the server", async () => {
      await writeRecords(path, 3);
      await writeFile(path, (await readFile(path, "utf8")).replaceAll("\n", "\r\n"));
      const { appender, recovery } = await Appender.open({ path, segmentBytesMax: 600 });
      assert.equal(recovery.lastSeq, 3);
      assert.equal(recovery.damagedLines, 0);
      await appender.append([entry(4)]);
      await appender.close();
      const closed = (await listSegments(path)).filter((s) => !s.active);
      assert.deepEqual(
        closed.map((s) => [s.firstSeq, s.lastSeq]),
        [[1, 4]],
      );
      const read = await readAll(path);
      assert.deepEqual(
        read.records.map((r) => r.seq),
        [1, 2, 3, 4],
      );
      assert.ok(!read.records[0].json.endsWith("\r"));
      const report = await verifyLog(path);
      assert.equal(report.ok, true, JSON.stringify(report.broken));
      assert.equal(report.lastSeq, 4);
    });
  });

  describe("the dedup window is rebuilt across closed segments", () => {
    it("answers retries of every id of the window after a restart, however many segments hold them", async () => {
      const ids: string[] = [];
      const first = await Appender.open({ path, segmentBytesMax: 2_000 });
      for (let i = 0; i < 100; i++) {
        const id = uuidv4();
        ids.push(id);
        await first.appender.append([entry(i + 1, id)]);
      }
      await first.appender.close();
      assert.ok((await listSegments(path)).length >= 10, "the records span many segments");

      const second = await Appender.open({ path, segmentBytesMax: 2_000 });
      assert.equal(second.recovery.windowRecords, 100);
      const results = await second.appender.append(ids.map((id, i) => entry(i + 1, id)));
      await second.appender.close();
      assert.deepEqual(
        results.map((r) => [r.seq, r.duplicate]),
        ids.map((_, i) => [i + 1, true]),
      );
      assert.equal((await readAll(path)).records.length, 100, "nothing written twice");
    });

    it("reads no further back than the window needs", async () => {
      const ids: string[] = [];
      const first = await Appender.open({ path, segmentBytesMax: 2_000 });
      for (let i = 0; i < 60; i++) {
        ids.push(uuidv4());
        await first.appender.append([entry(i + 1, ids[i])]);
      }
      await first.appender.close();
      const second = await Appender.open({ path, segmentBytesMax: 2_000, dedupWindowRecords: 25 });
      assert.equal(second.recovery.windowRecords, 25);
      const last = await second.appender.append(ids.slice(-25).map((id, i) => entry(i, id)));
      assert.ok(last.every((r) => r.duplicate));
      assert.equal(last[0].seq, 36);
      await second.appender.close();
    });
  });
});
