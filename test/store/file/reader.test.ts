import assert from "node:assert/strict";
import { appendFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { v4 as uuidv4 } from "uuid";
import { formatTimestamp } from "../../../src/clock.js";
import { LogReader } from "../../../src/store/file/reader.js";
import { listSegments, segmentPath } from "../../../src/store/file/segments.js";
import type { LogRecordView, ReadQuery } from "../../../src/store/store.js";
import { tempDir, type TempDir } from "../../helpers/server.js";

const T0 = Date.UTC(2026, 10, 24, 19, 0, 0) * 1000; // microseconds
const TYPES = ["variable_weight_update", "rule_activation", "symbolic_revision_triggered"];

/** A line exactly as the appender writes it (optionally with the chain's "hash" key after seq). */
function recordLine(seq: number, options: { type?: string; micros?: number; hash?: boolean } = {}): string {
  const type = options.type ?? TYPES[seq % TYPES.length];
  const ts = formatTimestamp(options.micros ?? T0 + seq * 1000);
  const hash = options.hash ? `,"hash":"${seq.toString(16).padStart(64, "0")}"` : "";
  return `{"event_id":"${uuidv4()}","timestamp":"${ts}","event_type":"${type}","data":{"n":${seq},"note":"padding to make lines longer ${"x".repeat(seq % 50)}"},"seq":${seq}${hash}}\n`;
}

/** A line as the original Python module wrote it: json.dumps spacing, no seq. */
function legacyLine(n: number): string {
  const ts = formatTimestamp(T0 + n * 1000);
  return `{"event_id": "${uuidv4()}", "timestamp": "${ts}", "event_type": "legacy_${n % 2}", "data": {"n": ${n}}}\n`;
}

function lines(from: number, to: number, options: { hash?: boolean } = {}): string {
  let text = "";
  for (let seq = from; seq <= to; seq++) text += recordLine(seq, options);
  return text;
}

async function readAll(reader: LogReader, query: ReadQuery = {}): Promise<LogRecordView[]> {
  const out: LogRecordView[] = [];
  for await (const batch of reader.batches(query)) {
    assert.ok(batch.length > 0, "batches are never empty");
    out.push(...batch);
  }
  return out;
}

const seqs = (records: readonly LogRecordView[]) => records.map((r) => r.seq);
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

describe("LogReader", () => {
  let dir: TempDir;
  let logPath: string;
  beforeEach(async () => {
    dir = await tempDir();
    logPath = join(dir.path, "pulse_learning_log.jsonl");
  });
  afterEach(() => dir.remove());

  it("returns every record with its identity and the line as written", async () => {
    const text = lines(1, 50);
    await writeFile(logPath, text);
    const records = await readAll(new LogReader(logPath));
    assert.deepEqual(seqs(records), range(1, 50));
    const written = text.trimEnd().split("\n");
    records.forEach((r, i) => {
      const parsed = JSON.parse(written[i]) as Record<string, unknown>;
      assert.equal(r.json, written[i]);
      assert.equal(r.eventId, parsed.event_id);
      assert.equal(r.timestamp, parsed.timestamp);
      assert.equal(r.eventType, parsed.event_type);
      assert.equal(r.eventIdBytes.toString(), parsed.event_id);
      assert.equal(r.timestampBytes.toString(), parsed.timestamp);
      assert.equal(r.eventTypeBytes.toString(), parsed.event_type);
    });
  });

  it("starts at any seq, found by binary search in a file larger than its search window", async () => {
    await writeFile(logPath, lines(1, 3000)); // ~450 KB, several 64 KiB windows
    const reader = new LogReader(logPath, { chunkBytes: 16 * 1024 });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 3100 }), fc.integer({ min: 0, max: 20 }), async (fromSeq, limit) => {
        const got = seqs(await readAll(reader, { fromSeq, limit }));
        const start = Math.max(1, fromSeq);
        const want = range(start, limit > 0 ? Math.min(3000, start + limit - 1) : 3000);
        assert.deepEqual(got, want);
      }),
      { numRuns: 60 },
    );
  });

  it("starts at a time and stops before until", async () => {
    await writeFile(logPath, lines(1, 3000));
    const reader = new LogReader(logPath);
    // Record n has timestamp T0 + n ms.
    const got = await readAll(reader, { sinceMicros: T0 + 1200 * 1000, untilMicros: T0 + 1300 * 1000 });
    assert.deepEqual(seqs(got), range(1200, 1299));
    // A bound between two records' times.
    assert.deepEqual(seqs(await readAll(reader, { sinceMicros: T0 + 2999 * 1000 - 1 })), [2999, 3000]);
    assert.deepEqual(seqs(await readAll(reader, { sinceMicros: T0 + 5000 * 1000 })), []);
    assert.deepEqual(seqs(await readAll(reader, { untilMicros: T0 + 3 * 1000 })), [1, 2]);
  });

  it("combines seq, time, type filters and limit", async () => {
    await writeFile(logPath, lines(1, 3000));
    const reader = new LogReader(logPath);
    const got = await readAll(reader, { fromSeq: 100, sinceMicros: T0 + 500 * 1000, eventTypes: new Set(["rule_activation"]), limit: 5 });
    // rule_activation is TYPES[1]: seq % 3 === 1.
    assert.deepEqual(seqs(got), [502, 505, 508, 511, 514]);
    assert.ok(got.every((r) => r.eventType === "rule_activation"));
    const two = await readAll(reader, { eventTypes: new Set(["rule_activation", "symbolic_revision_triggered"]), untilMicros: T0 + 10 * 1000 });
    assert.deepEqual(seqs(two), [1, 2, 4, 5, 7, 8]);
  });

  it("reads across closed segments and the active file, in seq order", async () => {
    await writeFile(segmentPath(logPath, 1, 1000), lines(1, 1000));
    await writeFile(segmentPath(logPath, 1001, 2000), lines(1001, 2000, { hash: true }));
    await writeFile(logPath, lines(2001, 2500, { hash: true }));
    const segments = await listSegments(logPath);
    assert.deepEqual(
      segments.map((s) => [s.firstSeq, s.lastSeq, s.active]),
      [
        [1, 1000, false],
        [1001, 2000, false],
        [undefined, undefined, true],
      ],
    );
    const reader = new LogReader(logPath, { chunkBytes: 8 * 1024 });
    assert.deepEqual(seqs(await readAll(reader)), range(1, 2500));
    assert.deepEqual(seqs(await readAll(reader, { fromSeq: 990, limit: 20 })), range(990, 1009));
    assert.deepEqual(seqs(await readAll(reader, { fromSeq: 1500, limit: 3 })), [1500, 1501, 1502]);
    assert.deepEqual(seqs(await readAll(reader, { fromSeq: 1998, limit: 5 })), range(1998, 2002));
    assert.deepEqual(seqs(await readAll(reader, { sinceMicros: T0 + 1999 * 1000, limit: 4 })), range(1999, 2002));
    assert.deepEqual(seqs(await readAll(reader, { sinceMicros: T0 + 700 * 1000, untilMicros: T0 + 703 * 1000 })), [700, 701, 702]);
  });

  it("a cursor follows the active file and moves on when it is rotated", async () => {
    await writeFile(logPath, lines(1, 10));
    const cursor = await new LogReader(logPath).open({});
    const take = async (maxSeq?: number) => {
      const out: number[] = [];
      for await (const b of cursor.batches(maxSeq)) out.push(...seqs(b));
      return out;
    };
    assert.deepEqual(await take(), range(1, 10));
    await appendFile(logPath, lines(11, 15));
    // maxSeq holds back records that are not yet durable.
    assert.deepEqual(await take(12), [11, 12]);
    assert.deepEqual(await take(), [13, 14, 15]);
    // Rotation: more records land in the old file, it is renamed, a new active file starts.
    await appendFile(logPath, lines(16, 18));
    await rename(logPath, segmentPath(logPath, 1, 18));
    await writeFile(logPath, lines(19, 21, { hash: true }));
    assert.deepEqual(await take(), range(16, 21));
    assert.deepEqual(await take(), []);
    await cursor.close();
  });

  it("leaves an incomplete last line for later", async () => {
    const full = lines(1, 3);
    const extra = recordLine(4);
    await writeFile(logPath, full + extra.slice(0, 20));
    const cursor = await new LogReader(logPath).open({});
    const got: number[] = [];
    for await (const b of cursor.batches()) got.push(...seqs(b));
    assert.deepEqual(got, [1, 2, 3]);
    await appendFile(logPath, extra.slice(20));
    for await (const b of cursor.batches()) got.push(...seqs(b));
    assert.deepEqual(got, [1, 2, 3, 4]);
    await cursor.close();
  });

  it("numbers the original module's lines (no seq) by line, as the appender continues them", async () => {
    let text = "";
    for (let n = 1; n <= 2000; n++) text += legacyLine(n);
    for (let seq = 2001; seq <= 2100; seq++) text += recordLine(seq);
    await writeFile(logPath, text);
    const reader = new LogReader(logPath);
    const all = await readAll(reader);
    assert.deepEqual(seqs(all), range(1, 2100));
    assert.equal(all[0].eventType, "legacy_1");
    assert.deepEqual(JSON.parse(all[1].json), JSON.parse(text.split("\n")[1]));
    assert.deepEqual(seqs(await readAll(reader, { fromSeq: 1500, limit: 2 })), [1500, 1501]);
    assert.deepEqual(seqs(await readAll(reader, { fromSeq: 1999, limit: 4 })), [1999, 2000, 2001, 2002]);
    // Started by time in the middle of the legacy lines: numbered by counting lines.
    assert.deepEqual(seqs(await readAll(reader, { sinceMicros: T0 + 1700 * 1000, limit: 2 })), [1700, 1701]);
  });

  it("reads records with unknown extra keys, escapes and non-ASCII text, and skips lines that are not records", async () => {
    const odd = [
      `{"event_id":"a","timestamp":"${formatTimestamp(T0 + 1000)}","event_type":"quote\\"type","data":{},"seq":1}`,
      `{"event_id":"b","timestamp":"${formatTimestamp(T0 + 2000)}","event_type":"données ✓","data":{"v":"é"},"seq":2}`,
      `not json at all`,
      `{"event_id":"c","timestamp":"${formatTimestamp(T0 + 3000)}","event_type":"t","data":{},"seq":3,"future":{"seq":99}}`,
    ];
    await writeFile(logPath, odd.join("\n") + "\n");
    const records = await readAll(new LogReader(logPath));
    assert.deepEqual(seqs(records), [1, 2, 3]);
    assert.deepEqual(
      records.map((r) => r.eventType),
      ['quote"type', "données ✓", "t"],
    );
    assert.equal(records[1].eventTypeBytes.toString("utf8"), "données ✓");
    assert.equal(records[1].json, odd[1]);
  });

  it("a time-bounded read skips a record whose timestamp does not parse and goes on past it", async () => {
    const bad = `{"event_id":"${uuidv4()}","timestamp":"garbled","event_type":"t","data":{},"seq":3}\n`;
    await writeFile(logPath, lines(1, 2) + bad + lines(4, 6));
    const reader = new LogReader(logPath);
    assert.deepEqual(seqs(await readAll(reader, { untilMicros: T0 + 6 * 1000 })), [1, 2, 4, 5]);
    assert.deepEqual(seqs(await readAll(reader, { sinceMicros: T0 })), [1, 2, 4, 5, 6]);
    assert.deepEqual(seqs(await readAll(reader)), range(1, 6), "without a time range it is returned");
  });

  it("an absent log reads as empty", async () => {
    assert.deepEqual(await readAll(new LogReader(join(dir.path, "nothing", "log.jsonl"))), []);
  });
});
