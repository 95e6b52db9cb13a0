import assert from "node:assert/strict";
import fc from "fast-check";
import { pino } from "pino";
import { RunIndex, type IndexedLog } from "../../src/runs/run-index.js";
import { parseLine } from "../../src/record/record-view.js";
import type { AppendEntry, AppendResult, LogRecordView, ReadQuery, RecordCursor } from "../../src/store/store.js";
import { ReadFilter } from "../../src/store/read-filter.js";

const TS = "2026-12-07T10:00:00.000000+00:00";

interface Rec {
  seq: number;
  run?: string;
  type: string;
  body: string;
  line: string;
}

function record(seq: number, run: string | undefined, type: string, data = "{}"): Rec {
  const body = `"event_type":"${type}","data":${data}${run === undefined ? "" : `,"run":"${run}"`}`;
  return { seq, run, type, body, line: `{"event_id":"id-${seq}","timestamp":"${TS}",${body},"seq":${seq}}` };
}

/** A log in memory: records, a durable end, and cursors over them (through the real read filter). */
function memoryLog(records: Rec[]): IndexedLog & { lastSeq: number } {
  const log = {
    lastSeq: 0,
    records: {
      open: (query: ReadQuery = {}): Promise<RecordCursor> => {
        const filter = new ReadFilter(query);
        let done = false;
        const cursor: RecordCursor = {
          get nextSeq() {
            return filter.nextSeq;
          },
          get done() {
            return done || filter.done;
          },
          async *batches(maxSeq?: number): AsyncGenerator<LogRecordView[]> {
            const out: LogRecordView[] = [];
            for (const r of records) {
              if (maxSeq !== undefined && r.seq > maxSeq) break;
              if (!filter.passSeq(r.seq)) continue;
              const view = parseLine(Buffer.from(r.line))!;
              if (filter.matches(view)) out.push(view);
              if (filter.done) break;
            }
            if (out.length > 0) yield out;
            await Promise.resolve();
          },
          close: () => {
            done = true;
            return Promise.resolve();
          },
        };
        return Promise.resolve(cursor);
      },
    },
  };
  return log;
}

const silent = pino({ level: "silent" });
const entryOf = (r: Rec): AppendEntry => ({ eventId: `id-${r.seq}`, body: r.body, run: r.run });
const resultOf = (r: Rec): AppendResult => ({ seq: r.seq, timestamp: TS, duplicate: false });

/** Counts by run of a full scan: what the index must say. */
function scanCounts(records: Rec[]): Map<string, { count: number; first: number; last: number }> {
  const out = new Map<string, { count: number; first: number; last: number }>();
  for (const r of records) {
    if (r.run === undefined) continue;
    const c = out.get(r.run) ?? { count: 0, first: r.seq, last: r.seq };
    c.count++;
    c.last = r.seq;
    out.set(r.run, c);
  }
  return out;
}

describe("run index", () => {
  it("counts each record once whether the writer told it or a catch-up read it, in any interleaving", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ run: fc.option(fc.constantFrom("a", "b", "c"), { nil: undefined }), byWriter: fc.boolean(), catchUp: fc.boolean(), late: fc.boolean() }), { minLength: 1, maxLength: 120 }),
        async (steps) => {
          const records: Rec[] = [];
          const log = memoryLog(records);
          const index = new RunIndex(log, silent, { pendingMax: 1_000_000 });
          const late: Rec[] = [];
          for (const [i, step] of steps.entries()) {
            const r = record(i + 1, step.run, "t");
            records.push(r);
            log.lastSeq = r.seq;
            // Written by the writer (told now, or told late, after later records), or by someone else (only a catch-up finds it).
            if (step.byWriter) {
              if (step.late) late.push(r);
              else index.noteWritten([entryOf(r)], [resultOf(r)]);
            }
            if (step.catchUp) await index.catchUp();
          }
          for (const r of late) index.noteWritten([entryOf(r)], [resultOf(r)]);
          const listed = await index.list();
          const expected = scanCounts(records);
          assert.deepEqual(new Map(listed.map((r) => [r.run, { count: r.count, first: r.firstSeq, last: r.lastSeq }])), expected);
          assert.equal(index.indexedSeq, records.length);
          // The reads by run through the index return exactly the run's records.
          for (const run of expected.keys()) {
            const cursor = await index.open(log.records, { runs: new Set([run]) });
            const seqs: number[] = [];
            for await (const batch of cursor.batches(log.lastSeq)) seqs.push(...batch.map((v) => v.seq));
            assert.deepEqual(seqs, records.filter((r) => r.run === run).map((r) => r.seq));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("restores from its snapshot and catches up with what came after, counting nothing twice", async () => {
    const records = Array.from({ length: 50 }, (_, i) => record(i + 1, i % 3 === 0 ? "x" : "y", "t"));
    const log = memoryLog(records);
    log.lastSeq = 30;
    const first = new RunIndex(log, silent);
    for (const r of records.slice(0, 30)) first.noteWritten([entryOf(r)], [resultOf(r)]);
    const snapshot = first.snapshot()!;
    assert.equal(snapshot.seq, 30);
    log.lastSeq = 50;
    const second = new RunIndex(log, silent);
    second.restore(JSON.parse(JSON.stringify(snapshot)) as typeof snapshot);
    const listed = await second.list();
    assert.deepEqual(new Map(listed.map((r) => [r.run, { count: r.count, first: r.firstSeq, last: r.lastSeq }])), scanCounts(records));
  });

  it("takes a run's status from its last lifecycle record, its holds and its idle time", async () => {
    const records = [
      record(1, "done", "run_started"),
      record(2, "done", "run_finished", '{"status":"finished"}'),
      record(3, "bad", "run_finished", '{"status":"failed","error":{"type":"KeyError","message":"x"}}'),
      record(4, "again", "run_finished", '{"status":"finished"}'),
      record(5, "again", "run_started"),
      record(6, "idle", "t"),
    ];
    const log = memoryLog(records);
    log.lastSeq = 6;
    let now = Date.parse(TS);
    const index = new RunIndex(log, silent, { idleMs: 1000, now: () => now });
    const release = index.hold("again");
    const states = async () => Object.fromEntries((await index.list()).map((r) => [r.run, [r.state, r.error]]));
    assert.deepEqual(await states(), { done: ["finished", ""], bad: ["failed", "KeyError: x"], again: ["logging", ""], idle: ["logging", ""] });
    release();
    now += 2000;
    assert.deepEqual(await states(), { done: ["finished", ""], bad: ["failed", "KeyError: x"], again: ["ended-without-finish", ""], idle: ["ended-without-finish", ""] });
  });
});
