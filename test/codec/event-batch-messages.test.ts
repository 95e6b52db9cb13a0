import assert from "node:assert/strict";
import { create, fromBinary, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { NullValue, StructSchema, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import {
  IngestEventsRequestSchema,
  LearningEventSchema,
  LogRuleActivationRequestSchema,
  LogVariableWeightChangeRequestSchema,
  type LearningEvent,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { readEventBatch, readPlainEvent, WIRE_FIELDS, type WireFixedEvent } from "../../src/codec/event-batch.js";

/** Seed of the property runs; PULSE_EVENT_BATCH_SEED replays a failure, PULSE_EVENT_BATCH_RUNS runs longer. */
const SEED = Number(process.env.PULSE_EVENT_BATCH_SEED ?? 20261130);
const RUNS = Number(process.env.PULSE_EVENT_BATCH_RUNS ?? 1000);

/** A varint's bytes. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** A length-delimited field: tag, length, bytes. */
function delimited(field: number, bytes: Uint8Array | number[]): number[] {
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
}

const SPECIAL = ["\u2028", "\u0085", "\u0000", "\n", '"', "\\", "é", "😀", "\ud800", "\x7f"];
const textArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("rule_007", "var_042", "fc-100001", "0b9a4f1e-3c2d-4e5f-8a7b-6c5d4e3f2a1b", "") },
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom(...SPECIAL)), { maxLength: 4 }).map((p) => p.join("")) },
  // Over 127 bytes: two-byte lengths.
  { weight: 1, arbitrary: fc.constantFrom("x".repeat(200), "é".repeat(70)) },
);
const numberArb = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(NaN, Infinity, -Infinity, -0, 5e-324, 1e21));
const jsonArb = fc.letrec<{ json: JsonValue }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", maxDepth: 3 },
    numberArb,
    textArb,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("json"), { maxLength: 3 }),
    fc.dictionary(textArb, tie("json"), { maxKeys: 3 }),
  ),
})).json;

/** A JSON value as a google.protobuf.Value. */
function valueOf(json: JsonValue): Value {
  if (json === null) return create(ValueSchema, { kind: { case: "nullValue", value: NullValue.NULL_VALUE } });
  if (typeof json === "number") return create(ValueSchema, { kind: { case: "numberValue", value: json } });
  if (typeof json === "string") return create(ValueSchema, { kind: { case: "stringValue", value: json } });
  if (typeof json === "boolean") return create(ValueSchema, { kind: { case: "boolValue", value: json } });
  if (Array.isArray(json)) return create(ValueSchema, { kind: { case: "listValue", value: { values: json.map(valueOf) } } });
  const fields: Record<string, Value> = {};
  for (const key of Object.keys(json)) fields[key] = valueOf(json[key]);
  return create(ValueSchema, { kind: { case: "structValue", value: { fields } } });
}

const outcomeArb = fc.option(
  fc.oneof(
    { weight: 6, arbitrary: fc.oneof(textArb, numberArb, fc.boolean(), fc.constant(null)).map(valueOf) },
    { weight: 2, arbitrary: jsonArb.map(valueOf) },
    // A Value with no kind set.
    { weight: 1, arbitrary: fc.constant(create(ValueSchema)) },
  ),
  { nil: undefined },
);

const ruleArb = fc.record(
  { ruleId: textArb, variableId: textArb, outcome: outcomeArb, forecastId: textArb, success: fc.boolean(), eventId: textArb },
  { requiredKeys: [] },
);
const weightArb = fc.record({ variable: textArb, oldWeight: numberArb, newWeight: numberArb, eventId: textArb }, { requiredKeys: [] });

