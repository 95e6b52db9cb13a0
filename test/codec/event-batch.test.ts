import assert from "node:assert/strict";
import { create, fromBinary, toBinary, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { NullValue, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import {
  IngestEventsRequestSchema,
  LearningEventSchema,
  LogBatchRequestSchema,
  StreamEventsRequestSchema,
  type LearningEvent,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { learningEvent, seededRandom } from "../../bench/drivers/fixtures.js";
import { readEventBatch, WIRE_EVENT, WIRE_FIELDS } from "../../src/codec/event-batch.js";
import { undecodableError } from "../../src/codec/request-decode.js";
import { ServiceError } from "../../src/errors.js";
import { EventWriter } from "../../src/events/event-writer.js";
import { defaultEventLimits, type EventLimits } from "../../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys, type PiiOptions } from "../../src/guard/pii.js";
import type { AppendEntry, LogStore } from "../../src/store/store.js";

/** Seed of the property runs; PULSE_EVENT_BATCH_SEED replays a failure, PULSE_EVENT_BATCH_RUNS runs longer. */
const SEED = Number(process.env.PULSE_EVENT_BATCH_SEED ?? 20261130);
const RUNS = Number(process.env.PULSE_EVENT_BATCH_RUNS ?? 300);

interface Setup {
  limits: EventLimits;
  pii: PiiOptions;
  /** A guard function of the server's own (not made by createPiiGuard): the writer then has no Struct transcoder. */
  ownGuard?: boolean;
}

/** What a batch came to: the entries given to the store and the outcome, or the error the whole request failed with. */
type Outcome =
  | { entries: Array<{ body: string; clientChosenId: boolean | undefined; eventId: string | undefined }>; errors: unknown[]; redacted: Array<[number, string[]]> }
  | { code: number; message: string; violations: ReadonlyArray<{ field: string; description: string }> };

/** A writer over a store that only records what it is given; a fixed clock and tracker, so bodies repeat. */
function writerFor(setup: Setup, appended: AppendEntry[][]): EventWriter {
  const store = {
    append: (entries: readonly AppendEntry[]) => {
      appended.push([...entries]);
      return Promise.resolve(entries.map((_, i) => ({ seq: i + 1, timestamp: "2026-11-30T00:00:00.000000Z", duplicate: false })));
    },
  } as unknown as LogStore;
  const metrics = { key: "k", trust: 0.5, confidenceLower: 0.25, confidenceUpper: 0.75, confidenceStrength: 0.5, sampleSize: 3, alpha: 2, beta: 2 };
  const deps = { limits: setup.limits, clock: { nowMicros: () => 1_764_460_800_000_000 }, trustMetrics: () => Promise.resolve(metrics) };
  const guard = createPiiGuard(setup.pii);
  return new EventWriter(store, deps, setup.limits, setup.ownGuard === true ? (value, path, redacted) => guard(value, path, redacted) : guard);
}

async function outcomeOf(run: (writer: EventWriter) => Promise<Awaited<ReturnType<EventWriter["writeBatch"]>>>, setup: Setup): Promise<Outcome> {
  const appended: AppendEntry[][] = [];
  try {
    const outcome = await run(writerFor(setup, appended));
    const entries = appended.flat().map((e) => ({ body: e.body, clientChosenId: e.clientChosenId, eventId: e.clientChosenId ? e.eventId : undefined }));
    return { entries, errors: outcome.errors, redacted: [...outcome.redacted] };
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    return { code: err.code, message: err.message, violations: err.violations };
  }
}

/**
 * Today's path: the whole request decoded by protobuf-es (the adapter's
 * words for a refusal), then each event through EventWriter.prepare (the
 * validator, the catalog's builders, encodeBody with jsonLine, the size
 * check, the PII guard), as writeBatch did before it had a fast path.
 */
async function referencePath(schema: DescMessage, bytes: Uint8Array, setup: Setup, indexBase: number): Promise<Outcome> {
  const appended: AppendEntry[][] = [];
  const writer = writerFor(setup, appended);
  try {
    let request: { events: LearningEvent[] };
    try {
      request = fromBinary(schema, bytes) as unknown as { events: LearningEvent[] };
    } catch (err) {
      throw undecodableError(err);
    }
    const { events } = request;
    if (events.length > setup.limits.batchEventsMax) throw ServiceError.invalid("events", `${events.length} events in one batch, over the limit of ${setup.limits.batchEventsMax}`);
    const entries: Array<{ body: string; clientChosenId: boolean | undefined; eventId: string | undefined }> = [];
    const errors: unknown[] = [];
    const redacted: Array<[number, string[]]> = [];
    for (let i = 0; i < events.length; i++) {
      try {
        const p = await writer.prepare(events[i].event, `events[${indexBase + i}]`);
        if (p.redactedFields.length > 0) redacted.push([entries.length, p.redactedFields]);
        entries.push({ body: p.body, clientChosenId: p.clientChosenId, eventId: p.clientChosenId ? p.eventId : undefined });
      } catch (err) {
        const e = ServiceError.from(err);
        if (e.code !== status.INVALID_ARGUMENT) throw e;
        errors.push({ index: indexBase + i, code: e.code, message: e.message, violations: e.violations });
      }
    }
    return { entries, errors, redacted };
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    return { code: err.code, message: err.message, violations: err.violations };
  }
}

/** How many LogEvents were read by hand, and fixed-shape events with Struct or Value bytes left to transcode, by case. */
interface Taken {
  fast: number;
  byCase: Map<string, number>;
}

/** The new path: read by hand as the adapter does, settled as the handlers do, then writeBatch. */
function wirePath(schema: DescMessage, bytes: Uint8Array, setup: Setup, indexBase: number, taken: Taken): Promise<Outcome> {
  return outcomeOf((writer) => {
    let request: { events: LearningEvent[] };
    try {
      request = (readEventBatch(schema, bytes) ?? fromBinary(schema, bytes)) as { events: LearningEvent[] };
    } catch (err) {
      throw undecodableError(err);
    }
    taken.fast += request.events.filter((e) => WIRE_EVENT in e).length;
    for (const e of request.events) if (WIRE_FIELDS in e) taken.byCase.set(e.event.case!, (taken.byCase.get(e.event.case!) ?? 0) + 1);
    const events = writer.settle(request.events, { indexBase });
    return writer.writeBatch(events, { wait: true, indexBase });
  }, setup);
}

// ---------------------------------------------------------------------------
// Arbitrary events of every catalog type, valid and invalid.

/** Sets a key as JSON.parse does ("__proto__" an own key, not the prototype). */
function objectOf(entries: ReadonlyArray<readonly [string, JsonValue]>): JsonObject {
  const json: JsonObject = {};
  for (const [key, value] of entries) Object.defineProperty(json, key, { value, writable: true, enumerable: true, configurable: true });
  return json;
}

/** A JSON value as a google.protobuf.Value message (NaN included). */
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

const SPECIAL = ["\u2028", "\u2029", "\u0085", "\u0000", "\n", '"', "\\", "é", "😀", "\ud800", "\ufeff", "@", " "];
const CARDS = ["4111 1111 1111 1111", "4111111111111112", "79927398713"];
const textArb = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.string({ maxLength: 8 }) },
      { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
      { weight: 1, arbitrary: fc.emailAddress() },
      { weight: 1, arbitrary: fc.constantFrom(...CARDS) },
    ),
    { maxLength: 4 },
  )
  .map((pieces) => pieces.join(""));
const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("a", "b", "score", "tags", "variable") },
  { weight: 2, arbitrary: fc.constantFrom("email", "apiKey", "token", "Password", "custom_key") },
  { weight: 1, arbitrary: fc.constantFrom("0", "7", "__proto__", "") },
  { weight: 2, arbitrary: textArb },
);
const numberArb = fc.oneof(
  { weight: 6, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 3, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -0, 1e21, 5e-324) },
);
const { json: jsonArb, object: objectArb } = fc.letrec<{ json: JsonValue; array: JsonValue[]; object: JsonObject }>((tie) => ({
  json: fc.oneof({ depthSize: "small", maxDepth: 5 }, numberArb, textArb, fc.boolean(), fc.constant(null), tie("array"), tie("object")),
  array: fc.array(tie("json"), { maxLength: 4 }),
  object: fc.array(fc.tuple(keyArb, tie("json")), { maxLength: 5 }).map(objectOf),
}));
/** Nesting past the depth limit and past protobuf's 100 levels. */
const deepArb = fc.integer({ min: 2, max: 60 }).map((depth) => {
  let value: JsonValue = 1;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : objectOf([["k", value]]);
  return objectOf([["deep", value]]);
});
const structArb = fc.oneof({ weight: 8, arbitrary: objectArb }, { weight: 1, arbitrary: deepArb });
const eventIdArb = fc.option(fc.constantFrom("0b9a4f1e-3c2d-4e5f-8a7b-6c5d4e3f2a1b", "0B9A4F1E-3C2D-4E5F-8A7B-6C5D4E3F2A1C", "not-an-id", ""), { nil: undefined });
const eventTypeArb = fc.oneof({ weight: 6, arbitrary: fc.constantFrom("forecast_evaluated", "rule_fired") }, { weight: 1, arbitrary: fc.constantFrom("", "two\nlines", "x".repeat(200), "é") });

