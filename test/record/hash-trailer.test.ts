import assert from "node:assert/strict";
import fc from "fast-check";
import { HASH_OPEN, HASH_TRAILER_BYTES, hashTrailerLine, splitHashedLine } from "../../src/record/hash-trailer.mjs";
import { HASH_OPEN as LAYOUT_HASH_OPEN } from "../../src/record/layout.js";

// The trailer's grammar written as a pattern, to check the byte reader against.
const TRAILER = /,"hash":"([0-9a-f]{64})"\}$/;

describe("the hash trailer", () => {
  it("is one definition, shared by the layout", () => {
    assert.equal(LAYOUT_HASH_OPEN, HASH_OPEN);
    assert.equal(HASH_TRAILER_BYTES, `,"hash":"${"0".repeat(64)}"}`.length);
  });

  it("is written and split back: the prefix up to seq and the hash", () => {
    const hex = "0123456789abcdef".repeat(4);
    const line = `{"event_id":"x","seq":41${hashTrailerLine(hex)}`;
    assert.ok(line.endsWith('"}\n'));
    const split = splitHashedLine(Buffer.from(line.slice(0, -1)));
    assert.deepEqual(split && [split.prefix.toString(), split.hash], ['{"event_id":"x","seq":41', hex]);
  });

  it("splits exactly the lines whose end matches the trailer's grammar", () => {
    const hexChar = fc.constantFrom(..."0123456789abcdefABCDEFg");
    const tail = fc.oneof(
      fc.array(hexChar, { minLength: 62, maxLength: 66 }).map((h) => `,"hash":"${h.join("")}"}`),
      fc.string({ maxLength: 80 }),
      fc.constantFrom(`,"hash":"${"a".repeat(64)}"} `, `,"hash":"${"a".repeat(64)}}`, `,"hash":"${"a".repeat(64)}"}`),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), tail, (prefix, end) => {
        const line = Buffer.from(prefix + end, "latin1");
        const m = TRAILER.exec(line.toString("latin1"));
        const split = splitHashedLine(line);
        if (m === null) return assert.equal(split, undefined);
        assert.deepEqual(split && [split.hash, split.prefix.length], [m[1], line.length - HASH_TRAILER_BYTES]);
      }),
      { seed: 20261207, numRuns: 2000 },
    );
  });
});
