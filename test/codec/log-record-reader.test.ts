import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { ReadEventsResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { decodeReadEventsResponse, readLogRecords } from "../../src/codec/log-record-reader.js";

/** protobuf-es's answer for these bytes: the message, or the error it throws. */
function reference(bytes: Uint8Array): { message: unknown } | { error: string } {
  try {
    return { message: fromBinary(ReadEventsResponseSchema, bytes) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function ours(bytes: Uint8Array): { message: unknown } | { error: string } {
  try {
    return { message: decodeReadEventsResponse(bytes) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const record = fc.record({
  seq: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  eventId: fc.oneof(fc.uuid(), fc.string()),
  timestamp: fc.string(),
  eventType: fc.oneof(fc.constantFrom("variable_weight_update", "rule_activation"), fc.string({ unit: "grapheme" })),
  json: fc.oneof(fc.json(), fc.string({ unit: "grapheme" })),
});

const encoded = (records: Array<Record<string, unknown>>) => toBinary(ReadEventsResponseSchema, create(ReadEventsResponseSchema, { records }));

describe("log-record-reader", () => {
  it("reads what the server writes by hand, as protobuf-es would", () => {
    const bytes = encoded([
      { seq: 1n, eventId: "2a0197a0-426e-458e-984e-8768f4428d07", timestamp: "2026-11-25T16:15:41.892181+00:00", eventType: "x", json: '{"a":"é ✓ 𝄞"}' },
      { seq: 2n, eventId: "", timestamp: "", eventType: "", json: "" },
    ]);
    const read = readLogRecords(bytes);
    assert.ok(read, "the plain shape is read by hand");
    assert.deepStrictEqual(read, fromBinary(ReadEventsResponseSchema, bytes));
  });

  it("refuses invalid UTF-8 with protobuf-es's error, and reads a genuine U+FFFD", () => {
    const invalid = [0xff, 0xe2, 0x82, 0x41];
    const bad = Uint8Array.from([0x0a, invalid.length + 2, 0x12, invalid.length, ...invalid]);
    assert.equal(readLogRecords(bad), undefined);
    assert.deepStrictEqual(ours(bad), reference(bad));
    assert.ok("error" in ours(bad));
    const replacement = encoded([{ json: "\uFFFD kept" }]);
    assert.deepStrictEqual(readLogRecords(replacement), fromBinary(ReadEventsResponseSchema, replacement));
  });

  it("decodes any ReadEventsResponse as protobuf-es does", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), (records) => {
        const bytes = encoded(records);
        assert.deepStrictEqual(ours(bytes), reference(bytes));
      }),
    );
  });

  it("gives the same message or the same error as protobuf-es for damaged, foreign or hand-made bytes", () => {
    const damaged = fc
      .tuple(fc.array(record, { minLength: 1, maxLength: 5 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat())
      .map(([records, at, byte, cut]) => {
        const bytes = Uint8Array.from(encoded(records));
        bytes[at % bytes.length] = byte;
        return bytes.subarray(0, bytes.length - (cut % 3));
      });
    // Invalid UTF-8, repeated and unknown fields, big varints: shapes a server never writes.
    const handMade = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }).map((body) => Uint8Array.from([0x0a, body.length, ...body]));
    fc.assert(
      fc.property(fc.oneof(damaged, handMade, fc.uint8Array({ maxLength: 80 })), (bytes) => {
        assert.deepStrictEqual(ours(bytes), reference(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it("leaves shapes it does not read by hand to protobuf-es", () => {
    const repeatedSeq = Uint8Array.from([0x0a, 4, 0x08, 1, 0x08, 2]);
    const unknownField = Uint8Array.from([0x0a, 2, 0x30, 1]);
    const hugeSeq = encoded([{ seq: 1n << 60n }]);
    for (const bytes of [repeatedSeq, unknownField, hugeSeq]) {
      assert.equal(readLogRecords(bytes), undefined);
      assert.deepStrictEqual(decodeReadEventsResponse(bytes), fromBinary(ReadEventsResponseSchema, bytes));
    }
  });
});
