import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { formatTimestamp } from "../../../src/clock.js";
import { locate } from "../../../src/store/file/log-search.js";
import { listSegments, segmentPath } from "../../../src/store/file/segments.js";
import { TimeBound } from "../../../src/store/time-bound.js";
import { tempDir, type TempDir } from "../../helpers/server.js";

const T0 = Date.UTC(2026, 10, 24, 19, 0, 0) * 1000; // microseconds
/** The search's window: it narrows a file to this many bytes, then the reader reads forward. */
const WINDOW = 64 * 1024;

/** Record seq n, stamped T0 + n ms, of varying length (about 150 to 350 bytes). */
function recordLine(seq: number): string {
  return `{"event_id":"${String(seq).padStart(36, "0")}","timestamp":"${formatTimestamp(T0 + seq * 1000)}","event_type":"t","data":{"pad":"${"x".repeat((seq * 37) % 200)}"},"seq":${seq}}\n`;
}

function lines(from: number, to: number): string {
  let text = "";
  for (let seq = from; seq <= to; seq++) text += recordLine(seq);
  return text;
}

/** Byte offset of each line start of a file's text, by seq. */
function lineStarts(text: string, firstSeq: number): Map<number, number> {
  const starts = new Map<number, number>();
  let offset = 0;
  let seq = firstSeq;
  for (const line of text.split("\n").slice(0, -1)) {
    starts.set(seq++, offset);
    offset += Buffer.byteLength(line) + 1;
  }
  return starts;
}

describe("locate", () => {
  let dir: TempDir;
  let logPath: string;
  beforeEach(async () => {
    dir = await tempDir();
    logPath = join(dir.path, "pulse_learning_log.jsonl");
  });
  afterEach(() => dir.remove());

  it("lands on a line start at or at most one window before the first record from a seq or a time", async () => {
    const text = lines(1, 6000); // ~1.5 MB: many windows
    await writeFile(logPath, text);
    const starts = lineStarts(text, 1);
    const segments = await listSegments(logPath);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 6000 }), fc.boolean(), async (target, byTime) => {
        const pos = byTime ? await locate(segments, 1, new TimeBound(T0 + target * 1000 - 1)) : await locate(segments, target, undefined);
        assert.equal(pos.segment, 0);
        const want = starts.get(target)!;
        assert.ok([...starts.values()].includes(pos.offset), `${pos.offset} is a line start`);
        assert.ok(pos.offset <= want, `lands at ${pos.offset}, after the record at ${want}`);
        assert.ok(want - pos.offset <= WINDOW + 512, `lands ${want - pos.offset} bytes early`);
      }),
      { numRuns: 80 },
    );
  });

  it("picks the segment that holds the seq or the time, and the later of the two when both are given", async () => {
    await writeFile(segmentPath(logPath, 1, 1000), lines(1, 1000));
    await writeFile(segmentPath(logPath, 1001, 2000), lines(1001, 2000));
    const active = lines(2001, 2500);
    await writeFile(logPath, active);
    const segments = await listSegments(logPath);
    assert.deepEqual(await locate(segments, 1, undefined), { segment: 0, offset: 0 });
    assert.equal((await locate(segments, 1500, undefined)).segment, 1);
    assert.equal((await locate(segments, 1, new TimeBound(T0 + 1500 * 1000))).segment, 1);
    assert.equal((await locate(segments, 2100, undefined)).segment, 2);
    assert.equal((await locate(segments, 1, new TimeBound(T0 + 2100 * 1000))).segment, 2);
    // Both: the later start wins, whichever condition sets it.
    assert.equal((await locate(segments, 2100, new TimeBound(T0 + 500 * 1000))).segment, 2);
    assert.equal((await locate(segments, 500, new TimeBound(T0 + 2100 * 1000))).segment, 2);
    // Past the end: the active file, at or before its end.
    const end = await locate(segments, 9999, undefined);
    assert.equal(end.segment, 2);
    assert.ok(end.offset <= Buffer.byteLength(active));
    assert.equal((await readFile(logPath)).subarray(end.offset - 1, end.offset).toString(), "\n");
  });

  it("starts at the beginning of a file whose lines it cannot tell (no seq, no time)", async () => {
    await writeFile(logPath, "not a record\n".repeat(20_000));
    const segments = await listSegments(logPath);
    assert.deepEqual(await locate(segments, 500, new TimeBound(T0)), { segment: 0, offset: 0 });
  });
});
