import assert from "node:assert/strict";
import { create, fromBinary, toBinary, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { NullValue, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import {
  IngestEventsRequestSchema,
  LearningEventSchema,
  LogEventRequestSchema,
  LogRuleActivationRequestSchema,
  type LearningEvent,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { learningEvent, seededRandom } from "../../bench/drivers/fixtures.js";
import { systemClock } from "../../src/clock.js";
import { ByteSink } from "../../src/codec/byte-sink.js";
import { createStructTranscoder, type StructJsonText, type StructTranscoder } from "../../src/codec/struct-json.js";
import { ServiceError } from "../../src/errors.js";
import { EventWriter } from "../../src/events/event-writer.js";
import { defaultEventLimits, type EventLimits } from "../../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys, type PiiOptions } from "../../src/guard/pii.js";
import type { LogStore } from "../../src/store/store.js";

/** Seed of the property runs; PULSE_STRUCT_JSON_SEED replays a failure, PULSE_STRUCT_JSON_RUNS runs longer. */
const SEED = Number(process.env.PULSE_STRUCT_JSON_SEED ?? 20261203);
const RUNS = Number(process.env.PULSE_STRUCT_JSON_RUNS ?? 400);
const property = { seed: SEED, numRuns: RUNS };

// ---------------------------------------------------------------------------
// Wire helpers: enough protobuf to find fields and to write shapes protobuf-es never writes.

function varint(n: number, padding = 0): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  // Non-minimal encodings: the same number in more bytes, which decoders accept.
  for (let i = 0; i < padding; i++) {
    out.push(v | 0x80);
    v = 0;
  }
  out.push(v);
  return out;
}

const tagged = (field: number, wireType: number, padding = 0) => varint((field << 3) | wireType, padding);
const delimited = (field: number, bytes: readonly number[], padding = 0) => [...tagged(field, 2), ...varint(bytes.length, padding), ...bytes];
const utf8Bytes = (text: string) => [...Buffer.from(text, "utf8")];

/** The [start, end) of each length-delimited field of a message, by field number (last occurrence wins). */
function lengthDelimited(bytes: Uint8Array, start = 0, end = bytes.length): Map<number, [number, number]> {
  const fields = new Map<number, [number, number]>();
  let p = start;
  const read = () => {
    let v = 0;
    let shift = 0;
    let b: number;
    do {
      b = bytes[p++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (p < end) {
    const tag = read();
    const wireType = tag & 7;
    if (wireType === 0) read();
    else if (wireType === 1) p += 8;
    else if (wireType === 5) p += 4;
    else {
      const length = read();
      fields.set(tag >>> 3, [p, p + length]);
      p += length;
    }
  }
  return fields;
}

// ---------------------------------------------------------------------------
// Today's path, run for real: decode as the RPC adapter does, then EventWriter.prepare
// (validator, catalog, size, PII guard, jsonLine).

type Outcome = { body: string; redacted: string[] } | { code: number; message: string; violations: ReadonlyArray<{ field: string; description: string }> };

function errorOutcome(err: unknown): Outcome {
  if (!(err instanceof ServiceError)) throw new Error(`not a ServiceError: ${String(err)}`, { cause: err });
  return { code: err.code, message: err.message, violations: err.violations };
}

/** protobuf-es's decode with the RPC adapter's words for a refusal (src/rpc/grpc-adapter.ts, `decoded`). */
function decodeRequest<T extends DescMessage>(schema: T, bytes: Uint8Array) {
  try {
    return fromBinary(schema, bytes);
  } catch (err) {
    const message = err instanceof Error ? err.message : "";
    if (/recursion depth/.test(message)) throw ServiceError.invalid("request", "nested deeper than the 100 levels protobuf decoding allows");
    throw new ServiceError(status.INTERNAL, "request does not decode", { cause: err });
  }
}

interface Setup {
  limits: EventLimits;
  pii: PiiOptions;
}

function writerFor(setup: Setup): EventWriter {
  const store = { append: () => Promise.reject(new Error("not used")) } as unknown as LogStore;
  return new EventWriter(store, { limits: setup.limits, clock: systemClock, trustMetrics: () => Promise.reject(new Error("not used")) }, setup.limits, createPiiGuard(setup.pii));
}

/** Where the event sits: a unary request of its own, or event `index` of an IngestEvents batch. */
interface Shape {
  batch: boolean;
  index: number;
}

const generic = LearningEventSchema.field.generic.number;
const ruleActivation = LearningEventSchema.field.ruleActivation.number;

/** The request bytes carrying one event. */
function requestBytes(event: LearningEvent["event"], shape: Shape): Uint8Array {
  if (!shape.batch) return toBinary(event.case === "generic" ? LogEventRequestSchema : LogRuleActivationRequestSchema, event.value as never);
  return toBinary(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { events: [{ event }] }));
}

/** Today's outcome for the event in `bytes`. */
function reference(bytes: Uint8Array, kind: "generic" | "ruleActivation", shape: Shape, setup: Setup): Outcome {
  try {
    let event: LearningEvent["event"];
    if (shape.batch) event = decodeRequest(IngestEventsRequestSchema, bytes).events[0].event;
    else if (kind === "generic") event = { case: "generic", value: decodeRequest(LogEventRequestSchema, bytes) };
    else event = { case: "ruleActivation", value: decodeRequest(LogRuleActivationRequestSchema, bytes) };
    const prepared = writerFor(setup).prepare(event, shape.batch ? `events[${shape.index}]` : "");
    assert.ok(!(prepared instanceof Promise));
    return { body: prepared.body, redacted: [...prepared.redactedFields] };
  } catch (err) {
    return errorOutcome(err);
  }
}

// ---------------------------------------------------------------------------
// The same event through the transcoder, the way a hand-written wire reader would use it.

/** The event message's bytes inside the request, and where its fields sit. */
function eventMessage(bytes: Uint8Array, kind: "generic" | "ruleActivation", shape: Shape): { fields: Map<number, [number, number]>; messageDepth: number } {
  if (!shape.batch) return { fields: lengthDelimited(bytes), messageDepth: 2 };
  const [eventStart, eventEnd] = lengthDelimited(bytes).get(2)!;
  const [start, end] = lengthDelimited(bytes, eventStart, eventEnd).get(kind === "generic" ? generic : ruleActivation)!;
  // IngestEventsRequest (1) > LearningEvent (2) > the event (3) > its Struct or Value (4).
  return { fields: lengthDelimited(bytes, start, end), messageDepth: 4 };
}

/** Sizes and PII findings in today's order: unredacted size, then PII refusal, then redacted size. */
function finish(parts: { head: string; tail: string; results: Array<StructJsonText | undefined>; joiners: string[] }, redacted: string[], eventPath: string, limits: EventLimits): Outcome {
  const { head, tail, results, joiners } = parts;
  const size = (pick: (r: StructJsonText) => number) => Buffer.byteLength(head) + Buffer.byteLength(tail) + results.reduce((sum, r, i) => sum + (r === undefined ? 0 : Buffer.byteLength(joiners[i]) + pick(r)), 0);
  const refuse = (bytes: number) => {
    if (bytes > limits.recordBytesMax) throw ServiceError.invalid(eventPath || "event", `record of ${bytes} bytes is over the limit of ${limits.recordBytesMax} bytes`);
  };
  refuse(size((r) => r.unredactedBytes));
  for (const r of results) if (r?.piiError) throw r.piiError;
  if (redacted.length > 0) refuse(size((r) => r.bytes));
  for (const r of results) assert.ok(r === undefined || r.complete, "a record within the limit has every part written");
  return { body: head + results.map((r, i) => (r === undefined ? "" : joiners[i] + r.text)).join("") + tail, redacted };
}

const NO_DATA: StructJsonText = { text: "{}", bytes: 2, unredactedBytes: 2, complete: true, piiError: undefined };

/** A LogEvent (generic) through the transcoder; event_type is valid and event_id absent in these tests. */
function transcodedGeneric(tx: StructTranscoder, bytes: Uint8Array, shape: Shape, setup: Setup): Outcome {
  try {
    const { fields, messageDepth } = eventMessage(bytes, "generic", shape);
    const eventPath = shape.batch ? `events[${shape.index}]` : "";
    const fieldPath = (name: string) => (shape.batch ? `${eventPath}.generic.${name}` : name);
    const recordPath = (name: string) => (shape.batch ? `${eventPath}.${name}` : name);
    const [typeStart, typeEnd] = fields.get(1)!;
    const eventType = Buffer.from(bytes.subarray(typeStart, typeEnd)).toString("utf8");
    const redacted: string[] = [];
    const dataAt = fields.get(2);
    const contextAt = fields.get(3);
    let data = NO_DATA;
    if (dataAt) {
      try {
        data = tx.structText(bytes, dataAt[0], dataAt[1], { path: fieldPath("data"), recordPath: recordPath("data"), messageDepth }, redacted);
      } catch (err) {
        // A request that does not decode is refused whole, before any field is checked.
        if (contextAt && err instanceof ServiceError && err.code === status.INVALID_ARGUMENT) tx.assertDecodes(bytes, contextAt[0], contextAt[1], "struct", messageDepth);
        throw err;
      }
    }
    let context: StructJsonText | undefined;
    if (contextAt) context = tx.structText(bytes, contextAt[0], contextAt[1], { path: fieldPath("context"), recordPath: recordPath("context"), messageDepth }, redacted);
    // context is written only when it has keys.
    if (context?.complete && context.text === "{}") context = undefined;
    return finish({ head: `"event_type":${JSON.stringify(eventType)},"data":`, tail: "", results: [data, context], joiners: ["", `,"context":`] }, redacted, eventPath, setup.limits);
  } catch (err) {
    return errorOutcome(err);
  }
}

/** A RuleActivation through the transcoder (outcome is a Value); rule_id and variable_id hold nothing personal here. */
function transcodedRuleActivation(tx: StructTranscoder, bytes: Uint8Array, shape: Shape, setup: Setup): Outcome {
  try {
    const { fields, messageDepth } = eventMessage(bytes, "ruleActivation", shape);
    const eventPath = shape.batch ? `events[${shape.index}]` : "";
    const text = (n: number) => (fields.has(n) ? Buffer.from(bytes.subarray(...fields.get(n)!)).toString("utf8") : "");
    const redacted: string[] = [];
    const outcomeAt = fields.get(3);
    const place = { path: shape.batch ? `${eventPath}.rule_activation.outcome` : "outcome", recordPath: shape.batch ? `${eventPath}.data.outcome` : "data.outcome", messageDepth };
    const outcome: StructJsonText = outcomeAt
      ? tx.valueText(bytes, outcomeAt[0], outcomeAt[1], place, redacted)
      : { text: "null", bytes: 4, unredactedBytes: 4, complete: true, piiError: undefined };
    const head = `"event_type":"rule_activation","data":{"rule_id":${JSON.stringify(text(1))},"variable_id":${JSON.stringify(text(2))},"outcome":`;
    return finish({ head, tail: `,"forecast_id":null,"success":null}`, results: [outcome], joiners: [""] }, redacted, eventPath, setup.limits);
  } catch (err) {
    return errorOutcome(err);
  }
}

// ---------------------------------------------------------------------------
// Arbitrary JSON with the edges that matter.

/** Sets a key as JSON.parse does ("__proto__" an own key, not the prototype). */
function objectOf(entries: ReadonlyArray<readonly [string, JsonValue]>): JsonObject {
  const json: JsonObject = {};
  for (const [key, value] of entries) Object.defineProperty(json, key, { value, writable: true, enumerable: true, configurable: true });
  return json;
}

/** A JSON value as a google.protobuf.Value message (what a client builds for a Value field; NaN included). */
function valueOf(json: JsonValue): Value {
  if (json === null) return create(ValueSchema, { kind: { case: "nullValue", value: NullValue.NULL_VALUE } });
  if (typeof json === "number") return create(ValueSchema, { kind: { case: "numberValue", value: json } });
  if (typeof json === "string") return create(ValueSchema, { kind: { case: "stringValue", value: json } });
  if (typeof json === "boolean") return create(ValueSchema, { kind: { case: "boolValue", value: json } });
  if (Array.isArray(json)) return create(ValueSchema, { kind: { case: "listValue", value: { values: json.map(valueOf) } } });
  const fields: Record<string, Value> = {};
  for (const key of Object.keys(json)) Object.defineProperty(fields, key, { value: valueOf(json[key]), writable: true, enumerable: true, configurable: true });
  return create(ValueSchema, { kind: { case: "structValue", value: { fields } } });
}

const SPECIAL = ["\u2028", "\u2029", "\u0085", "\u0000", "\u001f", "\b", "\t", "\n", "\f", "\r", '"', "\\", "/", "\u007f", "\u0080", "\u009f", "é", "€", "😀", "\ud800", "\udfff", "\ufeff", "\uffff", "@", " ", "-"];
const CARDS = ["4222222222222", "4222 2222 2222 2", "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "4111111111111112", "79927398713", "1234567890123", "12 34 56 78 90 12 3"];
const textArb = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.string({ maxLength: 8 }) },
      { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
      { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) },
      { weight: 1, arbitrary: fc.emailAddress() },
      { weight: 1, arbitrary: fc.constantFrom(...CARDS) },
      { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{1,20}$/) },
    ),
    { maxLength: 5 },
  )
  .map((pieces) => pieces.join(""));

const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("a", "b", "score", "tags", "forecast_id", "variable") },
  { weight: 2, arbitrary: fc.constantFrom("email", "userEmail", "USER_EMAIL", "api_key", "apiKey", "token", "tokens_used", "Password", "session_id", "phone_number", "e-mail", "custom_key", "x-Custom-Key") },
  { weight: 2, arbitrary: fc.constantFrom("0", "1", "7", "10", "01", "-1", "1.5", "4294967294", "4294967295", "99999999999") },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "") },
  { weight: 2, arbitrary: textArb },
);

