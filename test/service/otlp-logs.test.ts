import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Metadata, status } from "@grpc/grpc-js";
import {
  ExportLogsServiceRequestSchema,
  ExportLogsServiceResponseSchema,
  type ExportLogsServiceResponse,
} from "../../gen/ts/opentelemetry/proto/collector/logs/v1/logs_service_pb.js";
import { AnyValueSchema, type AnyValue } from "../../gen/ts/opentelemetry/proto/common/v1/common_pb.js";
import { LogRecordSchema, type LogRecord } from "../../gen/ts/opentelemetry/proto/logs/v1/logs_pb.js";
import { ResourceSchema, type Resource } from "../../gen/ts/opentelemetry/proto/resource/v1/resource_pb.js";
import { systemClock } from "../../src/clock.js";
import { ServiceError } from "../../src/errors.js";
import { EventWriter } from "../../src/events/event-writer.js";
import { defaultEventLimits, type EventLimits } from "../../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys, type PiiMode } from "../../src/guard/pii.js";
import type { AppendEntry, AppendResult, LogStore } from "../../src/store/store.js";
import { anyValueToJson, keyValuesToJson } from "../../src/service/otlp-any-value.js";
import { logRecordToEvent, otlpMessage, type RecordPlace } from "../../src/service/otlp-log-record.js";
import { createOtlpLogsService } from "../../src/service/otlp-logs-service.js";

type AnyValueInit = MessageInitShape<typeof AnyValueSchema>;
const str = (value: string): AnyValueInit => ({ value: { case: "stringValue", value } });
const dbl = (value: number): AnyValueInit => ({ value: { case: "doubleValue", value } });
const int = (value: bigint): AnyValueInit => ({ value: { case: "intValue", value } });
const kv = (entries: Record<string, AnyValueInit>): AnyValueInit => ({
  value: { case: "kvlistValue", value: { values: Object.entries(entries).map(([key, value]) => ({ key, value })) } },
});
const attrs = (entries: Record<string, AnyValueInit>) => Object.entries(entries).map(([key, value]) => ({ key, value }));
const any = (init: AnyValueInit): AnyValue => create(AnyValueSchema, init);
const record = (init: MessageInitShape<typeof LogRecordSchema>): LogRecord => create(LogRecordSchema, init);

const PLACE: RecordPlace = { record: "resource_logs[0].scope_logs[0].log_records[0]", resource: "resource_logs[0]" };

/** The generic event a mapped record becomes. */
function generic(r: LogRecord, resource?: Resource) {
  const mapped = logRecordToEvent(r, resource, PLACE);
  assert.ok(mapped, "mapped");
  assert.equal(mapped.event.event.case, "generic");
  return { ...mapped, value: mapped.event.event.value };
}

describe("OTLP logs: AnyValue to JSON", () => {
  it("maps every kind: scalars as they are, bytes as base64, lists and maps nested, an empty value as null", () => {
    const value = any(
      kv({
        s: str("text"),
        b: { value: { case: "boolValue", value: true } },
        i: int(-42n),
        d: dbl(0.25),
        raw: { value: { case: "bytesValue", value: new Uint8Array([0, 1, 2, 250, 255]) } },
        list: { value: { case: "arrayValue", value: { values: [str("a"), int(1n), { value: { case: "arrayValue", value: { values: [] } } }] } } },
        map: kv({ inner: kv({ deep: dbl(1.5) }) }),
        empty: {},
      }),
    );
    assert.deepEqual(anyValueToJson(value), {
      s: "text",
      b: true,
      i: -42,
      d: 0.25,
      raw: Buffer.from([0, 1, 2, 250, 255]).toString("base64"),
      list: ["a", 1, []],
      map: { inner: { deep: 1.5 } },
      empty: null,
    });
  });

  it("keeps every digit of 64-bit integers past 2^53 (as a decimal string)", () => {
    assert.equal(anyValueToJson(any(int(9007199254740991n))), 9007199254740991);
    assert.equal(anyValueToJson(any(int(-9007199254740991n))), -9007199254740991);
    assert.equal(anyValueToJson(any(int(9007199254740992n))), "9007199254740992");
    assert.equal(anyValueToJson(any(int(-9223372036854775808n))), "-9223372036854775808");
  });

  it("treats __proto__ as an ordinary key (never the object's prototype), and a repeated key as its last value", () => {
    const json = keyValuesToJson(create(LogRecordSchema, { attributes: [{ key: "__proto__", value: kv({ polluted: str("yes") }) }] }).attributes);
    assert.equal(Object.getPrototypeOf(json), Object.prototype);
    assert.equal((json as { polluted?: unknown }).polluted, undefined);
    assert.equal(JSON.stringify(json), '{"__proto__":{"polluted":"yes"}}');
    const repeated = keyValuesToJson(create(LogRecordSchema, { attributes: [{ key: "k", value: str("first") }, { key: "k", value: str("last") }] }).attributes);
    assert.equal(repeated.k, "last");
  });
});

