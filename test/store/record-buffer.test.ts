import assert from "node:assert/strict";
import fc from "fast-check";
import { recordHead, recordPrefix, RECORD_END } from "../../src/record/layout.js";
import { RecordBuffer } from "../../src/store/record-buffer.js";

const property = { seed: Number(process.env.PULSE_RECORD_BUFFER_SEED ?? 20261207), numRuns: 300 };

describe("RecordBuffer.writeRecord (a body already UTF-8, no string made)", () => {
  it("writes the bytes the string path writes, for any body, seq and line end, after what the buffer held, growing as needed", () => {
    const seqArb = fc.oneof(fc.integer({ min: 1, max: 2 ** 31 - 2 }), fc.constantFrom(1, 9, 10, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER), fc.integer({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }));
    const bodyArb = fc.string({ unit: "grapheme", maxLength: 300 }).map((data) => `"event_type":"probe","data":${JSON.stringify(data)}`);
    const lineArb = fc.string({ maxLength: 40 }).map((text) => `${text.replaceAll("\n", " ")}\n`);
    fc.assert(
      fc.property(fc.uuid(), fc.date({ noInvalidDate: true }), bodyArb, seqArb, fc.boolean(), lineArb, (id, date, body, seq, chained, before) => {
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
        // Each record's newline is where the buffer says (the sealer reads them from there).
        assert.deepEqual([...records.lineEnds], [Buffer.byteLength(before) - 1, records.length - 1]);
      }),
      property,
    );
  });

  it("shares its memory with another thread rather than moving it: the bytes stay readable here", () => {
    const records = new RecordBuffer(64);
    records.write("abc\n");
    const memory = records.memory;
    assert.ok(memory instanceof SharedArrayBuffer);
    assert.ok(records.lineEndsMemory instanceof SharedArrayBuffer);
    assert.equal(Buffer.from(memory, 0, 4).toString(), "abc\n");
    assert.equal(records.bytes.toString(), "abc\n");
  });

  it("keeps every record's line end across growth and reset, and refuses a record without its newline", () => {
    const records = new RecordBuffer(16);
    const lines = Array.from({ length: 500 }, (_, i) => `{"seq":${i}, "note":"é${"x".repeat(i % 7)}"}\n`);
    for (const line of lines) records.write(line);
    const text = records.bytes.toString("utf8");
    const newlines = [...records.bytes.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i);
    assert.equal(records.records, 500);
    assert.deepEqual([...records.lineEnds], newlines);
    assert.equal(text, lines.join(""));
    assert.throws(() => records.write("no newline"), /ends with a newline/);
    assert.equal(records.records, 500, "the refused text is not counted");
    records.reset();
    assert.equal(records.records, 0);
    records.write("a\n");
    assert.deepEqual([...records.lineEnds], [1]);
  });
});