const numberArb = fc.oneof(
  { weight: 6, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 3, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.constantFrom(-0, 1e21, 1e-7, 5e-324, 2 ** 31, -(2 ** 31), 2 ** 53, 0.1, 123e-20, Number.MAX_VALUE, -Number.MIN_VALUE) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
);

const { json: jsonArb, object: objectArb } = fc.letrec<{ json: JsonValue; array: JsonValue[]; object: JsonObject }>((tie) => ({
  json: fc.oneof({ depthSize: "small", maxDepth: 6 }, numberArb, textArb, fc.boolean(), fc.constant(null), tie("array"), tie("object")),
  array: fc.array(tie("json"), { maxLength: 4 }),
  object: fc.array(fc.tuple(keyArb, tie("json")), { maxLength: 5 }).map(objectOf),
}));

/** Nesting past the depth limit (32) and past protobuf's 100 levels. */
const deepArb = fc.tuple(fc.integer({ min: 28, max: 60 }), fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }), jsonArb).map(([depth, lists, leaf]) => {
  let value: JsonValue = leaf;
  for (let i = 0; i < depth; i++) value = lists[i] ? [value] : objectOf([["k", value]]);
  return objectOf([["deep", value]]);
});

const setupArb: fc.Arbitrary<Setup> = fc.record({
  limits: fc.record({
    eventTypeCharsMax: fc.constant(128),
    batchEventsMax: fc.constant(10_000),
    nestingDepthMax: fc.constantFrom(1, 2, 3, 32),
    recordBytesMax: fc.constantFrom(48, 160, 600, 1024 * 1024),
  }),
  pii: fc.record({ mode: fc.constantFrom("off" as const, "redact" as const, "reject" as const), sensitiveKeys: fc.constantFrom(defaultSensitiveKeys, ["custom_key", "score"]) }),
});

