import assert from "node:assert/strict";
import fc from "fast-check";
import { recordHead, recordPrefix, RECORD_END } from "../../src/record/layout.js";
import { RecordBuffer } from "../../src/store/record-buffer.js";

const property = { seed: Number(process.env.PULSE_RECORD_BUFFER_SEED ?? 20261207), numRuns: 300 };

describe("RecordBuffer.writeRecord (a body already UTF-8, no string made)", () => {
  it("writes the bytes the string path writes, for any body, seq and line end, after what the buffer held, growing as needed", () => {
    const seqArb = fc.oneof(fc.integer({ min: 1, max: 2 ** 31 - 2 }), fc.constantFrom(1, 9, 10, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER), fc.integer({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }));
    const bodyArb = fc.string({ unit: "grapheme", maxLength: 300 }).map((data) => `"event_type":"probe","data":${JSON.stringify(data)}`);
    fc.assert(
      fc.property(fc.uuid(), fc.date({ noInvalidDate: true }), bodyArb, seqArb, fc.boolean(), fc.string({ maxLength: 40 }), (id, date, body, seq, chained, before) => {
        // A tiny buffer: every record makes it grow.
        const records = new RecordBuffer(16);
        records.write(before);
        const head = recordHead(date.toISOString());
        // The body inside a larger buffer, as a request's sink holds it.
        const sink = Buffer.from(`xx${body}yy`);
        const bodyBytes = Buffer.byteLength(body);
        records.writeRecord(id, Buffer.from(head), sink, 2, 2 + bodyBytes, seq, Buffer.from(chained ? "\n" : RECORD_END));
        const expected = before + recordPrefix(id, head, body, seq) + (chained ? "\n" : RECORD_END);
        assert.equal(records.bytes.toString("utf8"), expected);
        assert.equal(records.length, Buffer.byteLength(expected));
      }),
      property,
    );
  });

  it("shares its memory with another thread rather than moving it: the bytes stay readable here", () => {
    const records = new RecordBuffer(64);
    records.write("abc");
    const memory = records.memory;
    assert.ok(memory instanceof SharedArrayBuffer);
    assert.equal(Buffer.from(memory, 0, 3).toString(), "abc");
    assert.equal(records.bytes.toString(), "abc");
  });
});
