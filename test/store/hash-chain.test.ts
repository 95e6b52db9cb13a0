import { strict as assert } from "node:assert";
import { ChainSealer, chainHash, sealRecordAt, splitHashedLine } from "../../src/store/hash-chain.js";
import { HASH_OPEN_BYTES, HASH_TRAILER_BYTES } from "../../src/record/hash-trailer.mjs";
import { RecordBuffer } from "../../src/store/record-buffer.js";

/** Prefixes of `n` records (with some non-ASCII text), each followed by "\n". */
function prefixes(n: number, from = 1): RecordBuffer {
  const records = new RecordBuffer(4096);
  for (let seq = from; seq < from + n; seq++) records.write(`{"event_id":"id-${seq}","event_type":"t","data":{"note":"é ${"x".repeat(seq % 50)}"},"seq":${seq}\n`);
  return records;
}

/** Checks every line of `lines` against the chain from `tip`; returns the last hash. */
function checkChain(lines: Buffer, tip: string, count: number): string {
  const parts = lines.toString("utf8").split("\n");
  assert.equal(parts.pop(), "", "every line ends with a newline");
  assert.equal(parts.length, count);
  for (const line of parts) {
    const split = splitHashedLine(Buffer.from(line));
    assert.ok(split, `line has a hash trailer: ${line}`);
    tip = chainHash(tip, split.prefix);
    assert.equal(split.hash, tip);
  }
  return tip;
}

describe("ChainSealer", () => {
  it("seals on the worker thread and on the main thread into the same chained lines", async () => {
    const onWorker = new ChainSealer(0);
    const onMain = new ChainSealer(Number.POSITIVE_INFINITY);
    try {
      const input = prefixes(500);
      const before = Buffer.from(input.bytes);
      const a = await onWorker.seal(input, "");
      const aLines = Buffer.from(a.lines);
      assert.ok(input.bytes.equals(before), "the prefixes' memory comes back from the worker as it was lent");
      const b = await onMain.seal(prefixes(500), "");
      assert.ok(aLines.equals(b.lines), "both threads write the same bytes");
      assert.equal(a.tip, b.tip);
      assert.equal(checkChain(aLines, "", 500), a.tip);
      // The next commit continues the chain from the tip it is given.
      const c = await onWorker.seal(prefixes(10, 501), a.tip);
      assert.equal(checkChain(Buffer.from(c.lines), a.tip, 10), c.tip);
    } finally {
      await onWorker.close();
      await onMain.close();
    }
  });

  it("grows its output for a commit larger than its buffer", async () => {
    const sealer = new ChainSealer(0);
    try {
      const input = prefixes(20_000); // about 2.6 MB of lines, over the 1 MiB start
      const sealed = await sealer.seal(input, "");
      assert.ok(sealed.lines.length > 1024 * 1024);
      checkChain(Buffer.from(sealed.lines), "", 20_000);
    } finally {
      await sealer.close();
    }
  });

  it("starts a new worker after the last one was stopped", async () => {
    const sealer = new ChainSealer(0);
    const first = await sealer.seal(prefixes(3), "");
    await sealer.close();
    const again = await sealer.seal(prefixes(3), "");
    assert.equal(again.tip, first.tip);
    await sealer.close();
  });
});

describe("sealRecordAt", () => {
  it("writes each record's trailer in place, chained on a given hash first and then on the digits it wrote before", () => {
    const out = Buffer.alloc(4096, 0xff);
    let used = 0;
    let tip = "";
    let tipAt = -1;
    const given = chainHash("", Buffer.from("before"));
    for (let seq = 8; seq <= 12; seq++) {
      const start = used;
      used += out.write(`{"event_id":"e${seq}","event_type":"t","data":{"note":"é"},"seq":${seq}`, used);
      tip = sealRecordAt(out, start, used, seq === 8 ? given : tip, tipAt);
      tipAt = used + HASH_OPEN_BYTES.length;
      used += HASH_TRAILER_BYTES + 1;
    }
    assert.equal(checkChain(out.subarray(0, used), given, 5), tip);
    assert.equal(out[used], 0xff, "nothing written past the newline");
  });
});