const shapeArb: fc.Arbitrary<Shape> = fc.record({ batch: fc.boolean(), index: fc.nat(20) });

const transcoderFor = (setup: Setup) => createStructTranscoder({ limits: setup.limits, pii: setup.pii });

const defaults: Setup = { limits: defaultEventLimits, pii: { mode: "redact", sensitiveKeys: defaultSensitiveKeys } };

/** Transcodes a JSON object (encoded by protobuf-es as a LogEvent's data) with the given setup. */
function dataOf(json: JsonObject, setup: Setup = defaults, tx = transcoderFor(setup)): { outcome: Outcome; reference: Outcome; tx: StructTranscoder } {
  const bytes = requestBytes({ case: "generic", value: create(LogEventRequestSchema, { eventType: "t", data: json }) }, { batch: false, index: 0 });
  const shape = { batch: false, index: 0 };
  return { outcome: transcodedGeneric(tx, bytes, shape, setup), reference: reference(bytes, "generic", shape, setup), tx };
}

/** A LogEvent whose data is the given Struct bytes (written by hand), after a valid event_type. */
function rawData(structBytes: readonly number[]): Uint8Array {
  return Uint8Array.from([...delimited(1, utf8Bytes("t")), ...delimited(2, structBytes)]);
}

function rawOutcomes(structBytes: readonly number[], setup: Setup = defaults, tx = transcoderFor(setup)) {
  const bytes = rawData(structBytes);
  const shape = { batch: false, index: 0 };
  return { outcome: transcodedGeneric(tx, bytes, shape, setup), reference: reference(bytes, "generic", shape, setup), tx };
}

const entry = (key: readonly number[] | undefined, value: readonly number[] | undefined) => delimited(1, [...(key ? delimited(1, key) : []), ...(value ? delimited(2, value) : [])]);
const numberValue = (n: number) => [...tagged(2, 1), ...new Uint8Array(new Float64Array([n]).buffer)];
const stringValue = (bytes: readonly number[]) => delimited(3, bytes);
const structValue = (bytes: readonly number[]) => delimited(5, bytes);
const listValue = (items: ReadonlyArray<readonly number[]>) => delimited(6, items.flatMap((item) => delimited(1, item)));

function body(outcome: Outcome): string {
  assert.ok("body" in outcome, `expected a record, got ${JSON.stringify(outcome)}`);
  return outcome.body;
}