describe("OTLP logs: a log record as a learning event", () => {
  it("a record with event_name: event_type is the name, a map body is the data, attributes the context", () => {
    const m = generic(record({ eventName: "variable_weight_update", body: kv({ variable: str("t"), from: dbl(0.5), to: dbl(0.75) }), attributes: attrs({ run: str("r1") }) }));
    assert.equal(m.value.eventType, "variable_weight_update");
    assert.deepEqual({ ...m.value.data }, { variable: "t", from: 0.5, to: 0.75 });
    assert.deepEqual({ ...m.value.context }, { run: "r1" });
    assert.equal(m.nameField, "event_name");
    assert.equal(m.bodyIsMap, true);
  });

  it("a body that is not a map is data.body; no body is empty data", () => {
    assert.deepEqual(generic(record({ eventName: "e", body: str("drift detected") })).value.data, { body: "drift detected" });
    assert.deepEqual(generic(record({ eventName: "e", body: any({ value: { case: "arrayValue", value: { values: [int(1n)] } } }) })).value.data, { body: [1] });
    assert.deepEqual(generic(record({ eventName: "e", body: any({}) })).value.data, { body: null });
    assert.deepEqual(generic(record({ eventName: "e" })).value.data, {});
  });

  it("puts the resource's attributes under context.resource, and trace and span ids as hex", () => {
    const resource = create(ResourceSchema, { attributes: attrs({ "service.name": str("trainer"), "host.name": str("h1") }) });
    const traceId = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    const spanId = Uint8Array.from({ length: 8 }, (_, i) => 0xf0 + i);
    const m = generic(record({ eventName: "e", attributes: attrs({ k: int(3n) }), traceId, spanId }), resource);
    assert.deepEqual(JSON.parse(JSON.stringify(m.value.context)), {
      k: 3,
      resource: { "service.name": "trainer", "host.name": "h1" },
      trace_id: "0102030405060708090a0b0c0d0e0f10",
      span_id: "f0f1f2f3f4f5f6f7",
    });
  });

  it("leaves out ids that are all zeros or of the wrong length (OTLP: not part of a trace)", () => {
    const m = generic(record({ eventName: "e", traceId: new Uint8Array(16), spanId: new Uint8Array(7).fill(1) }));
    assert.deepEqual({ ...m.value.context }, {});
  });

  it("takes the name from an event.name attribute when event_name is empty (older SDKs), and prefers event_name", () => {
    const fromAttribute = generic(record({ attributes: attrs({ "event.name": str("rule_activation"), rule: str("R1") }) }));
    assert.equal(fromAttribute.value.eventType, "rule_activation");
    assert.equal(fromAttribute.nameField, "attributes.event.name");
    // The attributes are the context as they are.
    assert.deepEqual({ ...fromAttribute.value.context }, { "event.name": "rule_activation", rule: "R1" });
    assert.equal(generic(record({ eventName: "from_field", attributes: attrs({ "event.name": str("from_attribute") }) })).value.eventType, "from_field");
  });

  it("is no event without a name; refuses an event.name that is not a string, naming the attribute", () => {
    assert.equal(logRecordToEvent(record({ body: str("plain log line") }), undefined, PLACE), undefined);
    assert.equal(logRecordToEvent(record({ attributes: attrs({ "event.name": str("") }) }), undefined, PLACE), undefined);
    assert.throws(
      () => logRecordToEvent(record({ attributes: attrs({ "event.name": int(7n) }) }), undefined, PLACE),
      (err: ServiceError) => err.code === status.INVALID_ARGUMENT && err.message === `${PLACE.record}.attributes.event.name: must be a string (the event name), not intValue`,
    );
  });

  it("refuses an attribute named like a key the mapping sets (resource, trace_id, span_id)", () => {
    for (const key of ["resource", "trace_id", "span_id"]) {
      assert.throws(
        () => logRecordToEvent(record({ eventName: "e", attributes: attrs({ [key]: str("x") }) }), undefined, PLACE),
        (err: ServiceError) => err.code === status.INVALID_ARGUMENT && err.message.startsWith(`${PLACE.record}.attributes.${key}: the name is taken`),
      );
    }
  });
});