/** Byte sequences that are not the plain encoding, spliced into an event's message: the reader must leave these to protobuf-es, or read them as it does. */
const oddFieldArb = fc.constantFrom(
  [(9 << 3) | 0, 1], // unknown varint field
  [...delimited(15, [1, 2, 3])], // unknown length-delimited field
  [(20 << 3) | 5, 0, 0, 0, 0], // unknown fixed32 field, two-byte tag
  [(5 << 3) | 0, 0x81, 0x00], // success as a two-byte varint
  [(5 << 3) | 0, 2], // success = 2
  [(5 << 3) | 0, 1], // success again (repeated scalar: the last wins)
  [...delimited(3, [(1 << 3) | 0, 2])], // outcome null_value = 2
  [...delimited(3, [(1 << 3) | 0, 0, (4 << 3) | 0, 1])], // outcome with two kinds
  [...delimited(3, [(2 << 3) | 1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, (1 << 3) | 0, 0])], // outcome number, then null
  [...delimited(3, [(3 << 3) | 2, 1, 0x61, (4 << 3) | 0, 1])], // outcome string, then bool
  [...delimited(3, [])], // an empty outcome (again: merged into the first)
  [...delimited(3, [(4 << 3) | 0, 0x80, 0x00])], // outcome bool as a two-byte varint
  [...delimited(3, [(2 << 3) | 1, 0, 0, 0])], // outcome number cut short
  [...delimited(3, [(3 << 3) | 2, 5, 0x61])], // outcome string longer than its Value
  [...delimited(1, [0xc3, 0xa9])], // rule_id / variable again, not ASCII
  [(1 << 3) | 2, 0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], // an 8-byte length varint
  [(2 << 3) | 1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f], // fixed64 field 2 (old_weight 1.0 / variable_id with the wrong wire type)
  [(6 << 3) | 2, 1], // event_id cut short
);

/** How an event's message bytes are changed before it is framed. */
const damageArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.record({ odd: oddFieldArb, at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ cut: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ flip: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.integer({ min: 0, max: 255 }) }) },
);

type Damage = { odd: readonly number[]; at: number } | { cut: number } | { flip: number; byte: number } | undefined;

/** Splices `odd` in at a field boundary of `bytes` near `at` (fields found by decoding tags; any boundary found keeps the rest intact). */
function spliceAtBoundary(bytes: Uint8Array, odd: readonly number[], at: number): Uint8Array {
  const boundaries = [0];
  let p = 0;
  try {
    while (p < bytes.length) {
      const tag = bytes[p++];
      const wire = tag & 7;
      if (wire === 0) while (bytes[p++] >= 0x80);
      else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else {
        let length = 0;
        let scale = 1;
        let b: number;
        do {
          b = bytes[p++];
          length += (b & 0x7f) * scale;
          scale *= 128;
        } while (b >= 0x80);
        p += length;
      }
      if (p <= bytes.length) boundaries.push(p);
    }
  } catch {
    // Boundaries found so far.
  }
  const cut = boundaries[Math.min(boundaries.length - 1, Math.floor(at * boundaries.length))];
  return new Uint8Array([...bytes.subarray(0, cut), ...odd, ...bytes.subarray(cut)]);
}

function damaged(bytes: Uint8Array, damage: Damage): Uint8Array {
  if (damage === undefined) return bytes;
  if ("odd" in damage) return spliceAtBoundary(bytes, damage.odd, damage.at);
  if ("cut" in damage) return bytes.subarray(0, Math.floor(bytes.length * damage.cut));
  if (bytes.length === 0) return bytes;
  const copy = bytes.slice();
  copy[Math.min(copy.length - 1, Math.floor(copy.length * damage.flip))] = damage.byte;
  return copy;
}

/** The event's run after it, as encoders write it, or nothing (most events): any text, so non-ASCII and damaged UTF-8 too. */
const runArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: textArb.map((t) => delimited(LearningEventSchema.field.run.number, new TextEncoder().encode(t))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map((b) => delimited(LearningEventSchema.field.run.number, b)) },
);

/** One LearningEvent's bytes: a rule activation or weight change, its message maybe damaged (the request's framing stays whole), maybe with its run. */
const eventBytesArb = fc.tuple(
  fc.oneof(
    { weight: 3, arbitrary: fc.tuple(ruleArb, damageArb).map(([value, damage]) => delimited(LearningEventSchema.field.ruleActivation.number, damaged(toBinary(LogRuleActivationRequestSchema, create(LogRuleActivationRequestSchema, value)), damage))) },
    { weight: 1, arbitrary: fc.tuple(weightArb, damageArb).map(([value, damage]) => delimited(LearningEventSchema.field.variableWeightChange.number, damaged(toBinary(LogVariableWeightChangeRequestSchema, create(LogVariableWeightChangeRequestSchema, value)), damage))) },
  ),
  runArb,
).map(([event, run]) => (run === undefined ? event : [...event, ...run]));

