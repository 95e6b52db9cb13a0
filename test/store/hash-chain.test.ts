import { strict as assert } from "node:assert";
import { ChainSealer, chainHash, sealRecordInPlace, splitHashedLine } from "../../src/store/hash-chain.js";
import { HASH_TRAILER_BYTES, writeHashClose } from "../../src/record/hash-trailer.mjs";
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

describe("sealRecordInPlace", () => {
  it("hashes each record where it lies after the digits before it, ends the line before it, and leaves nothing past its own digits", () => {
    const out = Buffer.alloc(4096, 0xff);
    const given = chainHash("", Buffer.from("before"));
    // The given hash's digits first, then each record written right after the last digits.
    out.write(given, 0, "latin1");
    let used = given.length;
    let tip = given;
    for (let seq = 8; seq <= 12; seq++) {
      const at = used;
      const end = at + out.write(`{"event_id":"e${seq}","event_type":"t","data":{"note":"é"},"seq":${seq}`, at);
      const closePrevious = seq > 8;
      tip = sealRecordInPlace(out, at, end, true, closePrevious);
      used = end + (closePrevious ? 3 : 0) + HASH_TRAILER_BYTES - 2;
      assert.equal(out[used], 0xff, "nothing written past the record's digits");
    }
    writeHashClose(out, used);
    assert.equal(checkChain(out.subarray(given.length, used + 3), given, 5), tip);
  });

  it("starts the chain with a record hashed alone", () => {
    const out = Buffer.alloc(256, 0xff);
    const end = out.write('{"event_id":"e1","seq":1', 0);
    const tip = sealRecordInPlace(out, 0, end, false, false);
    const used = end + HASH_TRAILER_BYTES - 2;
    writeHashClose(out, used);
    assert.equal(checkChain(out.subarray(0, used + 3), "", 1), tip);
  });
});
