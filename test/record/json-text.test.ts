import assert from "node:assert/strict";
import fc from "fast-check";
import { escapeExtraBytes, jsonLine, jsonNumber, jsonString, NUMBER_BYTES_MAX, writeEscapedUtf8, writeFiniteNumber } from "../../src/record/json-text.js";

const property = { seed: 20261207, numRuns: 500 };

describe("the JSON text writer", () => {
  it("writes line breaks escaped where JSON.stringify leaves them", () => {
    assert.equal(jsonLine({ a: "x\u2028y\u2029z\u0085" }), '{"a":"x\\u2028y\\u2029z\\u0085"}');
    assert.equal(jsonLine(undefined), "null");
  });

  it("writes strings as jsonLine does, as text and as bytes", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom("\u2028", "\u0085", '"', "\\", "\u007f", "\u0000\b\t\n\f\r")), (text) => {
        const expected = jsonLine(text);
        assert.equal(jsonString(text), expected);
        const src = Buffer.from(text, "utf8");
        let extra = 0;
        for (const b of src) if (b < 0x80) extra += escapeExtraBytes(b);
        const out = Buffer.alloc(src.length * 6 + 2);
        const end = writeEscapedUtf8(src, 0, src.length, out, 0);
        assert.equal(`"${out.toString("utf8", 0, end)}"`, expected);
        // The ASCII escapes' extra bytes, plus 4 for U+0085 and 3 for U+2028/9 (what a transcoder adds itself).
        const lineBreaks = (text.match(/\u0085/g)?.length ?? 0) * 4 + (text.match(/[\u2028\u2029]/g)?.length ?? 0) * 3;
        assert.equal(end, src.length + extra + lineBreaks);
      }),
      property,
    );
  });

  it("writes finite numbers as JSON.stringify does, as text and as bytes", () => {
    const numbers = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constantFrom(-0, 0.1, -0.000001, 1e-7, 1e21, 5e-324, 2 ** 31, -(2 ** 31), 123456.789012, 2 ** 53));
    fc.assert(
      fc.property(numbers, (n) => {
        const out = Buffer.alloc(NUMBER_BYTES_MAX + 4);
        const end = writeFiniteNumber(out, 2, n);
        assert.equal(out.toString("latin1", 2, end), JSON.stringify(n));
        assert.equal(jsonNumber(n), JSON.stringify(n));
      }),
      property,
    );
  });
});