/** An IngestEventsRequest of such events. */
const requestArb = fc.array(eventBytesArb, { minLength: 1, maxLength: 4 }).map((events) => ({ bytes: new Uint8Array(events.flatMap((e) => delimited(IngestEventsRequestSchema.field.events.number, e))) }));

/**
 * An event read by hand, compared with protobuf-es's: the fields it left as
 * bytes (WIRE_FIELDS) are decoded from those bytes alone and must equal
 * protobuf-es's, then compared without them. When protobuf-es refuses the
 * event, one of those byte ranges must be refused too (the writer refuses it
 * then, before writing anything).
 */
function assertSameEvent(actual: LearningEvent, expected: LearningEvent | "throws"): void {
  const wire = (actual as WireFixedEvent)[WIRE_FIELDS];
  if (wire === undefined) {
    // Bytes protobuf-es refuses are never read by hand as a whole message.
    assert.notEqual(expected, "throws", "read by hand, refused by protobuf-es");
    assert.deepStrictEqual(actual, expected);
    return;
  }
  const schema = LearningEventSchema.oneofs[0].fields.find((f) => f.localName === actual.event.case)!.message!;
  const rangeFields = schema.fields.filter((f) => f.message?.typeName === ValueSchema.typeName || f.message?.typeName === StructSchema.typeName);
  const decoded: Array<[string, unknown]> = [];
  let refused = false;
  rangeFields.forEach((field, i) => {
    const start = wire.ranges[2 * i];
    if (start < 0) return;
    try {
      const message = fromBinary(field.message!, wire.bytes.subarray(start, wire.ranges[2 * i + 1]));
      decoded.push([field.localName, field.message!.typeName === StructSchema.typeName ? toJson(StructSchema, message as never) : message]);
    } catch {
      refused = true;
    }
  });
  if (expected === "throws") {
    assert.ok(refused, "read by hand, refused by protobuf-es, and its Struct and Value bytes decode");
    return;
  }
  // Bytes that do not decode alone but do within the event (protobuf-es reads a
  // Value past its declared end): the writer then takes protobuf-es's message.
  if (refused) return;
  const expectedValue = { ...(expected.event.value as Record<string, unknown>) };
  for (const [local, value] of decoded) {
    assert.deepStrictEqual(value, expectedValue[local], local);
    delete expectedValue[local];
  }
  const { [WIRE_FIELDS]: _, ...rest } = actual as WireFixedEvent;
  assert.deepStrictEqual({ ...rest, event: { ...rest.event } }, { ...expected, event: { case: expected.event.case, value: expectedValue } });
}

/** protobuf-es's LearningEvent, or that it throws. */
function reference(bytes: Uint8Array): LearningEvent | "throws" {
  try {
    return fromBinary(LearningEventSchema, bytes);
  } catch {
    return "throws";
  }
}

/** A rule activation as a LearningEvent's bytes. */
function ruleBytes(value: Parameters<typeof create<typeof LogRuleActivationRequestSchema>>[1]): Buffer {
  return Buffer.from(toBinary(LearningEventSchema, create(LearningEventSchema, { event: { case: "ruleActivation", value: create(LogRuleActivationRequestSchema, value) } })));
}

