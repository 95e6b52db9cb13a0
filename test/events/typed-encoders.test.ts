import assert from "node:assert/strict";
import { create, fromJson, toBinary, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { LearningEventSchema, type LearningEvent } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { systemClock } from "../../src/clock.js";
import { readPlainEvent, WIRE_FIELDS, type WireFixedEvent } from "../../src/codec/event-batch.js";
import { ByteSink } from "../../src/codec/byte-sink.js";
import { createStructTranscoder } from "../../src/codec/struct-json.js";
import { buildEvent, eventSchemas, type EventCase, type EventDraft } from "../../src/events/catalog.js";
import { encodeBody } from "../../src/events/event-writer.js";
import { createTypedEncoders, EVENT_SHAPES } from "../../src/events/typed-encoders.js";
import { defaultEventLimits } from "../../src/guard/limits.js";
import { createValidatorFactory } from "../../src/guard/validator.js";
import { createPiiGuard, defaultSensitiveKeys } from "../../src/guard/pii.js";
import { jsonLine, jsonString } from "../../src/record/json-text.js";

const property = { seed: Number(process.env.PULSE_TYPED_SEED ?? 20261130), numRuns: Number(process.env.PULSE_TYPED_RUNS ?? 500) };
const deps = { limits: defaultEventLimits, clock: systemClock, trustMetrics: () => Promise.reject(new Error("not used")) };
const textArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 6 }),
  fc.constantFrom("\u2028", "a\u2029b", "\u0085", '"q"', "back\\slash", "\u007f", "tab\t", "x@example.com", "4111 1111 1111 1111"),
);
const finiteArb = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constantFrom(-0, 1e21, 1e-7, 5e-324, 2 ** 53));

/** Sets a key as JSON.parse does ("__proto__" an own key, not the prototype). */
function objectOf(entries: ReadonlyArray<readonly [string, JsonValue]>): JsonObject {
  const json: JsonObject = {};
  for (const [key, value] of entries) Object.defineProperty(json, key, { value, writable: true, enumerable: true, configurable: true });
  return json;
}

/** The general path's body: the catalog's builder, the PII guard (in place), encodeBody. */
function generalBody(event: LearningEvent["event"], mode: "off" | "redact"): { body: string; redacted: string[] } {
  const draft = buildEvent(event, deps);
  if (draft instanceof Promise) throw new Error("not a fixed-shape event");
  const redacted: string[] = [];
  draft.data = createPiiGuard({ mode, sensitiveKeys: defaultSensitiveKeys })(draft.data, "data", redacted) ?? null;
  return { body: encodeBody(draft), redacted };
}

