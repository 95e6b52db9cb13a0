import assert from "node:assert/strict";
import { chainHash } from "../../../src/store/hash-chain.js";
import { verifyRecords } from "../../../src/store/file/verify.js";

/** Hash-chained lines for seqs first..first+count-1, chained from `previous`. */
function chained(first: number, count: number, previous = "", tag = "e"): string[] {
  const lines: string[] = [];
  for (let seq = first; seq < first + count; seq++) {
    const prefix = `{"event_id":"${tag}${seq}","timestamp":"2026-12-07T12:00:00.000000+00:00","event_type":"t","data":{"n":${seq}},"seq":${seq}`;
    previous = chainHash(previous, Buffer.from(prefix));
    lines.push(`${prefix},"hash":"${previous}"}`);
  }
  return lines;
}

async function* each(lines: readonly string[]): AsyncGenerator<string> {
  yield* lines;
}

describe("verifying records a server returns", () => {
  it("says intact over a chain from seq 1, with the last hash", async () => {
    const lines = chained(1, 5);
    const report = await verifyRecords(each(lines), "server a:1");
    assert.equal(report.ok, true);
    assert.deepEqual([report.records, report.hashedRecords, report.firstSeq, report.lastSeq], [5, 5, 1, 5]);
    assert.equal(report.lastHash, /"hash":"([0-9a-f]{64})"/.exec(lines[4])![1]);
  });

  it("names the record where another history's record stands (same seq, other content): the chain breaks there", async () => {
    const lines = chained(1, 5);
    // Seq 3 from another history: a record that chains on seq 2 (it passes), but seq 4 chains on the original seq 3.
    lines[2] = chained(3, 1, /"hash":"([0-9a-f]{64})"/.exec(lines[1])![1], "other-")[0];
    const report = await verifyRecords(each(lines), "server a:1");
    assert.equal(report.ok, false);
    assert.deepEqual(report.broken, { file: "server a:1", line: 4, seq: 4, expectedSeq: 4, reason: "hash does not match the record and the previous hash (edited, inserted or moved)" });
  });

  it("names a seq served twice or missing", async () => {
    const lines = chained(1, 4);
    const twice = await verifyRecords(each([...lines.slice(0, 3), lines[2]]), "s");
    assert.match(twice.broken!.reason, /seq 3 does not increase/);
    const missing = await verifyRecords(each([lines[0], lines[2]]), "s");
    assert.match(missing.broken!.reason, /seq jumps from 1 to 3/);
  });
});