describe("Event batch reader: rule activations and weight changes read by hand", () => {
  it("reads each event as the very message protobuf-es decodes, or leaves it to protobuf-es (unknown fields, odd encodings, damaged bytes)", () => {
    let byHand = 0;
    let refused = 0;
    let events = 0;
    fc.assert(
      fc.property(eventBytesArb, (eventBytes) => {
        const bytes = Buffer.from(eventBytes);
        events++;
        const expected = reference(bytes);
        const actual = readPlainEvent(bytes, 0, bytes.length);
        if (expected === "throws") refused++;
        if (actual === undefined) return;
        byHand++;
        assertSameEvent(actual, expected);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    assert.ok(refused > RUNS / 50, `only ${refused} of ${events} events refused by protobuf-es`);
    assert.ok(byHand > events / 3, `only ${byHand} of ${events} events read by hand`);
  });

  it("reads a batch request of them as protobuf-es decodes it, or gives it up to protobuf-es (always when any event does not decode)", () => {
    let read = 0;
    fc.assert(
      fc.property(requestArb, ({ bytes }) => {
        let expected: { events: LearningEvent[] } | "throws";
        try {
          // From a Buffer, as the reader reads it: unknown fields kept as Buffers on both sides.
          expected = fromBinary(IngestEventsRequestSchema, Buffer.from(bytes));
        } catch {
          expected = "throws";
        }
        const actual = readEventBatch(IngestEventsRequestSchema, bytes) as { events: LearningEvent[] } | undefined;
        // Given up: the caller decodes it whole with protobuf-es.
        if (actual === undefined) return;
        if (expected === "throws") {
          // Read only when the trouble is in bytes left for the writer to transcode (it then refuses the request whole).
          const byEvent = actual.events.map((e) => {
            const bytesOf = (e as WireFixedEvent)[WIRE_FIELDS];
            return bytesOf === undefined ? e : reference(bytesOf.bytes.subarray(bytesOf.start, bytesOf.end));
          });
          assert.ok(byEvent.includes("throws"), "a request protobuf-es refuses was read by hand whole");
          return;
        }
        read++;
        assert.equal(actual.events.length, expected.events.length);
        actual.events.forEach((e, i) => assertSameEvent(e, expected.events[i]));
      }),
      { seed: SEED, numRuns: RUNS },
    );
    assert.ok(read > RUNS / 4, `only ${read} requests read by hand`);
  });

  it("reads the plain rule activations of every outcome kind by hand", () => {
    const outcomes: Array<Value | undefined> = [undefined, create(ValueSchema), valueOf(null), valueOf(0.25), valueOf(-0), valueOf(NaN), valueOf("fired"), valueOf(""), valueOf(true), valueOf(false)];
    for (const outcome of outcomes) {
      for (const value of [{ ruleId: "rule_001", variableId: "var_001", outcome, forecastId: "fc-1", success: false, eventId: "id" }, { outcome }]) {
        const bytes = ruleBytes(value);
        const actual = readPlainEvent(bytes, 0, bytes.length);
        assert.notEqual(actual, undefined, `outcome ${JSON.stringify(outcome?.kind)} not read by hand`);
        assert.deepStrictEqual(actual, fromBinary(LearningEventSchema, bytes));
      }
    }
  });

  it("gives protobuf-es's message for a rule activation with a field twice (the last scalar wins, outcomes merge)", () => {
    const string = [(3 << 3) | 2, 1, 0x61];
    const cases = [
      [...delimited(3, string), ...delimited(3, [])],
      [...delimited(3, string), ...delimited(3, [(4 << 3) | 0, 1])],
      [...delimited(1, [0x61]), ...delimited(1, [0x62])],
      [(5 << 3) | 0, 1, (5 << 3) | 0, 0],
      [...delimited(6, [0x61]), ...delimited(2, [0x62]), ...delimited(6, [0x63])],
    ];
    for (const rule of cases) {
      const bytes = Buffer.from(delimited(LearningEventSchema.field.ruleActivation.number, rule));
      const actual = readPlainEvent(bytes, 0, bytes.length);
      if (actual !== undefined) assert.deepStrictEqual(actual, fromBinary(LearningEventSchema, bytes), Buffer.from(rule).toString("hex"));
    }
  });

  it("leaves the bytes of object and list outcomes (and of strings that are not ASCII) for the writer to transcode", () => {
    for (const value of [{ outcome: valueOf({ delta: 0.1, applied: true }) }, { outcome: valueOf([1, "x"]) }, { outcome: valueOf("😀") }]) {
      const bytes = ruleBytes(value);
      const actual = readPlainEvent(bytes, 0, bytes.length);
      assert.ok(actual !== undefined && WIRE_FIELDS in actual, JSON.stringify(value));
      assert.equal((actual.event.value as { outcome?: Value }).outcome, undefined);
      assertSameEvent(actual, fromBinary(LearningEventSchema, bytes));
    }
  });

  it("leaves rule activations with other text that is not ASCII to protobuf-es", () => {
    for (const value of [{ ruleId: "é" }, { eventId: " " }]) {
      const bytes = ruleBytes(value);
      assert.equal(readPlainEvent(bytes, 0, bytes.length), undefined, JSON.stringify(value));
    }
  });
});