describe("Typed encoders (fixed-shape events without JSON.stringify)", () => {
  it("appends a body's bytes after what the sink holds, and leaves the sink as it was when the event goes to the general path", () => {
    const typed = createTypedEncoders(createPiiGuard({ mode: "redact", sensitiveKeys: defaultSensitiveKeys }));
    const sink = new ByteSink(8);
    sink.writeString("kept");
    const plain = create(LearningEventSchema, { event: { case: "variableWeightChange", value: { variable: "héllo", oldWeight: 0.5, newWeight: -2 } } });
    assert.equal(typed.bodyTo(sink, plain.event), true);
    assert.equal(sink.text(), `kept${generalBody(plain.event, "redact").body}`);
    const length = sink.length;
    // An e-mail address in a name: the guard would redact it, so nothing of the event is written here.
    const redacted = create(LearningEventSchema, { event: { case: "ruleActivation", value: { ruleId: "r-1", variableId: "x@example.com" } } });
    assert.equal(typed.bodyTo(sink, redacted.event), false);
    assert.equal(sink.length, length);
    assert.equal(typed.body(redacted.event), undefined);
  });

  it("writes strings exactly as jsonLine does (line separators and U+0085 escaped too)", () => {
    fc.assert(fc.property(textArb, (text) => assert.equal(jsonString(text), jsonLine(text))), property);
  });

  it("writes weight changes and rule activations as the catalog and encodeBody do, or leaves to the general path what the PII guard would change", () => {
    const outcomeArb = fc.option(
      fc.oneof(
        textArb.map((value) => ({ kind: { case: "stringValue" as const, value } })),
        finiteArb.map((value) => ({ kind: { case: "numberValue" as const, value } })),
        fc.boolean().map((value) => ({ kind: { case: "boolValue" as const, value } })),
        fc.constant({ kind: { case: "nullValue" as const, value: 0 } }),
        fc.constant({ kind: { case: "listValue" as const, value: { values: [] as never[] } } }),
      ),
      { nil: undefined },
    );
    const eventArb = fc.oneof(
      fc.record({ variable: textArb, oldWeight: finiteArb, newWeight: finiteArb }).map((value) => create(LearningEventSchema, { event: { case: "variableWeightChange", value } })),
      fc
        .record({ ruleId: textArb, variableId: textArb, outcome: outcomeArb, forecastId: fc.option(textArb, { nil: undefined }), success: fc.option(fc.boolean(), { nil: undefined }) })
        .map((value) => create(LearningEventSchema, { event: { case: "ruleActivation", value } })),
    );
    let written = 0;
    fc.assert(
      fc.property(eventArb, fc.constantFrom("off" as const, "redact" as const), (event, mode) => {
        const typed = createTypedEncoders(createPiiGuard({ mode, sensitiveKeys: defaultSensitiveKeys })).body(event.event);
        const general = generalBody(event.event, mode);
        if (typed === undefined) {
          // Only what the guard changes, or what has no fixed shape (a list outcome), is left to the general path.
          const listOutcome = event.event.case === "ruleActivation" && event.event.value.outcome?.kind.case === "listValue";
          assert.ok(listOutcome || general.redacted.length > 0, `left out for no reason: ${general.body}`);
          return;
        }
        written++;
        assert.deepEqual({ body: typed, redacted: [] }, general);
      }),
      property,
    );
    assert.ok(written > property.numRuns / 2);
  });

  it("gives the same bodies from one encoder over many events as from a fresh encoder per event (names it remembers, names it forgets when full, long names)", () => {
    const guard = createPiiGuard({ mode: "redact", sensitiveKeys: defaultSensitiveKeys });
    const shared = createTypedEncoders(guard);
    // Few names, so they repeat; some redacted (the guard's verdict must repeat too), some past the remembered length.
    const nameArb = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("var_001", "rule_002", "fired", "x@example.com", "4111 1111 1111 1111", "\u2028", 'q"', "v".repeat(129), "w".repeat(128) + "@example.com") },
      { weight: 2, arbitrary: textArb },
      // Distinct names enough to fill the memory and have it emptied.
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 10_000 }).map((i) => `name_${i}`) },
    );
    const eventArb = fc.oneof(
      fc.record({ variable: nameArb, oldWeight: finiteArb, newWeight: finiteArb }).map((value) => create(LearningEventSchema, { event: { case: "variableWeightChange", value } })),
      fc
        .record({ ruleId: nameArb, variableId: nameArb, outcome: fc.option(nameArb.map((value) => ({ kind: { case: "stringValue" as const, value } })), { nil: undefined }), forecastId: fc.option(nameArb, { nil: undefined }) })
        .map((value) => create(LearningEventSchema, { event: { case: "ruleActivation", value } })),
    );
    let redacted = 0;
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 200, maxLength: 400 }), (events) => {
        for (const event of events) {
          const fresh = createTypedEncoders(guard).body(event.event);
          assert.equal(shared.body(event.event), fresh);
          if (fresh === undefined) redacted++;
          else assert.equal(fresh, generalBody(event.event, "redact").body);
        }
      }),
      { ...property, numRuns: Math.ceil(property.numRuns / 10) },
    );
    assert.ok(redacted > 0);
  });

  it("leaves a shape to the general path when the guard would redact one of its keys", () => {
    const event = create(LearningEventSchema, { event: { case: "variableWeightChange", value: { variable: "v", oldWeight: 1, newWeight: 2 } } });
    assert.equal(createTypedEncoders(createPiiGuard({ mode: "redact", sensitiveKeys: ["from"] })).body(event.event), undefined);
    assert.equal(createTypedEncoders(createPiiGuard({ mode: "reject", sensitiveKeys: ["variable"] })).body(event.event), undefined);
    assert.equal(
      createTypedEncoders(createPiiGuard({ mode: "reject", sensitiveKeys: ["secret"] })).body(event.event),
      '"event_type":"variable_weight_update","data":{"variable":"v","from":1,"to":2}',
    );
  });
});

