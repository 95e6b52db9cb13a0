import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { runOfLine } from "../../src/record/line.js";
import { LogReader } from "../../src/store/file/reader.js";
import type { LogRecordView } from "../../src/store/store.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const TS = "2026-12-07T10:00:00.000000+00:00";
type Kind = "none" | "A" | "B" | "lookalike" | "foreign";

/** One line of a log: of run A or B, of no run, of no run but with A's member inside its data, or in another layout with a top-level run. */
function line(seq: number, kind: Kind, pad: number): string {
  const data = `{"n":${seq},"p":"${"x".repeat(pad)}"}`;
  switch (kind) {
    case "A":
    case "B":
      return `{"event_id":"e${seq}","timestamp":"${TS}","event_type":"t","data":${data},"run":"${kind}","seq":${seq},"hash":"${"0".repeat(64)}"}`;
    case "lookalike":
      return `{"event_id":"e${seq}","timestamp":"${TS}","event_type":"t","data":{"x":1,"run":"A","seq":${seq}},"seq":${seq}}`;
    case "foreign":
      return `{"event_id": "e${seq}", "timestamp": "${TS}", "event_type": "t", "data": ${data}, "run": "A", "seq": ${seq}}`;
    default:
      return `{"event_id":"e${seq}","timestamp":"${TS}","event_type":"t","data":${data},"seq":${seq}}`;
  }
}

describe("reads by run: lines of other runs passed over by a byte search", () => {
  let dir: TempDir;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir.remove();
  });

  it("return exactly the records a full scan finds for the runs, across chunk ends, up to maxSeq", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom<Kind>("none", "none", "none", "A", "B", "lookalike", "foreign"), fc.nat(120)), { minLength: 1, maxLength: 80 }),
        fc.constantFrom<string[]>(["A"], ["B"], ["A", "B"]),
        fc.integer({ min: 200, max: 4000 }),
        fc.nat(100),
        async (kinds, runs, chunkBytes, maxFrom) => {
          const path = join(dir.path, `log-${n++}.jsonl`);
          const lines = kinds.map(([kind, pad], i) => line(i + 1, kind, pad));
          await writeFile(path, lines.join("\n") + "\n");
          const maxSeq = Math.max(1, lines.length - (maxFrom % lines.length));
          const expected = lines
            .map((l, i) => ({ seq: i + 1, run: runOfLine(Buffer.from(l)) }))
            .filter((r) => r.seq <= maxSeq && r.run !== undefined && runs.includes(r.run))
            .map((r) => r.seq);
          const cursor = await new LogReader(path, { chunkBytes }).open({ runs: new Set(runs) });
          const seen: LogRecordView[] = [];
          try {
            for await (const batch of cursor.batches(maxSeq)) seen.push(...batch);
            assert.deepEqual(
              seen.map((r) => r.seq),
              expected,
            );
            // The cursor stands after the last durable line, as a follower needs.
            assert.equal(cursor.nextSeq, maxSeq + 1);
          } finally {
            await cursor.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