const eventArb: fc.Arbitrary<LearningEvent> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ eventType: eventTypeArb, eventId: eventIdArb, data: fc.option(structArb, { nil: undefined }), context: fc.option(fc.oneof(objectArb, fc.constant({})), { nil: undefined }) })
      .map((value) => create(LearningEventSchema, { event: { case: "generic", value } })),
  },
  { weight: 2, arbitrary: fc.nat(3000).map((i) => learningEvent("seed", i, seededRandom(i))) },
  {
    weight: 2,
    arbitrary: fc
      .record({ variable: textArb, oldWeight: numberArb, newWeight: numberArb, eventId: eventIdArb })
      .map((value) => create(LearningEventSchema, { event: { case: "variableWeightChange", value } })),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({
        ruleId: fc.oneof(fc.constantFrom("rule_007", "r"), textArb),
        variableId: fc.oneof(fc.constantFrom("var_042"), textArb),
        // Pulse's outcomes ({"delta", "applied"}), scalars, and any JSON: objects, lists, nesting, odd keys, unicode, numbers such as -0 and 1e21.
        outcome: fc.option(
          fc.oneof(
            { weight: 2, arbitrary: fc.record({ delta: numberArb, applied: fc.boolean() }).map((o) => valueOf(o)) },
            { weight: 1, arbitrary: fc.oneof(numberArb, textArb, fc.boolean(), fc.constant(null)).map(valueOf) },
            { weight: 4, arbitrary: jsonArb.map(valueOf) },
            { weight: 1, arbitrary: deepArb.map(valueOf) },
            { weight: 1, arbitrary: fc.constant(create(ValueSchema)) },
          ),
          { nil: undefined },
        ),
        forecastId: fc.option(textArb, { nil: undefined }),
        success: fc.option(fc.boolean(), { nil: undefined }),
        eventId: eventIdArb,
      })
      .map((value) => create(LearningEventSchema, { event: { case: "ruleActivation", value } })),
  },
  {
    weight: 4,
    arbitrary: fc.oneof(
      fc.record({ plan: fc.option(structArb, { nil: undefined }), eventId: eventIdArb }).map((value) => create(LearningEventSchema, { event: { case: "symbolicUpgrade", value } })),
      fc.record({ summary: fc.option(structArb, { nil: undefined }), eventId: eventIdArb }).map((value) => create(LearningEventSchema, { event: { case: "learningSummary", value } })),
      fc.record({ reason: textArb, eventId: eventIdArb }).map((value) => create(LearningEventSchema, { event: { case: "revisionTrigger", value } })),
      fc
        .record({ scores: fc.array(fc.tuple(keyArb, numberArb), { maxLength: 5 }).map((entries) => Object.fromEntries(entries.filter(([k]) => k !== "__proto__"))), eventId: eventIdArb })
        .map((value) => create(LearningEventSchema, { event: { case: "arcRegret", value } })),
      fc
        .record({ ruleId: textArb, activationCount: fc.oneof(fc.constant(3n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })), successRate: numberArb, impactScore: numberArb, eventId: eventIdArb })
        .map((value) => create(LearningEventSchema, { event: { case: "ruleEffectiveness", value } })),
      textArb.map((key) => create(LearningEventSchema, { event: { case: "bayesianTrustMetrics", value: { key } } })),
      fc.constant(create(LearningEventSchema, {})),
    ),
  },
);

