import assert from "node:assert/strict";
import fc from "fast-check";
import { eventTypeName, LineRecord, ParsedRecord, parseLine } from "../../src/record/record-view.js";
import type { LogRecordView, RecordField } from "../../src/store/store.js";

const ID = "3f1c2a4e-8b7d-4c1e-9f00-0123456789ab";
const TS = "2026-11-24T19:05:53.700123+00:00";
const FIELDS: RecordField[] = ["eventId", "timestamp", "eventType", "json"];

/** Each field's bytes, by every way a view gives them. */
function fieldsOf(view: LogRecordView): Record<RecordField, string> {
  const out = {} as Record<RecordField, string>;
  for (const f of FIELDS) {
    const buf = Buffer.alloc(view.fieldLength(f) + 4, 0x2e);
    assert.equal(view.copyField(f, buf, 2), view.fieldLength(f), f);
    assert.equal(buf.subarray(0, 2).toString(), "..", `${f}: nothing written before pos`);
    assert.equal(buf.subarray(buf.length - 2).toString(), "..", `${f}: nothing written past the field`);
    out[f] = buf.subarray(2, buf.length - 2).toString("utf8");
  }
  assert.equal(view.eventIdBytes.toString("utf8"), view.eventId);
  assert.equal(view.timestampBytes.toString("utf8"), view.timestamp);
  assert.equal(view.eventTypeBytes.toString("utf8"), view.eventType);
  assert.equal(view.bytes.toString("utf8"), view.json);
  return out;
}

describe("record views", () => {
  it("reads a line of this service's layout by position, with or without the chain's hash", () => {
    for (const tail of ["}", `,"hash":"${"ab".repeat(32)}"}`]) {
      const json = `{"event_id":"${ID}","timestamp":"${TS}","event_type":"rule_activation","data":{"seq":1},"seq":42${tail}`;
      const view = parseLine(Buffer.from(`xx${json}\nyy`), 2, 2 + json.length);
      assert.ok(view instanceof LineRecord);
      assert.equal(view.seq, 42);
      assert.deepEqual(fieldsOf(view), { eventId: ID, timestamp: TS, eventType: "rule_activation", json });
    }
  });

  it("leaves a byte order mark and a CRLF's \\r out of the record", () => {
    const json = `{"event_id":"${ID}","timestamp":"${TS}","event_type":"t","data":{},"seq":1}`;
    const view = parseLine(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${json}\r`)]));
    assert.ok(view instanceof LineRecord);
    assert.equal(view.json, json);
  });

  it("parses other layouts: the original module's (no seq), escapes, unknown keys, NaN/Infinity", () => {
    const legacy = `{"event_id": "${ID}", "timestamp": "${TS}", "event_type": "legacy", "data": {"n": 1}}`;
    const view = parseLine(Buffer.from(legacy));
    assert.ok(view instanceof ParsedRecord);
    assert.ok(Number.isNaN(view.seq));
    assert.equal(view.nonFinite, false);
    const numbered = view.withSeq(7);
    assert.equal(numbered.seq, 7);
    assert.deepEqual(fieldsOf(numbered), { eventId: ID, timestamp: TS, eventType: "legacy", json: legacy });

    const escaped = `{"event_id":"${ID}","timestamp":"${TS}","event_type":"qu\\"ote é","data":{},"seq":3}`;
    const e = parseLine(Buffer.from(escaped));
    assert.ok(e instanceof ParsedRecord);
    assert.equal(e.seq, 3);
    assert.deepEqual(fieldsOf(e), { eventId: ID, timestamp: TS, eventType: 'qu"ote é', json: escaped });

    const nonFinite = parseLine(Buffer.from(`{"event_id": "${ID}", "timestamp": "${TS}", "event_type": "m", "data": {"x": NaN, "y": -Infinity}}`));
    assert.ok(nonFinite instanceof ParsedRecord);
    assert.equal(nonFinite.nonFinite, true);
  });

  it("is undefined for a line that is not a record", () => {
    for (const line of ["", "not json", "[1,2]", "null", `{"event_id":"${ID}","timestamp":"${TS}","data":{}}`, `{"event_id":1,"timestamp":"${TS}","event_type":"t"}`]) {
      assert.equal(parseLine(Buffer.from(line)), undefined, line);
    }
  });

  it("gives the same fields whichever way a line is read", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 80 });
    fc.assert(
      fc.property(text, text, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (eventType, note, seq) => {
        const body = `"event_type":${JSON.stringify(eventType)},"data":{"note":${JSON.stringify(note)}}`;
        const json = `{"event_id":"${ID}","timestamp":"${TS}",${body},"seq":${seq}}`;
        const view = parseLine(Buffer.from(json))!;
        assert.equal(view.seq, seq);
        assert.deepEqual(fieldsOf(view), { eventId: ID, timestamp: TS, eventType, json });
      }),
      { numRuns: 300 },
    );
  });

  it("names a recurring event type with one string, and tells apart types that share length and ends", () => {
    const line = Buffer.from("axb ayb axb");
    const first = eventTypeName(line, 0, 3);
    assert.equal(first, "axb");
    assert.equal(eventTypeName(line, 4, 7), "ayb");
    assert.equal(eventTypeName(line, 8, 11), "axb");
    assert.equal(eventTypeName(line, 0, 0), "");
  });
});