describe("OTLP logs: a record's run from the pulse.run.id attribute", () => {
  const RECORD_RUN = `${PLACE.record}.attributes.pulse.run.id`;
  const RESOURCE_RUN = "resource_logs[0].resource.attributes.pulse.run.id";
  const resourceOf = (entries: Record<string, AnyValueInit>) => create(ResourceSchema, { attributes: attrs(entries) });
  const invalid = (path: string, problem: RegExp) => (err: ServiceError) => err.code === status.INVALID_ARGUMENT && err.message.startsWith(`${path}: `) && problem.test(err.message);

  it("takes the resource's run for its records, as the event's run, and leaves it out of context.resource", () => {
    const m = generic(record({ eventName: "e", attributes: attrs({ k: str("v") }) }), resourceOf({ "service.name": str("trainer"), "pulse.run.id": str("exp-42") }));
    assert.equal(m.event.run, "exp-42");
    assert.equal(m.runPath, RESOURCE_RUN);
    assert.deepEqual(JSON.parse(JSON.stringify(m.value.context)), { k: "v", resource: { "service.name": "trainer" } });
    // A resource with nothing but the run leaves no empty context.resource behind.
    assert.deepEqual({ ...generic(record({ eventName: "e" }), resourceOf({ "pulse.run.id": str("exp-42") })).value.context }, {});
  });

  it("a record's own pulse.run.id overrides the resource's and is left out of the context", () => {
    const m = generic(record({ eventName: "e", attributes: attrs({ "pulse.run.id": str("ablation 3/7"), k: int(1n) }) }), resourceOf({ "pulse.run.id": str("exp-42"), zone: str("a") }));
    assert.equal(m.event.run, "ablation 3/7");
    assert.equal(m.runPath, RECORD_RUN);
    assert.deepEqual(JSON.parse(JSON.stringify(m.value.context)), { k: 1, resource: { zone: "a" } });
  });

  it("has no run without the attribute (the record is written as before)", () => {
    const m = generic(record({ eventName: "e", attributes: attrs({ run: str("r1") }) }), resourceOf({ "service.name": str("s") }));
    assert.equal(m.event.run, undefined);
    assert.equal(m.runPath, undefined);
    assert.equal(m.value.context?.run, "r1", "an attribute named run is ordinary context");
  });

  it("takes run ids at the contract's edges: 1 and 128 characters, spaces and every printable character but quote and backslash", () => {
    const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => c !== '"' && c !== "\\").join("");
    for (const run of ["r", "x".repeat(128), printable.slice(0, 128), printable.slice(-60)]) {
      assert.equal(generic(record({ eventName: "e", attributes: attrs({ "pulse.run.id": str(run) }) })).event.run, run);
    }
  });

  it("refuses a run that is not a string, naming the attribute (record or resource)", () => {
    assert.throws(() => logRecordToEvent(record({ eventName: "e", attributes: attrs({ "pulse.run.id": int(42n) }) }), undefined, PLACE), invalid(RECORD_RUN, /must be a string \(the run id\), not intValue$/));
    assert.throws(() => logRecordToEvent(record({ eventName: "e", attributes: [{ key: "pulse.run.id" }] }), undefined, PLACE), invalid(RECORD_RUN, /not an empty value$/));
    assert.throws(() => logRecordToEvent(record({ eventName: "e" }), resourceOf({ "pulse.run.id": kv({ id: str("x") }) }), PLACE), invalid(RESOURCE_RUN, /not kvlistValue$/));
  });

  it("refuses a string that is not a run id, naming the attribute", () => {
    const bad: Array<[string, RegExp]> = [
      ["", /run must not be empty$/],
      ["x".repeat(129), /run longer than 128 characters$/],
      ['say "hi"', /run must not contain '"' or '\\' \(character 5\)$/],
      ["back\\slash", /run must not contain '"' or '\\' \(character 5\)$/],
      ["line\nbreak", /run must be printable ASCII \(character 5 is U\+000A\)$/],
      ["tab\there", /printable ASCII \(character 4 is U\+0009\)$/],
      ["caf\u00e9", /printable ASCII \(character 4 is U\+00E9\)$/],
      ["del\u007f", /printable ASCII \(character 4 is U\+007F\)$/],
    ];
    for (const [run, problem] of bad) {
      assert.throws(() => logRecordToEvent(record({ eventName: "e", attributes: attrs({ "pulse.run.id": str(run) }) }), undefined, PLACE), invalid(RECORD_RUN, problem), JSON.stringify(run));
      assert.throws(() => logRecordToEvent(record({ eventName: "e" }), resourceOf({ "pulse.run.id": str(run) }), PLACE), invalid(RESOURCE_RUN, problem), JSON.stringify(run));
    }
  });

  it("checks only the run in force: a record's valid run stands even when its resource's is invalid", () => {
    const m = generic(record({ eventName: "e", attributes: attrs({ "pulse.run.id": str("good") }) }), resourceOf({ "pulse.run.id": int(7n) }));
    assert.equal(m.event.run, "good");
  });

  it("names the run's attribute in the writer's messages about the run", () => {
    const w = "log_records[2]";
    assert.equal(otlpMessage(refusal(`${w}.run: bad run`), w, PLACE, { nameField: "event_name", bodyIsMap: true, runPath: RESOURCE_RUN }), `${RESOURCE_RUN}: bad run`);
    assert.equal(otlpMessage(refusal(`${w}.run: bad run`), w, PLACE, { nameField: "event_name", bodyIsMap: true, runPath: RECORD_RUN }), `${RECORD_RUN}: bad run`);
  });
});