const setupArb: fc.Arbitrary<Setup> = fc.record({
  limits: fc.record({
    eventTypeCharsMax: fc.constant(128),
    batchEventsMax: fc.constantFrom(3, 10_000),
    nestingDepthMax: fc.constantFrom(2, 32),
    recordBytesMax: fc.constantFrom(160, 600, 1024 * 1024),
  }),
  pii: fc.record({ mode: fc.constantFrom("off" as const, "redact" as const, "reject" as const), sensitiveKeys: fc.constantFrom(defaultSensitiveKeys, ["custom_key", "score"]) }),
});

const SCHEMAS = [IngestEventsRequestSchema, StreamEventsRequestSchema, LogBatchRequestSchema] as const;

/** A batch request's bytes, sometimes damaged (cut short, or one byte changed), sometimes with a field no reader knows. */
const requestArb = fc
  .record({
    schema: fc.constantFrom(...SCHEMAS),
    events: fc.array(eventArb, { maxLength: 6 }),
    batchId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    damage: fc.oneof(
      { weight: 8, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.record({ cut: fc.double({ min: 0, max: 1, noNaN: true }) }) },
      { weight: 1, arbitrary: fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.integer({ min: 0, max: 255 }) }) },
      { weight: 1, arbitrary: fc.record({ unknownField: fc.constant(true) }) },
    ),
    indexBase: fc.constantFrom(0, 17),
  })
  .map(({ schema, events, batchId, damage, indexBase }) => {
    const init = schema === IngestEventsRequestSchema ? { batchId, events } : { events };
    let bytes = toBinary(schema, create(schema, init as never));
    if (damage !== undefined && "cut" in damage) bytes = bytes.subarray(0, Math.floor(bytes.length * damage.cut));
    if (damage !== undefined && "at" in damage && bytes.length > 0) {
      bytes = bytes.slice();
      bytes[Math.min(bytes.length - 1, Math.floor(bytes.length * damage.at))] = damage.byte;
    }
    if (damage !== undefined && "unknownField" in damage) bytes = new Uint8Array([...bytes, (9 << 3) | 0, 1]);
    return { schema, bytes, indexBase };
  });