describe("Typed encoders on events read by hand (Struct and Value fields transcoded from their bytes)", () => {
  /** Any JSON, with what the guard and the transcoder care about: odd keys, sensitive keys, unicode, e-mail addresses, card numbers, numbers such as -0 and 1e21. */
  const keyArb = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom("delta", "applied", "score", "n", "x_id") },
    { weight: 2, arbitrary: fc.constantFrom("email", "apiKey", "token", "password", "0", "12", "__proto__", "", "é", "\u2028") },
    { weight: 1, arbitrary: textArb },
  );
  const jsonArb = fc.letrec<{ json: JsonValue }>((tie) => ({
    json: fc.oneof(
      { depthSize: "small", maxDepth: 4 },
      finiteArb,
      textArb,
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("json"), { maxLength: 3 }),
      fc.array(fc.tuple(keyArb, tie("json")), { maxLength: 4 }).map(objectOf),
    ),
  })).json;
  const objectArb = fc.array(fc.tuple(keyArb, jsonArb), { maxLength: 4 }).map(objectOf);
  const eventArb = fc.oneof(
    fc
      .record({ ruleId: fc.constantFrom("rule_007", "r"), variableId: fc.constantFrom("var_042"), outcome: fc.oneof(fc.record({ delta: finiteArb, applied: fc.boolean() }), jsonArb).map((o) => fromJson(ValueSchema, o)) })
      .map((value) => create(LearningEventSchema, { event: { case: "ruleActivation", value } })),
    objectArb.map((plan) => create(LearningEventSchema, { event: { case: "symbolicUpgrade", value: { plan } } })),
    objectArb.map((summary) => create(LearningEventSchema, { event: { case: "learningSummary", value: { summary } } })),
  );

  it("writes rule activations with any outcome, symbolic upgrades and learning summaries as the general path does, in every PII mode, or leaves them to it", () => {
    let written = 0;
    let total = 0;
    fc.assert(
      fc.property(eventArb, fc.constantFrom("off" as const, "redact" as const, "reject" as const), fc.constantFrom(2, 32), (event, mode, nestingDepthMax) => {
        total++;
        const limits = { ...defaultEventLimits, nestingDepthMax };
        const pii = { mode, sensitiveKeys: defaultSensitiveKeys };
        const bytes = Buffer.from(toBinary(LearningEventSchema, event));
        const read = readPlainEvent(bytes, 0, bytes.length);
        assert.ok(read !== undefined, "not read by hand");
        const wire = (read as WireFixedEvent)[WIRE_FIELDS];
        const typed = createTypedEncoders(createPiiGuard(pii), { transcoder: createStructTranscoder({ limits, pii }), clock: systemClock });
        let body: string | undefined;
        try {
          body = typed.body(read.event, wire);
        } catch {
          body = undefined;
        }
        // The general path: the validator's checks (depth, finite numbers), the catalog, the guard, encodeBody.
        let general: { body: string; redacted: string[] } | "refused";
        try {
          const validate = createValidatorFactory(limits);
          validate(eventSchemas.get(event.event.case!)!)(event.event.value, "");
          const draft = buildEvent(event.event, { ...deps, limits }) as EventDraft;
          const redacted: string[] = [];
          draft.data = createPiiGuard(pii)(draft.data, "data", redacted) ?? null;
          general = { body: encodeBody(draft), redacted };
        } catch {
          general = "refused";
        }
        if (body === undefined) {
          // Only what the guard changes or refuses, or what is invalid, is left to the general path.
          assert.ok(general === "refused" || general.redacted.length > 0, `left out for no reason: ${general === "refused" ? "" : general.body}`);
          return;
        }
        written++;
        assert.notEqual(general, "refused", `written, but the general path refuses it: ${body}`);
        assert.deepEqual({ body, redacted: [] }, general);
      }),
      property,
    );
    assert.ok(written > total / 2, `only ${written} of ${total} written`);
  });

  it("writes every fixed-shape catalog event; trust metrics (read from the tracker) and LogEvents are the general path's", () => {
    const typed = createTypedEncoders(createPiiGuard({ mode: "redact", sensitiveKeys: defaultSensitiveKeys }), { clock: systemClock });
    const cases = [...eventSchemas.keys()].filter((c) => typed.eventType(c) === undefined);
    assert.deepEqual(cases.sort(), ["bayesianTrustMetrics", "generic"]);
    for (const [c, shape] of Object.entries(EVENT_SHAPES)) assert.equal(typed.eventType(c as EventCase), shape.eventType);
  });

  it("writes revision triggers, arc regret scores and rule effectiveness as the general path does, or leaves them to it", () => {
    const clock = { nowMicros: () => 1_764_460_800_123_456 };
    const scoreKeyArb = fc.oneof(fc.constantFrom("arc_a", "0", "7", "password", "token_count", "é", ""), fc.string({ maxLength: 4 }));
    const eventArb = fc.oneof(
      textArb.map((reason) => create(LearningEventSchema, { event: { case: "revisionTrigger", value: { reason } } })),
      fc.array(fc.tuple(scoreKeyArb, finiteArb), { maxLength: 5 }).map((entries) => create(LearningEventSchema, { event: { case: "arcRegret", value: { scores: Object.fromEntries(entries) } } })),
      fc
        .record({ ruleId: textArb, activationCount: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), successRate: finiteArb, impactScore: finiteArb })
        .map((value) => create(LearningEventSchema, { event: { case: "ruleEffectiveness", value } })),
    );
    let written = 0;
    fc.assert(
      fc.property(eventArb, fc.constantFrom("off" as const, "redact" as const), (event, mode) => {
        const guard = createPiiGuard({ mode, sensitiveKeys: defaultSensitiveKeys });
        const body = createTypedEncoders(guard, { clock }).body(event.event);
        const draft = buildEvent(event.event, { ...deps, clock }) as EventDraft;
        const redacted: string[] = [];
        draft.data = guard(draft.data, "data", redacted) ?? null;
        if (body === undefined) {
          assert.ok(redacted.length > 0, `left out for no reason: ${encodeBody(draft)}`);
          return;
        }
        written++;
        assert.deepEqual({ body, redacted: [] }, { body: encodeBody(draft), redacted });
      }),
      property,
    );
    assert.ok(written > property.numRuns / 2);
  });
});