/** The event writer's refusal of one field, as it reaches the OTLP service: its message and its violation. */
function refusal(text: string): { message: string; violations: Array<{ field: string; description: string }> } {
  const at = text.indexOf(": ");
  return { message: text, violations: [{ field: text.slice(0, at), description: text.slice(at + 2) }] };
}

describe("OTLP logs: the writer's field paths in OTLP terms", () => {
  const w = "log_records[4]";
  const cases: Array<[string, boolean, string, string]> = [
    ["map body", true, `${w}.generic.data.score: NaN is not a finite number`, `${PLACE.record}.body.score: NaN is not a finite number`],
    ["scalar body", false, `${w}.generic.data.body: NaN is not a finite number`, `${PLACE.record}.body: NaN is not a finite number`],
    ["nested scalar body", false, `${w}.generic.data.body[3]: x`, `${PLACE.record}.body[3]: x`],
    ["attribute", true, `${w}.generic.context.latency: Infinity is not a finite number`, `${PLACE.record}.attributes.latency: Infinity is not a finite number`],
    ["resource attribute", true, `${w}.generic.context.resource.cpu: NaN`, `resource_logs[0].resource.attributes.cpu: NaN`],
    ["event name", true, `${w}.generic.event_type: longer than 128 characters`, `${PLACE.record}.event_name: longer than 128 characters`],
    ["PII guard (no .generic)", true, `${w}.context.user_email: sensitive key: personal or secret data is not logged`, `${PLACE.record}.attributes.user_email: sensitive key: personal or secret data is not logged`],
    ["PII guard in a scalar body", false, `${w}.data.body: looks like an e-mail address`, `${PLACE.record}.body: looks like an e-mail address`],
    ["the whole record", true, `${w}: record of 2000000 bytes is over the limit`, `${PLACE.record}: record of 2000000 bytes is over the limit`],
    ["a field boundary", true, `${w}.generic.datapoint: x`, `${PLACE.record}.generic.datapoint: x`],
    ["another record", true, "log_records[40].generic.data.x: y", "log_records[40].generic.data.x: y"],
  ];
  for (const [name, bodyIsMap, writer, otlp] of cases) {
    it(name, () => assert.equal(otlpMessage(refusal(writer), w, PLACE, { nameField: "event_name", bodyIsMap }), otlp));
  }
  it("each field violation renamed, and a message about no field as it is", () => {
    const two = { message: "x", violations: [{ field: `${w}.generic.data.a`, description: "bad" }, { field: `${w}.generic.context.b`, description: "worse" }] };
    assert.equal(otlpMessage(two, w, PLACE, { nameField: "event_name", bodyIsMap: true }), `${PLACE.record}.body.a: bad; ${PLACE.record}.attributes.b: worse`);
    assert.equal(otlpMessage({ message: "queue full", violations: [] }, w, PLACE, { nameField: "event_name", bodyIsMap: true }), "queue full");
  });
  it("the event.name attribute when the name came from it", () => {
    assert.equal(otlpMessage(refusal(`${w}.generic.event_type: must not be empty`), w, PLACE, { nameField: "attributes.event.name", bodyIsMap: true }), `${PLACE.record}.attributes.event.name: must not be empty`);
  });
});