describe("Event batch reader (requests read by hand, LogEvents' Structs transcoded, fixed-shape events by typed encoders)", () => {
  it("gives the same records, per-event errors, redactions and request errors as decoding with protobuf-es and preparing each event", async () => {
    const taken: Taken = { fast: 0, byCase: new Map() };
    await fc.assert(
      fc.asyncProperty(requestArb, setupArb, async ({ schema, bytes, indexBase }, setup) => {
        const expected = await referencePath(schema, bytes, setup, indexBase);
        const actual = await wirePath(schema, bytes, setup, indexBase, taken);
        assert.deepEqual(actual, expected);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // The property is about the fast path: most LogEvents took it.
    assert.ok(taken.fast > RUNS / 3, `only ${taken.fast} LogEvents were read by hand`);
    for (const eventCase of ["ruleActivation", "symbolicUpgrade", "learningSummary"]) assert.ok((taken.byCase.get(eventCase) ?? 0) > RUNS / 100, `only ${taken.byCase.get(eventCase) ?? 0} ${eventCase} events left their Structs or Values to transcode`);
  });

  it("gives the same outcomes with a PII guard of the server's own (no transcoder: bytes left unread are decoded by protobuf-es for the general path)", async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, setupArb, async ({ schema, bytes, indexBase }, setup) => {
        const own = { ...setup, ownGuard: true };
        assert.deepEqual(await wirePath(schema, bytes, own, indexBase, { fast: 0, byCase: new Map() }), await referencePath(schema, bytes, own, indexBase));
      }),
      { seed: SEED, numRuns: Math.ceil(RUNS / 3) },
    );
  });

  it("reads the seed mix's LogEvents by hand and writes them without decoding their Structs", async () => {
    const events = Array.from({ length: 30 }, (_, i) => learningEvent("seed", i, seededRandom(i)));
    const bytes = toBinary(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { batchId: 7n, events }));
    const request = readEventBatch(IngestEventsRequestSchema, bytes) as { batchId: bigint; events: LearningEvent[] };
    assert.equal(request.batchId, 7n);
    assert.equal(request.events.length, 30);
    const generic = request.events.filter((e) => e.event.case === "generic");
    assert.ok(generic.length >= 10);
    assert.ok(generic.every((e) => WIRE_EVENT in e && e.event.case === "generic" && e.event.value.data === undefined));
    const setup = { limits: defaultEventLimits, pii: { mode: "redact" as const, sensitiveKeys: defaultSensitiveKeys } };
    assert.deepEqual(await wirePath(IngestEventsRequestSchema, bytes, setup, 0, { fast: 0, byCase: new Map() }), await referencePath(IngestEventsRequestSchema, bytes, setup, 0));
  });

  it("gives up on a request field it does not know, and on bytes that are not a request", () => {
    const bytes = toBinary(LogBatchRequestSchema, create(LogBatchRequestSchema, { events: [learningEvent("seed", 2, seededRandom(2))] }));
    assert.notEqual(readEventBatch(LogBatchRequestSchema, bytes), undefined);
    assert.equal(readEventBatch(LogBatchRequestSchema, new Uint8Array([...bytes, (9 << 3) | 0, 1])), undefined);
    assert.equal(readEventBatch(LogBatchRequestSchema, bytes.subarray(0, bytes.length - 1)), undefined);
  });
});