describe("Struct transcoder (wire bytes to JSON text)", () => {
  describe("writes what today's path writes", () => {
    it("numbers as JSON.stringify writes the decoded double", () => {
      const decimals = [0.1234, -0.5, 0.000001, -0.000001, 0.0000015, 999999999.999999, 999999999.5, 1e9 + 0.5, 0.1 + 0.2, 123456.789, 0.0012, 10.25];
      for (const n of [0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 1e21, 1e-7, 5e-324, 0.1, 1 / 3, -1.5e300, Number.MAX_SAFE_INTEGER + 2, Number.MAX_VALUE, 123456789012, ...decimals]) {
        const { outcome, reference: expected, tx } = dataOf(objectOf([["n", n]]));
        assert.deepEqual(outcome, expected);
        assert.equal(body(outcome), `"event_type":"t","data":{"n":${JSON.stringify(n)}}`);
        assert.deepEqual(tx.counts, { onePass: 1, reference: 0 }, `${n} took the one-pass walk`);
      }
    });

    it(`numbers: the text JSON.stringify writes, for any double and for short decimals (seed ${SEED}, ${RUNS * 5} runs)`, () => {
      const tx = transcoderFor({ limits: defaultEventLimits, pii: { mode: "off", sensitiveKeys: [] } });
      const decimal = fc.tuple(fc.integer({ min: -(10 ** 15), max: 10 ** 15 }), fc.integer({ min: 0, max: 8 })).map(([m, k]) => m / 10 ** k);
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), decimal, fc.integer()), { minLength: 1, maxLength: 20 }), (numbers) => {
          const bytes = toBinary(LogEventRequestSchema, create(LogEventRequestSchema, { data: { n: numbers } }));
          const [start, end] = lengthDelimited(bytes).get(2)!;
          assert.equal(tx.structText(bytes, start, end, { path: "data", recordPath: "data", messageDepth: 2 }, []).text, JSON.stringify({ n: numbers }));
        }),
        { ...property, numRuns: RUNS * 5 },
      );
      assert.equal(tx.counts.reference, 0);
    });

    it("strings escaped as jsonLine escapes them: control characters, quote, backslash, U+2028, U+2029, U+0085", () => {
      const text = 'a"b\\c\u0000\u0001\b\t\n\f\r\u001f\u007f\u0080\u0085\u009f\u2028\u2029\u2027é😀\ufeff/';
      const { outcome, reference: expected, tx } = dataOf(objectOf([[text, text]]));
      assert.deepEqual(outcome, expected);
      assert.match(body(outcome), /\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\u007f\u0080\\u0085\u009f\\u2028\\u2029\u2027é😀\ufeff\//);
      assert.deepEqual(tx.counts, { onePass: 1, reference: 0 });
    });

    it("lone surrogates the client's encoder replaced (U+FFFD) come through as they decode", () => {
      const { outcome, reference: expected } = dataOf(objectOf([["\ud800x", "y\udfff"]]));
      assert.deepEqual(outcome, expected);
      assert.equal(body(outcome), `"event_type":"t","data":{"\ufffdx":"y\ufffd"}`);
    });

    it("nested lists and objects, empty ones, null, booleans", () => {
      const json = JSON.parse('{"a":[1,[2,{"z":null}],true,false,null,[]],"b":{},"c":{"d":{"e":"f"}}}') as JsonObject;
      const { outcome, reference: expected, tx } = dataOf(json);
      assert.deepEqual(outcome, expected);
      assert.equal(body(outcome), `"event_type":"t","data":${JSON.stringify(json)}`);
      assert.deepEqual(tx.counts, { onePass: 1, reference: 0 });
    });

    it("keys in the order a decoded object lists them: array indexes first, ascending (the reference path)", () => {
      const json = JSON.parse('{"b":1,"10":2,"a":3,"2":4,"4294967295":5,"4294967294":6,"01":7}') as JsonObject;
      const { outcome, reference: expected, tx } = dataOf(json);
      assert.deepEqual(outcome, expected);
      assert.equal(body(outcome), `"event_type":"t","data":{"2":4,"10":2,"4294967294":6,"b":1,"a":3,"4294967295":5,"01":7}`);
      assert.deepEqual(tx.counts, { onePass: 0, reference: 1 });
      // An encoder may write an array index after other keys (protobuf-es does not): the text still lists it first.
      for (const index of ["0", "7", "4294967294"]) {
        const one = rawOutcomes([...entry(utf8Bytes("b"), numberValue(1)), ...entry(utf8Bytes(index), numberValue(2))]);
        assert.deepEqual(one.outcome, one.reference);
        assert.equal(body(one.outcome), `"event_type":"t","data":{"${index}":2,"b":1}`);
      }
      // Keys that only look like numbers keep the wire order in one pass.
      const plain = dataOf(JSON.parse('{"b":1,"01":2,"-1":3,"1.5":4,"4294967295":5}') as JsonObject);
      assert.deepEqual(plain.outcome, plain.reference);
      assert.deepEqual(plain.tx.counts, { onePass: 1, reference: 0 });
    });

    it('"__proto__" as a key like any other', () => {
      const { outcome, reference: expected, tx } = dataOf(JSON.parse('{"a":1,"__proto__":{"z":1},"b":2}') as JsonObject);
      assert.deepEqual(outcome, expected);
      assert.equal(body(outcome), `"event_type":"t","data":{"a":1,"__proto__":{"z":1},"b":2}`);
      assert.deepEqual(tx.counts, { onePass: 1, reference: 0 });
    });

    it("duplicate keys on the wire: the first one's place, the last one's value, as protobuf-es decodes them", () => {
      const struct = [...entry(utf8Bytes("a"), numberValue(1)), ...entry(utf8Bytes("b"), numberValue(2)), ...entry(utf8Bytes("a"), stringValue(utf8Bytes("last")))];
      const { outcome, reference: expected } = rawOutcomes(struct);
      assert.deepEqual(outcome, expected);
      assert.equal(body(outcome), `"event_type":"t","data":{"a":"last","b":2}`);
      // A value refused by validation but overwritten later on the wire is never checked.
      const overwritten = rawOutcomes([...entry(utf8Bytes("a"), numberValue(NaN)), ...entry(utf8Bytes("a"), numberValue(1))]);
      assert.deepEqual(overwritten.outcome, overwritten.reference);
      assert.equal(body(overwritten.outcome), `"event_type":"t","data":{"a":1}`);
    });

    it("unknown fields are skipped, entries without key or value and Values without a field decode as protobuf-es decodes them", () => {
      const cases: number[][] = [
        [...tagged(9, 0), 5, ...entry(utf8Bytes("a"), numberValue(1))], // unknown varint field in the Struct
        entry(utf8Bytes("a"), [...tagged(7, 5), 1, 2, 3, 4, ...numberValue(2)]), // unknown fixed32 in a Value
        entry(utf8Bytes("a"), [...numberValue(1), ...tagged(12, 1), 1, 2, 3, 4, 5, 6, 7, 8]), // unknown fixed64 after the kind
        entry(utf8Bytes("a"), structValue([...delimited(15, [1, 2]), ...entry(utf8Bytes("b"), [])])), // unknown length-delimited field
        entry(utf8Bytes("a"), [...listValue([[], numberValue(3)]), ...tagged(9, 3), ...tagged(1, 0), 1, ...tagged(9, 4)]), // a group after the kind
        entry(undefined, numberValue(1)), // no key: ""
        entry(utf8Bytes("k"), undefined), // no value: null
        delimited(1, [...delimited(2, numberValue(1)), ...delimited(1, utf8Bytes("late"))]), // value before key
        delimited(1, [...delimited(1, utf8Bytes("a")), ...delimited(2, numberValue(1)), ...delimited(1, utf8Bytes("b"))]), // a second key after the value: the last key wins
        delimited(1, [...delimited(1, utf8Bytes("a")), ...delimited(2, numberValue(1)), ...tagged(3, 0), 1]), // an unknown field after the value
        entry(utf8Bytes("n"), [...tagged(1, 0), 0x80, 0x01]), // null_value 128 (any enum number is null)
        entry(utf8Bytes("t"), [...tagged(4, 0), 0x02]), // bool 2 is true
        entry(utf8Bytes("t"), [...tagged(4, 0), 0x80, 0x00]), // bool in two bytes
        delimited(1, [...delimited(1, utf8Bytes("p"), 2), ...delimited(2, numberValue(4), 1)]), // non-minimal lengths
        [...tagged(1, 2, 1), ...varint(entry(utf8Bytes("m"), numberValue(5)).length - 2), ...entry(utf8Bytes("m"), numberValue(5)).slice(2)], // non-minimal tag
      ];
      for (const struct of cases) {
        const { outcome, reference: expected } = rawOutcomes(struct);
        assert.deepEqual(outcome, expected, Buffer.from(struct).toString("hex"));
        body(outcome);
      }
    });

    it("a Value with several fields: the last kind wins, structs merge, lists append (protobuf's merge)", () => {
      const cases: number[][] = [
        entry(utf8Bytes("a"), [...numberValue(1), ...stringValue(utf8Bytes("s"))]),
        entry(utf8Bytes("a"), [...structValue(entry(utf8Bytes("x"), numberValue(1))), ...structValue(entry(utf8Bytes("y"), numberValue(2)))]),
        entry(utf8Bytes("a"), [...listValue([numberValue(1)]), ...listValue([numberValue(2)])]),
        entry(utf8Bytes("a"), [...listValue([numberValue(1)]), ...numberValue(2), ...listValue([numberValue(3)])]),
        // Two value fields in one map entry merge too.
        delimited(1, [...delimited(1, utf8Bytes("a")), ...delimited(2, structValue(entry(utf8Bytes("x"), numberValue(1)))), ...delimited(2, structValue(entry(utf8Bytes("y"), numberValue(2))))]),
      ];
      const bodies = cases.map((struct) => {
        const { outcome, reference: expected } = rawOutcomes(struct);
        assert.deepEqual(outcome, expected);
        return body(outcome);
      });
      assert.deepEqual(bodies.map((b) => b.slice(`"event_type":"t","data":`.length)), [`{"a":"s"}`, `{"a":{"x":1,"y":2}}`, `{"a":[1,2]}`, `{"a":[3]}`, `{"a":{"x":1,"y":2}}`]);
    });

    it("the seed's LogEvent data and context take the one-pass walk and match", () => {
      const random = seededRandom(7);
      const tx = transcoderFor(defaults);
      for (let i = 0; i < 200; i++) {
        const event = learningEvent("generic", i, random).event;
        for (const shape of [{ batch: false, index: 0 }, { batch: true, index: i }]) {
          const bytes = requestBytes(event, shape);
          assert.deepEqual(transcodedGeneric(tx, bytes, shape, defaults), reference(bytes, "generic", shape, defaults));
        }
      }
      assert.deepEqual(tx.counts, { onePass: 800, reference: 0 });
    });
  });

  describe("refuses what today's path refuses, with the same error", () => {
    const refusal = (outcome: Outcome) => {
      assert.ok("code" in outcome, `expected a refusal, got ${JSON.stringify(outcome)}`);
      return outcome;
    };

    it("NaN and Infinity, naming the field under its request path", () => {
      for (const n of [NaN, Infinity, -Infinity]) {
        const { outcome, reference: expected } = dataOf(objectOf([["a", objectOf([["b", [1, n]]])]]));
        assert.deepEqual(outcome, expected);
        assert.deepEqual(refusal(outcome), { code: status.INVALID_ARGUMENT, message: `data.a.b[1]: ${n} is not a finite number (JSON cannot hold NaN or Infinity)`, violations: [{ field: "data.a.b[1]", description: `${n} is not a finite number (JSON cannot hold NaN or Infinity)` }] });
      }
      const shape = { batch: true, index: 3 };
      const bytes = requestBytes({ case: "generic", value: create(LogEventRequestSchema, { eventType: "t", data: { x: NaN } }) }, shape);
      const outcome = transcodedGeneric(transcoderFor(defaults), bytes, shape, defaults);
      assert.deepEqual(outcome, reference(bytes, "generic", shape, defaults));
      assert.equal(refusal(outcome).message, "events[3].generic.data.x: NaN is not a finite number (JSON cannot hold NaN or Infinity)");
    });

    it("nesting past the limit, and past protobuf's 100 levels (a decode refusal of the whole request)", () => {
      let json: JsonValue = 1;
      for (let i = 0; i < 33; i++) json = { k: json };
      const tooDeep = dataOf(json as JsonObject);
      assert.deepEqual(tooDeep.outcome, tooDeep.reference);
      assert.match(refusal(tooDeep.outcome).message, /^data(\.k){32}: nested deeper than 32 levels$/);
      for (let i = 0; i < 20; i++) json = [json];
      const undecodable = dataOf(objectOf([["k", json]]));
      assert.deepEqual(undecodable.outcome, undecodable.reference);
      assert.deepEqual(refusal(undecodable.outcome).violations, [{ field: "request", description: "nested deeper than the 100 levels protobuf decoding allows" }]);
    });

    it("invalid UTF-8 in a key or a string: protobuf-es decodes proto3 strings strictly, so the request does not decode", () => {
      for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x61, 0x80]]) {
        for (const struct of [entry(bad, numberValue(1)), entry(utf8Bytes("a"), stringValue(bad))]) {
          const { outcome, reference: expected } = rawOutcomes(struct);
          assert.deepEqual(outcome, expected);
          assert.deepEqual(refusal(outcome), { code: status.INTERNAL, message: "request does not decode", violations: [] });
        }
      }
    });

    it("a request that does not decode is refused whole, even when an earlier field has a validation error", () => {
      const data = entry(utf8Bytes("a"), numberValue(NaN));
      const context = entry([0xff], numberValue(1));
      const bytes = Uint8Array.from([...delimited(1, utf8Bytes("t")), ...delimited(2, data), ...delimited(3, context)]);
      const shape = { batch: false, index: 0 };
      const outcome = transcodedGeneric(transcoderFor(defaults), bytes, shape, defaults);
      assert.deepEqual(outcome, reference(bytes, "generic", shape, defaults));
      assert.deepEqual(outcome, { code: status.INTERNAL, message: "request does not decode", violations: [] });
      // assertDecodes is what found it: the context alone.
      const tx = transcoderFor(defaults);
      const [start, end] = lengthDelimited(bytes).get(3)!;
      assert.throws(() => tx.assertDecodes(bytes, start, end, "struct", 2), (err: ServiceError) => err.code === status.INTERNAL);
      const [dataStart, dataEnd] = lengthDelimited(bytes).get(2)!;
      assert.doesNotThrow(() => tx.assertDecodes(bytes, dataStart, dataEnd, "struct", 2));
    });

    it("malformed wire: truncated, overrunning, a bad tag", () => {
      const good = entry(utf8Bytes("a"), numberValue(1));
      for (const struct of [good.slice(0, -1), [0x0a, 0x7f, ...good.slice(2)], [0x00, ...good], [...good, 0x0a], entry(utf8Bytes("a"), [...tagged(2, 1), 1, 2])]) {
        const { outcome, reference: expected } = rawOutcomes(struct);
        assert.deepEqual(outcome, expected, Buffer.from(struct).toString("hex"));
        assert.equal(refusal(outcome).code, status.INTERNAL);
      }
    });

    it("a record over the size limit, counted before redaction and again after", () => {
      const limits = { ...defaultEventLimits, recordBytesMax: 60 };
      const setup = { limits, pii: { mode: "redact" as const, sensitiveKeys: defaultSensitiveKeys } };
      // `"event_type":"t","data":` is 24 bytes, the data 36: 60 bytes before redaction; "[REDACTED]" for 1 makes it 71.
      const grows = dataOf(objectOf([["token", 1], ["pad", "x".repeat(16)]]), setup);
      assert.deepEqual(grows.outcome, grows.reference);
      assert.equal(refusal(grows.outcome).message, "event: record of 71 bytes is over the limit of 60 bytes");
      // Over before redaction: refused with the unredacted size, though redacted it would fit.
      const over = dataOf(objectOf([["email", "a".repeat(40)]]), setup);
      assert.deepEqual(over.outcome, over.reference);
      assert.equal(refusal(over.outcome).message, "event: record of 76 bytes is over the limit of 60 bytes");
      const fits = dataOf(objectOf([["pad", "x".repeat(26)]]), setup);
      assert.deepEqual(fits.outcome, fits.reference);
      assert.equal(Buffer.byteLength(body(fits.outcome)), 60);
    });

    it("the size bound stops writing: nothing of an oversized Struct stays in the sink, and the counts are exact", () => {
      const tx = createStructTranscoder({ limits: { nestingDepthMax: 32, recordBytesMax: 100 }, pii: { mode: "off", sensitiveKeys: [] } });
      const big = toBinary(LogEventRequestSchema, create(LogEventRequestSchema, { data: { a: "\u0001".repeat(200), b: [1, 2, 3] } }));
      const [start, end] = lengthDelimited(big).get(2)!;
      const sink = new ByteSink(64);
      sink.writeString("prefix");
      const result = tx.structTo(sink, big, start, end, { path: "data", recordPath: "data", messageDepth: 2 }, []);
      // {"a":"\u0001"×200,"b":[1,2,3]} is 1,220 bytes.
      assert.deepEqual(result, { bytes: 1220, unredactedBytes: 1220, complete: false, piiError: undefined });
      assert.equal(sink.text(), "prefix");
      // Over the bound before redaction, within it after: refused, and no redaction reported.
      const redacting = createStructTranscoder({ limits: { nestingDepthMax: 32, recordBytesMax: 100 }, pii: { mode: "redact", sensitiveKeys: defaultSensitiveKeys } });
      // Three addresses: each fits as it is read, together 118 bytes before redaction, 52 after.
      const mails = { a: `${"a".repeat(20)}@example.org`, b: `${"b".repeat(20)}@example.org`, c: `${"c".repeat(20)}@example.org` };
      const secret = toBinary(LogEventRequestSchema, create(LogEventRequestSchema, { data: mails }));
      const [from, to] = lengthDelimited(secret).get(2)!;
      const redacted: string[] = [];
      const place = { path: "data", recordPath: "data", messageDepth: 2 };
      assert.deepEqual(redacting.structTo(sink, secret, from, to, place, redacted), { bytes: 52, unredactedBytes: 118, complete: false, piiError: undefined });
      assert.equal(Buffer.byteLength(JSON.stringify(mails)), 118);
      assert.deepEqual(redacted, []);
      assert.equal(sink.text(), "prefix");
      assert.deepEqual(redacting.counts, { onePass: 1, reference: 0 });
    });

    it("PII in reject mode: the refusal is handed back, to be thrown after the size check", () => {
      const setup = { limits: defaultEventLimits, pii: { mode: "reject" as const, sensitiveKeys: defaultSensitiveKeys } };
      for (const json of [objectOf([["a", 1], ["user", objectOf([["apiKey", "k"]])]]), objectOf([["list", ["x", "mail ada@example.org"]]]), objectOf([["pay", "4111 1111 1111 1111"]])]) {
        const { outcome, reference: expected } = dataOf(json, setup);
        assert.deepEqual(outcome, expected);
        assert.match(refusal(outcome).message, /personal or secret data is not logged/);
      }
      // A sensitive key holding null is not personal data.
      const nulled = dataOf(objectOf([["password", null]]), setup);
      assert.deepEqual(nulled.outcome, nulled.reference);
      body(nulled.outcome);
      // Size before PII: an oversized record is refused for its size.
      const both = dataOf(objectOf([["email", "a".repeat(100)]]), { ...setup, limits: { ...defaultEventLimits, recordBytesMax: 60 } });
      assert.deepEqual(both.outcome, both.reference);
      assert.match(refusal(both.outcome).message, /^event: record of/);
    });
  });

  describe("redacts what the PII guard redacts", () => {
    it("values under sensitive keys at any depth, whatever their type; e-mail addresses and card numbers in strings", () => {
      const json = JSON.parse('{"user":{"name":"ada","Password":"hunter2","apiKey":{"nested":[1,{"token":2}]},"profile":[{"phone_number":"+44 20 7946 0000"}]},"tokens_used":12,"note":"mail ada@example.org now","pay":"card 4111 1111 1111 1111 ok","id":"order 4111111111111112","session_id":null}') as JsonObject;
      const { outcome, reference: expected, tx } = dataOf(json);
      assert.deepEqual(outcome, expected);
      assert.deepEqual((outcome as { redacted: string[] }).redacted, ["data.user.Password", "data.user.apiKey", "data.user.profile[0].phone_number", "data.note", "data.pay"]);
      assert.deepEqual(tx.counts, { onePass: 1, reference: 0 });
    });

    it("one path per redacted value, even when two values in a row share a path", () => {
      const strings = dataOf(JSON.parse('{"a.b":"x@example.org","a":{"b":"y@example.org 4111111111111111"}}') as JsonObject);
      assert.deepEqual(strings.outcome, strings.reference);
      assert.deepEqual((strings.outcome as { redacted: string[] }).redacted, ["data.a.b"]);
      const keys = dataOf(JSON.parse('{"a.token":1,"a":{"token":2}}') as JsonObject);
      assert.deepEqual(keys.outcome, keys.reference);
      assert.deepEqual((keys.outcome as { redacted: string[] }).redacted, ["data.a.token"]);
    });

    it("a leading U+FEFF stays text in redacted strings and in the paths of findings", () => {
      const { outcome, reference: expected } = dataOf(objectOf([["\ufeffk", objectOf([["email", 1]])], ["s", "\ufeffa@example.org"]]));
      assert.deepEqual(outcome, expected);
      assert.deepEqual(outcome, { body: `"event_type":"t","data":{"\ufeffk":{"email":"[REDACTED]"},"s":"\ufeff[REDACTED]"}`, redacted: ["data.\ufeffk.email", "data.s"] });
    });

    it("card numbers of 13 digits, grouped or not", () => {
      const { outcome, reference: expected } = dataOf(objectOf([["a", "visa 4222222222222"], ["b", "4222 2222 2222 2."], ["c", "422222222222"]]));
      assert.deepEqual(outcome, expected);
      assert.deepEqual((outcome as { redacted: string[] }).redacted, ["data.a", "data.b"]);
    });

    it("a Value field (rule activation outcome) under its record path; a Value with no field set is null", () => {
      const setup = defaults;
      const noField = create(ValueSchema);
      for (const outcomeValue of [valueOf(JSON.parse('{"email":"x","ok":[1,"b@example.org"]}') as JsonValue), valueOf("c@example.org"), valueOf(5), valueOf(null), valueOf([[]]), noField]) {
        for (const shape of [{ batch: false, index: 0 }, { batch: true, index: 2 }]) {
          const value = create(LogRuleActivationRequestSchema, { ruleId: "r1", variableId: "v1", outcome: outcomeValue });
          const bytes = requestBytes({ case: "ruleActivation", value }, shape);
          const tx = transcoderFor(setup);
          assert.deepEqual(transcodedRuleActivation(tx, bytes, shape, setup), reference(bytes, "ruleActivation", shape, setup));
        }
      }
    });
  });

  describe("output", () => {
    it("bytes appended to a sink equal the text, after what the sink held", () => {
      const tx = transcoderFor(defaults);
      const bytes = toBinary(LogEventRequestSchema, create(LogEventRequestSchema, { data: { a: "é\u2028", email: "x", b: [1.5, true] } }));
      const [start, end] = lengthDelimited(bytes).get(2)!;
      const place = { path: "data", recordPath: "data", messageDepth: 2 };
      const text = tx.structText(bytes, start, end, place, []);
      const sink = new ByteSink(4);
      sink.writeString("{");
      const redacted: string[] = [];
      const result = tx.structTo(sink, bytes, start, end, place, redacted);
      assert.equal(sink.text(), `{${text.text}`);
      assert.equal(result.bytes, Buffer.byteLength(text.text));
      assert.equal(result.unredactedBytes, result.bytes - `"[REDACTED]"`.length + `"x"`.length);
      assert.deepEqual(redacted, ["data.email"]);
    });

    it("a bad range is a programming error, not a refusal", () => {
      const tx = transcoderFor(defaults);
      assert.throws(() => tx.structText(new Uint8Array(4), 2, 5, { path: "data", recordPath: "data", messageDepth: 2 }, []), RangeError);
    });
  });

  describe("properties against today's path", () => {
    it(`arbitrary Structs in LogEvents, unary and batched: identical lines, errors and redactions (seed ${SEED}, ${RUNS} runs)`, () => {
      let onePass = 0;
      fc.assert(
        fc.property(fc.oneof({ weight: 5, arbitrary: objectArb }, { weight: 1, arbitrary: deepArb }), fc.option(objectArb), shapeArb, setupArb, (data, context, shape, setup) => {
          const value = create(LogEventRequestSchema, { eventType: "forecast_evaluated", data, ...(context === null ? {} : { context }) });
          const bytes = requestBytes({ case: "generic", value }, shape);
          const tx = transcoderFor(setup);
          assert.deepEqual(transcodedGeneric(tx, bytes, shape, setup), reference(bytes, "generic", shape, setup));
          onePass += tx.counts.onePass;
        }),
        property,
      );
      // The property would pass trivially if everything took the reference path.
      assert.ok(onePass > RUNS / 4, `only ${onePass} Structs took the one-pass walk`);
    });

    it(`arbitrary Values as a rule activation's outcome (seed ${SEED}, ${RUNS} runs)`, () => {
      fc.assert(
        fc.property(fc.option(jsonArb), shapeArb, setupArb, (outcome, shape, setup) => {
          const pii = { ...setup.pii, sensitiveKeys: setup.pii.sensitiveKeys.filter((k) => k !== "score") };
          const value = create(LogRuleActivationRequestSchema, { ruleId: "r1", variableId: "v1", ...(outcome === null ? {} : { outcome: valueOf(outcome) }) });
          const bytes = requestBytes({ case: "ruleActivation", value }, shape);
          const s = { ...setup, pii };
          assert.deepEqual(transcodedRuleActivation(transcoderFor(s), bytes, shape, s), reference(bytes, "ruleActivation", shape, s));
        }),
        property,
      );
    });

    // Struct bytes no encoder writes: duplicate keys, shuffled and repeated fields, unknown fields, odd varints, bad UTF-8.
    const keyBytesArb = fc.constantFrom(...["a", "b", "0", "7", "email", "x@y.io"].map(utf8Bytes), [0xff], [0xc3, 0xa9], []);
    const { struct: wireStructArb } = fc.letrec<{ struct: number[]; value: number[]; field: number[] }>((tie) => ({
      struct: fc
        .array(
          fc.oneof(
            {
              weight: 6,
              arbitrary: fc
                .tuple(keyBytesArb, tie("value"), fc.nat(2), fc.constantFrom("key value", "value key", "key value key", "key value unknown", "key key value"), keyBytesArb)
                .map(([k, v, padding, order, other]) => {
                  const pieces: Record<string, number[]> = { key: delimited(1, k, padding), value: delimited(2, v), unknown: [...tagged(3, 0), 1] };
                  let keys = 0;
                  return delimited(1, order.split(" ").flatMap((piece) => (piece === "key" && keys++ > 0 ? delimited(1, other) : pieces[piece])));
                }),
            },
            { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 2, max: 30 }), fc.nat(300)).map(([n, v]) => [...tagged(n, 0), ...varint(v)]) },
            { weight: 1, arbitrary: fc.constantFrom(entry(utf8Bytes("m"), undefined), entry(undefined, numberValue(2)), delimited(1, [])) },
          ),
          { maxLength: 4 },
        )
        .map((pieces) => pieces.flat()),
      value: fc.array(tie("field"), { minLength: 0, maxLength: 3 }).map((fields) => fields.flat()),
      field: fc.oneof(
        { depthSize: "small", maxDepth: 4 },
        fc.oneof(fc.double(), fc.constantFrom(-0, 1e21, 5e-324)).map(numberValue),
        fc.oneof(textArb.map(utf8Bytes), fc.constantFrom([0xff], [0xe2, 0x80, 0xa8], [0xc2, 0x85], [0xed, 0xa0, 0x80])).map(stringValue),
        fc.nat(300).map((n) => [...tagged(4, 0), ...varint(n)]),
        fc.nat(3).map((n) => [...tagged(1, 0), ...varint(n)]),
        fc.tuple(fc.integer({ min: 7, max: 20 }), fc.array(fc.nat(255), { maxLength: 3 })).map(([n, bytes]) => delimited(n, bytes)),
        tie("struct").map(structValue),
        fc.array(tie("value"), { maxLength: 3 }).map(listValue),
      ),
    }));

    it(`Struct bytes in shapes no encoder writes (seed ${SEED}, ${RUNS} runs)`, () => {
      fc.assert(
        fc.property(wireStructArb, setupArb, (struct, setup) => {
          const { outcome, reference: expected } = rawOutcomes(struct, setup);
          assert.deepEqual(outcome, expected);
        }),
        property,
      );
    });

    it(`arbitrary and mutated bytes: the same outcome as decoding them, and never anything but a ServiceError (seed ${SEED}, ${RUNS} runs)`, () => {
      const mutated = fc.tuple(objectArb, fc.nat(), fc.nat(255), fc.constantFrom("flip", "cut", "insert", "drop")).map(([json, at, byte, how]) => {
        const bytes = [...toBinary(LogEventRequestSchema, create(LogEventRequestSchema, { data: json }))];
        const [start, end] = lengthDelimited(Uint8Array.from(bytes)).get(2) ?? [0, 0];
        const struct = bytes.slice(start, end);
        const i = struct.length === 0 ? 0 : at % struct.length;
        if (how === "flip") struct[i] = byte;
        else if (how === "cut") struct.length = i;
        else if (how === "insert") struct.splice(i, 0, byte);
        else struct.splice(i, 1);
        return struct;
      });
      const arbitrary = fc.uint8Array({ maxLength: 48 }).map((bytes) => [...bytes]);
      fc.assert(
        fc.property(fc.oneof(mutated, arbitrary), setupArb, (struct, setup) => {
          // errorOutcome throws on anything but a ServiceError.
          const { outcome, reference: expected } = rawOutcomes(struct, setup);
          assert.deepEqual(outcome, expected);
        }),
        property,
      );
    });
  });
});