/** A store that keeps appended entries in memory and answers like the real one (dedup included). */
function memoryStore() {
  const lines: Array<{ event_id: string; seq: number } & Record<string, unknown>> = [];
  const byId = new Map<string, AppendResult>();
  let appends = 0;
  const store = {
    append(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
      appends++;
      return Promise.resolve(
        entries.map((e) => {
          const known = e.clientChosenId ? byId.get(e.eventId) : undefined;
          if (known) return { ...known, duplicate: true };
          const result = { seq: lines.length + 1, timestamp: "2026-11-30T10:00:00.000000+00:00", duplicate: false };
          lines.push({ event_id: e.eventId, ...(JSON.parse(`{${e.body}}`) as Record<string, unknown>), seq: result.seq });
          if (e.clientChosenId) byId.set(e.eventId, result);
          return result;
        }),
      );
    },
  };
  return { store: store as unknown as LogStore, lines, appends: () => appends };
}

function service(options: { limits?: Partial<EventLimits>; pii?: PiiMode; metadata?: Metadata } = {}) {
  const limits = { ...defaultEventLimits, ...options.limits };
  const mem = memoryStore();
  const writer = new EventWriter(mem.store, { limits, clock: systemClock, trustMetrics: () => Promise.reject(new Error("not used")) }, limits, createPiiGuard({ mode: options.pii ?? "redact", sensitiveKeys: defaultSensitiveKeys }));
  const impl = createOtlpLogsService({ writer, logRecordsMax: limits.batchEventsMax });
  const ctx = { signal: new AbortController().signal, metadata: options.metadata ?? new Metadata(), peer: "test", path: "/opentelemetry.proto.collector.logs.v1.LogsService/Export" };
  const exportLogs = async (init: MessageInitShape<typeof ExportLogsServiceRequestSchema>): Promise<ExportLogsServiceResponse> =>
    // The service answers with a message (EncodedMessage is the read side's).
    create(ExportLogsServiceResponseSchema, (await impl.export(create(ExportLogsServiceRequestSchema, init), ctx)) as MessageInitShape<typeof ExportLogsServiceResponseSchema>);
  return { exportLogs, ...mem };
}

const oneScope = (...logRecords: Array<MessageInitShape<typeof LogRecordSchema>>) => ({ resourceLogs: [{ scopeLogs: [{ logRecords }] }] });

