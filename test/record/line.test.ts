import assert from "node:assert/strict";
import fc from "fast-check";
import { lineTextOf, parseRecordText } from "../../src/record/line.js";

/** JSON text as Python's json.dumps writes it by default: NaN, Infinity and -Infinity as bare tokens. */
function pythonDumps(value: unknown): string {
  if (typeof value === "number") return Number.isNaN(value) ? "NaN" : value === Infinity ? "Infinity" : value === -Infinity ? "-Infinity" : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonDumps).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pythonDumps(v)}`)
      .join(", ")}}`;
  }
  return JSON.stringify(value);
}

const leaf = fc.oneof(fc.double().map((d) => (d === 0 ? 0 : d)) /* JSON has no -0 */, fc.constantFrom(Number.NaN, Infinity, -Infinity), fc.string(), fc.constantFrom("NaN", "-Infinity", '"NaN"', "\\"), fc.boolean(), fc.constant(null));
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("node")), fc.dictionary(fc.string(), tie("node"), { noNullPrototype: true })),
})).node;

describe("record lines", () => {
  it("reads what Python's json.dumps wrote, non-finite numbers included, and says whether it held any", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), value, { noNullPrototype: true }), (record) => {
        const parsed = parseRecordText(pythonDumps(record));
        assert.ok(parsed.ok);
        assert.deepEqual(parsed.value, record);
        const hasNonFinite = JSON.stringify(record, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? "\u0000" : v)).includes("\\u0000");
        assert.equal(parsed.nonFinite, hasNonFinite);
      }),
    );
  });

  it("refuses text that is not a JSON object, naming why", () => {
    for (const text of ["", "[1]", "42", "{", '{"a": nan}', '{"a": NaNa}', "{not json}"]) {
      const parsed = parseRecordText(text);
      assert.equal(parsed.ok, false, text);
      if (!parsed.ok) assert.ok(parsed.reason.length > 0);
    }
  });

  it("drops a leading byte order mark and a CRLF's carriage return, nothing else", () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    assert.equal(lineTextOf(Buffer.concat([bom, Buffer.from('{"a":1}\r')])).toString(), '{"a":1}');
    assert.equal(lineTextOf(Buffer.from('{"a":"\r"}')).toString(), '{"a":"\r"}');
    assert.equal(lineTextOf(Buffer.from(" {}")).toString(), " {}");
  });
});
