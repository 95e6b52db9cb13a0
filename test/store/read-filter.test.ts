import assert from "node:assert/strict";
import fc from "fast-check";
import { formatTimestamp, parseTimestamp } from "../../src/clock.js";
import { ReadFilter } from "../../src/store/read-filter.js";
import type { ReadQuery } from "../../src/store/store.js";

const T0 = Date.UTC(2026, 10, 24, 19, 0, 0) * 1000; // microseconds
const TYPES = ["a", "b", "c"];

interface Rec {
  seq: number;
  timestamp: string;
  eventType: string;
}

/** Runs records through a filter as a cursor does (seq, time, type, limit), on the text or on the timestamp's bytes; returns the seqs kept. */
function run(filter: ReadFilter, records: readonly Rec[], on: "text" | "bytes"): { kept: number[]; done: boolean } {
  const kept: number[] = [];
  for (const r of records) {
    if (filter.done) break;
    if (!filter.passSeq(r.seq)) continue;
    if (on === "text") {
      if (filter.matches(r)) kept.push(r.seq);
      continue;
    }
    const chunk = Buffer.from(`..."timestamp":"${r.timestamp}"...`);
    const start = chunk.indexOf(r.timestamp);
    if (filter.inTimeBytes(chunk, start, start + Buffer.byteLength(r.timestamp)) && filter.take(r.eventType)) kept.push(r.seq);
  }
  return { kept, done: filter.done };
}

/** The query's meaning, written plainly: the records a read returns, and whether the read ended (until or limit). */
function model(query: ReadQuery, records: readonly Rec[]): { kept: number[]; done: boolean } {
  const kept: number[] = [];
  let next = query.fromSeq ?? 1;
  for (const r of records) {
    if (r.seq < next) continue;
    next = r.seq + 1;
    const t = parseTimestamp(r.timestamp);
    if (query.sinceMicros !== undefined && t < query.sinceMicros) continue;
    if (query.untilMicros !== undefined && t >= query.untilMicros) return { kept, done: true };
    if (query.eventTypes !== undefined && query.eventTypes.size > 0 && !query.eventTypes.has(r.eventType)) continue;
    kept.push(r.seq);
    if (query.limit !== undefined && query.limit > 0 && kept.length >= query.limit) return { kept, done: true };
  }
  return { kept, done: false };
}

const rec = (seq: number, micros: number, eventType = TYPES[seq % 3]): Rec => ({ seq, timestamp: formatTimestamp(T0 + micros), eventType });

describe("ReadFilter", () => {
  it("returns exactly the records of the query, on timestamps as text and as bytes", () => {
    // A log in seq order, timestamps mostly growing (a step back now and then: the first record past until ends
    // the read even when a later one is before it); some seqs repeated (a search that landed early, a redelivery).
    const log = fc
      .array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: -1000, max: 5000 }), fc.boolean()), { maxLength: 60 })
      .map((steps) => {
        const out: Rec[] = [];
        let seq = 0;
        let micros = 0;
        for (const [seqStep, microStep, repeat] of steps) {
          seq += repeat && out.length > 0 ? 0 : Math.max(1, seqStep);
          micros = Math.max(0, micros + microStep);
          out.push(rec(seq, micros));
        }
        return out;
      });
    const query = fc.record(
      {
        fromSeq: fc.integer({ min: 1, max: 100 }),
        sinceMicros: fc.integer({ min: 0, max: 100_000 }).map((m) => T0 + m),
        untilMicros: fc.integer({ min: 0, max: 200_000 }).map((m) => T0 + m),
        eventTypes: fc.subarray(TYPES).map((t) => new Set(t)),
        limit: fc.integer({ min: 0, max: 20 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(log, query, (records, q) => {
        const want = model(q, records);
        assert.deepEqual(run(new ReadFilter(q), records, "text"), want);
        assert.deepEqual(run(new ReadFilter(q), records, "bytes"), want);
      }),
      { numRuns: 500 },
    );
  });

  it("moves nextSeq past every record it passes, matching or not, and starts at fromSeq or startSeq", () => {
    const f = new ReadFilter({ fromSeq: 5, eventTypes: new Set(["a"]) });
    assert.equal(f.nextSeq, 5);
    assert.equal(f.passSeq(4), false);
    assert.equal(f.nextSeq, 5);
    assert.equal(f.passSeq(7), true);
    assert.equal(f.take("b"), false);
    assert.equal(f.nextSeq, 8);
    assert.equal(f.passSeq(7), false, "a seq passed once is not passed again");
    assert.equal(new ReadFilter({ fromSeq: 5 }, { startSeq: 9 }).nextSeq, 9);
    assert.equal(new ReadFilter({ fromSeq: 5 }, { startSeq: 2 }).nextSeq, 5);
    assert.equal(new ReadFilter({}).nextSeq, 1);
  });

  it("ends the read at the first record at or past until, and at the limit", () => {
    const f = new ReadFilter({ untilMicros: T0 + 10 });
    assert.equal(f.matches(rec(1, 9)), true);
    assert.equal(f.done, false);
    assert.equal(f.matches(rec(2, 10)), false);
    assert.equal(f.done, true);

    const limited = new ReadFilter({ limit: 2, eventTypes: new Set(["a"]) });
    assert.equal(limited.take("b"), false);
    assert.equal(limited.take("a"), true);
    assert.equal(limited.done, false, "records of other types do not count");
    assert.equal(limited.take("a"), true);
    assert.equal(limited.done, true);
  });

  it("with a slack, skips records just past until and ends the read only past until plus the slack", () => {
    const f = new ReadFilter({ sinceMicros: T0 + 5, untilMicros: T0 + 10 }, { untilSlackMicros: 3 });
    assert.deepEqual(
      [rec(1, 9), rec(2, 11), rec(3, 12), rec(4, 8), rec(5, 4)].map((r) => f.matches(r)),
      [true, false, false, true, false],
    );
    assert.equal(f.done, false);
    assert.equal(f.matches(rec(6, 13)), false);
    assert.equal(f.done, true);
  });

  it("a timestamp that does not parse is outside any time range and ends nothing", () => {
    const bad = { timestamp: "not a time", eventType: "a" };
    for (const q of [{ sinceMicros: T0 }, { untilMicros: T0 }, { sinceMicros: T0, untilMicros: T0 + 1 }]) {
      const f = new ReadFilter(q);
      assert.equal(f.matches(bad), false);
      assert.equal(f.done, false, JSON.stringify(q));
      const chunk = Buffer.from(bad.timestamp);
      assert.equal(f.inTimeBytes(chunk, 0, chunk.length), false);
      assert.equal(f.done, false, JSON.stringify(q));
    }
    assert.equal(new ReadFilter({}).matches(bad), true, "without a time range it is returned");
  });
});
