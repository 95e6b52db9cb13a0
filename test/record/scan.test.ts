import assert from "node:assert/strict";
import { recordHead, recordPrefix, RECORD_END, unsequencedRecord } from "../../src/record/layout.js";
import { runMember } from "../../src/record/body.js";
import { opensAsRecord, ScannedRecord, scanHead, scanRecord } from "../../src/record/scan.js";

const ID = "3f1c2a9e-5b7d-4c1e-9a2b-0d6e8f4a1c3b";
const TS = "2026-11-24T19:05:53.700123+00:00";
const line = (body: string, seq: number, trailer = "") => `${recordPrefix(ID, recordHead(TS), body, seq)}${trailer}${RECORD_END.slice(0, -1)}`;

describe("scanning a line by position", () => {
  it("fills the result its caller owns: two results hold two lines at once", () => {
    const a = Buffer.from(`xx${line(`"event_type":"t","data":{}${runMember("exp-1")}`, 41)}`);
    const b = Buffer.from(line(`"event_type":"u","data":{"run":"no"}`, 7, `,"hash":"${"a".repeat(64)}"`));
    const first = new ScannedRecord();
    const second = new ScannedRecord();
    assert.ok(scanRecord(a, 2, a.length, first));
    assert.ok(scanRecord(b, 0, b.length, second));
    assert.deepEqual([first.seq, first.eventId(a), first.timestamp(a), first.run(a), a.toString("latin1", first.typeStart, first.typeEnd)], [41, ID, TS, "exp-1", "t"]);
    assert.deepEqual([second.seq, second.eventId(b), second.run(b), b.toString("latin1", second.typeStart, second.typeEnd)], [7, ID, undefined, "u"]);
  });

  it("leaves lines of any other layout to the parser", () => {
    const scan = new ScannedRecord();
    for (const text of [
      `{"event_id": "${ID}", "timestamp": "${TS}", "event_type": "t", "data": {}}`,
      line(`"event_type":"a\\"b","data":{}`, 1),
      line(`"event_type":"t","data":{}`, 1).replace(',"seq":1', ',"seq":1,"other":2'),
      line(`"event_type":"t","data":{}`, 1).slice(0, -1),
    ]) {
      assert.equal(scanRecord(Buffer.from(text), 0, Buffer.byteLength(text), scan), false, text);
    }
  });

  it("reads the identity of a record stored without seq, and tells how a line of ours opens", () => {
    const stored = Buffer.from(unsequencedRecord(ID, TS, `"event_type":"old","data":{"n":1}`));
    const scan = new ScannedRecord();
    assert.equal(scanRecord(stored, 0, stored.length, scan), false);
    assert.ok(scanHead(stored, 0, stored.length, scan));
    assert.deepEqual([scan.eventId(stored), scan.timestamp(stored), stored.toString("utf8", scan.typeStart, scan.typeEnd)], [ID, TS, "old"]);
    assert.ok(opensAsRecord(stored, 0));
    assert.equal(opensAsRecord(Buffer.from('{"event_id": "x"}'), 0), false);
  });
});