describe("OTLP logs: Export with partial success", () => {
  it("writes every event of an export in one append, in order, across resources and scopes", async () => {
    const s = service();
    const res = await s.exportLogs({
      resourceLogs: [
        { resource: { attributes: attrs({ "service.name": str("a") }) }, scopeLogs: [{ logRecords: [{ eventName: "e1" }, { eventName: "e2" }] }, { logRecords: [{ eventName: "e3" }] }] },
        { resource: { attributes: attrs({ "service.name": str("b") }) }, scopeLogs: [{ logRecords: [{ eventName: "e4" }] }] },
      ],
    });
    assert.equal(res.partialSuccess, undefined);
    assert.equal(s.appends(), 1);
    assert.deepEqual(s.lines.map((l) => l.event_type), ["e1", "e2", "e3", "e4"]);
    assert.deepEqual(s.lines.map((l) => (l.context as { resource: Record<string, string> }).resource["service.name"]), ["a", "a", "a", "b"]);
  });

  it("counts records without an event name and invalid ones, names the first failure, and still writes the valid ones", async () => {
    const s = service();
    const res = await s.exportLogs({
      resourceLogs: [
        { scopeLogs: [{ logRecords: [{ eventName: "ok_1", body: kv({ a: dbl(1) }) }, { body: str("a plain log line") }] }] },
        {
          scopeLogs: [
            { logRecords: [] },
            { logRecords: [{ eventName: "bad_number", body: kv({ score: dbl(Number.NaN) }) }, { eventName: "ok_2" }, { eventName: "bad_attr", attributes: attrs({ x: dbl(Number.POSITIVE_INFINITY) }) }] },
          ],
        },
      ],
    });
    assert.equal(res.partialSuccess?.rejectedLogRecords, 3n);
    assert.equal(
      res.partialSuccess?.errorMessage,
      "3 of 5 log records rejected; first: resource_logs[0].scope_logs[0].log_records[1]: no event name: only events are learning records (set the record's event_name, or an event.name attribute)",
    );
    assert.deepEqual(s.lines.map((l) => l.event_type), ["ok_1", "ok_2"]);
  });

  it("names the first failure in request order when the writer refuses it (NaN in the body)", async () => {
    const s = service();
    const res = await s.exportLogs(oneScope({ eventName: "ok" }, { eventName: "bad", body: kv({ score: dbl(Number.NaN) }) }, { body: str("no name, later") }));
    assert.equal(res.partialSuccess?.rejectedLogRecords, 2n);
    assert.equal(res.partialSuccess?.errorMessage, "2 of 3 log records rejected; first: resource_logs[0].scope_logs[0].log_records[1].body.score: NaN is not a finite number (JSON cannot hold NaN or Infinity)");
    assert.deepEqual(s.lines.map((l) => l.event_type), ["ok"]);
  });

  it("applies the event limits: an event name too long, a record too large, nesting too deep", async () => {
    const s = service({ limits: { recordBytesMax: 2_000, nestingDepthMax: 3 } });
    let deep: AnyValueInit = str("leaf");
    for (let i = 0; i < 5; i++) deep = kv({ d: deep });
    const res = await s.exportLogs(oneScope({ eventName: "x".repeat(129) }, { eventName: "big", body: str("y".repeat(3_000)) }, { eventName: "deep", body: deep }, { eventName: "fine" }));
    assert.equal(res.partialSuccess?.rejectedLogRecords, 3n);
    assert.match(res.partialSuccess!.errorMessage, /first: resource_logs\[0\]\.scope_logs\[0\]\.log_records\[0\]\.event_name: longer than 128 characters$/);
    assert.deepEqual(s.lines.map((l) => l.event_type), ["fine"]);
  });

  it("refuses an export over the batch limit whole (INVALID_ARGUMENT), writing nothing", async () => {
    const s = service({ limits: { batchEventsMax: 2 } });
    await assert.rejects(
      s.exportLogs(oneScope({ eventName: "a" }, { eventName: "b" }, { body: str("no name counts too") })),
      (err: ServiceError) => err.code === status.INVALID_ARGUMENT && err.message.startsWith("resource_logs: 3 log records in one export, over the limit of 2"),
    );
    assert.equal(s.appends(), 0);
  });

  it("answers an empty export, or one of plain logs only, without writing", async () => {
    const s = service();
    assert.equal((await s.exportLogs({})).partialSuccess, undefined);
    const res = await s.exportLogs(oneScope({ body: str("one") }, { body: str("two") }));
    assert.equal(res.partialSuccess?.rejectedLogRecords, 2n);
    assert.equal(s.appends(), 0);
  });

  it("redacts personal data (a warning in partial_success, nothing rejected), or rejects it in reject mode", async () => {
    const redacting = service();
    const res = await redacting.exportLogs(oneScope({ eventName: "signup", attributes: attrs({ user_email: str("a@example.com") }) }));
    assert.equal(res.partialSuccess?.rejectedLogRecords, 0n);
    assert.equal(res.partialSuccess?.errorMessage, "1 of 1 log records written with values redacted by the PII guard; first: resource_logs[0].scope_logs[0].log_records[0].attributes.user_email");
    assert.deepEqual(redacting.lines[0].context, { user_email: "[REDACTED]" });

    const rejecting = service({ pii: "reject" });
    const refused = await rejecting.exportLogs(oneScope({ eventName: "signup", body: str("mail me at a@example.com") }, { eventName: "fine" }));
    assert.equal(refused.partialSuccess?.rejectedLogRecords, 1n);
    assert.match(refused.partialSuccess!.errorMessage, /first: resource_logs\[0\]\.scope_logs\[0\]\.log_records\[0\]\.body: looks like an e-mail address/);
    assert.deepEqual(rejecting.lines.map((l) => l.event_type), ["fine"]);
  });

  it("refuses the records of a resource whose run is invalid, naming the attribute, and writes the others", async () => {
    const s = service();
    const res = await s.exportLogs({
      resourceLogs: [
        { resource: { attributes: attrs({ "pulse.run.id": str('bad"run') }) }, scopeLogs: [{ logRecords: [{ eventName: "a" }, { eventName: "b", attributes: attrs({ "pulse.run.id": str("own") }) }] }] },
        { resource: { attributes: attrs({ "pulse.run.id": str("exp-1") }) }, scopeLogs: [{ logRecords: [{ eventName: "c" }] }] },
      ],
    });
    assert.equal(res.partialSuccess?.rejectedLogRecords, 1n);
    assert.match(res.partialSuccess!.errorMessage, /^1 of 3 log records rejected; first: resource_logs\[0\]\.resource\.attributes\.pulse\.run\.id: run must not contain/);
    assert.deepEqual(s.lines.map((l) => l.event_type), ["b", "c"]);
    for (const line of s.lines) assert.equal(JSON.stringify(line.context ?? {}).includes("pulse.run.id"), false, "the run is not copied into context");
  });

  it("writes the run as the record's run member, after data and context and before seq", async () => {
    const s = service();
    await s.exportLogs({
      resourceLogs: [
        { resource: { attributes: attrs({ "pulse.run.id": str("exp-42"), "service.name": str("t") }) }, scopeLogs: [{ logRecords: [{ eventName: "a" }, { eventName: "b", attributes: attrs({ "pulse.run.id": str("exp-43") }) }] }] },
        { scopeLogs: [{ logRecords: [{ eventName: "c" }] }] },
      ],
    });
    assert.deepEqual(s.lines.map((l) => [l.event_type, l.run]), [["a", "exp-42"], ["b", "exp-43"], ["c", undefined]]);
    assert.deepEqual(Object.keys(s.lines[0]), ["event_id", "event_type", "data", "context", "run", "seq"]); // the memory store leaves the timestamp out
    assert.deepEqual(Object.keys(s.lines[2]), ["event_id", "event_type", "data", "seq"]);
  });

  it("gives records that name no run the call's run (pulse-run metadata); their own or their resource's wins", async () => {
    const metadata = new Metadata();
    metadata.set("pulse-run", "from-call");
    const s = service({ metadata });
    await s.exportLogs({
      resourceLogs: [
        { scopeLogs: [{ logRecords: [{ eventName: "a" }, { eventName: "b", attributes: attrs({ "pulse.run.id": str("own") }) }] }] },
        { resource: { attributes: attrs({ "pulse.run.id": str("resource") }) }, scopeLogs: [{ logRecords: [{ eventName: "c" }] }] },
      ],
    });
    assert.deepEqual(s.lines.map((l) => [l.event_type, l.run]), [["a", "from-call"], ["b", "own"], ["c", "resource"]]);
    const bad = new Metadata();
    bad.set("pulse-run", 'x"y');
    await assert.rejects(service({ metadata: bad }).exportLogs(oneScope({ eventName: "a" })), (err: ServiceError) => err.code === status.INVALID_ARGUMENT && err.message.startsWith("metadata pulse-run: run must not contain"));
  });

  it("draws a new event_id for every record: identical events (same time, same content) are all written", async () => {
    const s = service();
    const same = { eventName: "rule_activation", timeUnixNano: 1_700_000_000_000_000_000n, body: kv({ rule_id: str("R1") }) };
    await s.exportLogs(oneScope(same, same));
    await s.exportLogs(oneScope(same));
    assert.equal(s.lines.length, 3);
    assert.equal(new Set(s.lines.map((l) => l.event_id)).size, 3);
  });

  it("answers UNAVAILABLE (OTLP's retry-with-backoff signal) when the write queue or disk is full; nothing is written", async () => {
    const s = service();
    const full = new ServiceError(status.RESOURCE_EXHAUSTED, "write queue full (67108864 bytes); retry later");
    (s.store as { append: LogStore["append"] }).append = () => Promise.reject(full);
    await assert.rejects(s.exportLogs(oneScope({ eventName: "e" })), (err: ServiceError) => err.code === status.UNAVAILABLE && err.message === full.message && err.cause === full);
    assert.equal(s.lines.length, 0);
    // Other failures keep their status.
    const broken = new ServiceError(status.UNAVAILABLE, "log storage failed (EIO); nothing was written");
    (s.store as { append: LogStore["append"] }).append = () => Promise.reject(broken);
    await assert.rejects(s.exportLogs(oneScope({ eventName: "e" })), (err: ServiceError) => err === broken);
  });
});
