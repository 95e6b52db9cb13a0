import type { JsonObject } from "@bufbuild/protobuf";
import type { KeyValue } from "../../gen/ts/opentelemetry/proto/common/v1/common_pb.js";
import type { LogRecord } from "../../gen/ts/opentelemetry/proto/logs/v1/logs_pb.js";
import type { Resource } from "../../gen/ts/opentelemetry/proto/resource/v1/resource_pb.js";
import type { LearningEvent } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError, type FieldViolation } from "../errors.js";
import { checkRun } from "../runs/call-run.js";
import { anyValueToJson, keyValuesToJson } from "./otlp-any-value.js";

/** The attribute older SDKs put the event name in, before LogRecord.event_name existed. */
export const EVENT_NAME_ATTRIBUTE = "event.name";

/**
 * The attribute that names a record's run: on the resource (every record of
 * the resource), or on the record itself, which overrides the resource's.
 */
export const RUN_ATTRIBUTE = "pulse.run.id";

/** Where one record sits in its export, as OTLP field paths. */
export interface RecordPlace {
  /** The record, e.g. `resource_logs[0].scope_logs[1].log_records[2]`. */
  readonly record: string;
  /** Its resource's group, e.g. `resource_logs[0]`. */
  readonly resource: string;
}

/** Where the event name came from, as an OTLP field path below the record. */
export type EventNameField = "event_name" | `attributes.${typeof EVENT_NAME_ATTRIBUTE}`;

/**
 * The record's event name: its event_name field, else a string `event.name`
 * attribute. Undefined when it has neither; INVALID_ARGUMENT when the
 * attribute is there but is not a string.
 */
export function eventNameOf(record: LogRecord, place: RecordPlace): { name: string; field: EventNameField } | undefined {
  if (record.eventName !== "") return { name: record.eventName, field: "event_name" };
  // The last one wins, as for every repeated key (keyValuesToJson).
  let i = record.attributes.length - 1;
  while (i >= 0 && record.attributes[i].key !== EVENT_NAME_ATTRIBUTE) i--;
  if (i < 0) return undefined;
  const value = record.attributes[i].value?.value;
  if (value?.case !== "stringValue") throw ServiceError.invalid(`${place.record}.attributes.${EVENT_NAME_ATTRIBUTE}`, `must be a string (the event name), not ${value?.case ?? "an empty value"}`);
  if (value.value === "") return undefined;
  return { name: value.value, field: `attributes.${EVENT_NAME_ATTRIBUTE}` };
}

/** Index of the last attribute named `key` (the one that wins, as in keyValuesToJson), or -1. */
function lastIndexOf(attributes: readonly KeyValue[], key: string): number {
  let i = attributes.length - 1;
  while (i >= 0 && attributes[i].key !== key) i--;
  return i;
}

/** Where a record's run came from, as an OTLP field path below the record or its resource group. */
export type RunField = `attributes.${typeof RUN_ATTRIBUTE}` | `resource.attributes.${typeof RUN_ATTRIBUTE}`;

/**
 * The record's run: its own `pulse.run.id` attribute, else its resource's.
 * Undefined when neither has one; INVALID_ARGUMENT naming the attribute when
 * the value in force is not a string or not a run id (1 to 128 printable
 * ASCII characters other than '"' and '\'). The event writer checks the
 * run again, like every event's.
 */
export function runOf(record: LogRecord, resource: Resource | undefined, place: RecordPlace): { run: string; field: RunField; path: string } | undefined {
  let attribute: KeyValue;
  let field: RunField;
  let path: string;
  const own = lastIndexOf(record.attributes, RUN_ATTRIBUTE);
  if (own >= 0) {
    attribute = record.attributes[own];
    field = `attributes.${RUN_ATTRIBUTE}`;
    path = `${place.record}.${field}`;
  } else {
    const shared = resource === undefined ? -1 : lastIndexOf(resource.attributes, RUN_ATTRIBUTE);
    if (shared < 0) return undefined;
    attribute = resource!.attributes[shared];
    field = `resource.attributes.${RUN_ATTRIBUTE}`;
    path = `${place.resource}.${field}`;
  }
  const value = attribute.value?.value;
  if (value?.case !== "stringValue") throw ServiceError.invalid(path, `must be a string (the run id), not ${value?.case ?? "an empty value"}`);
  // The rule every run is held to, in its words.
  return { run: checkRun(value.value, path), field, path };
}

/** The attributes without `pulse.run.id` (the run is the record's "run" member, not context); the same array when there is none. */
function withoutRun(attributes: readonly KeyValue[]): readonly KeyValue[] {
  return lastIndexOf(attributes, RUN_ATTRIBUTE) < 0 ? attributes : attributes.filter((kv) => kv.key !== RUN_ATTRIBUTE);
}

/** Context keys the mapping sets itself; an attribute of the same name would be overwritten. */
const RESERVED_CONTEXT_KEYS = ["resource", "trace_id", "span_id"] as const;

/** Hex of an id when it is set: the right length and not all zeros (OTLP's "no trace"). */
function idHex(id: Uint8Array, length: number): string | undefined {
  if (id.length !== length || id.every((b) => b === 0)) return undefined;
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("hex");
}

/** A record mapped to a learning event, with what naming its fields in OTLP terms needs. */
export interface MappedRecord {
  readonly event: LearningEvent;
  readonly nameField: EventNameField;
  /** The OTLP path of the run's attribute, when the record has a run. */
  readonly runPath?: string;
  /** True when the body was a key-value map (the record's data is the map itself). */
  readonly bodyIsMap: boolean;
}

/**
 * Maps one OTLP log record to the free-form event LogEvent writes:
 * event_type = the event name; data = the body when it is a key-value map,
 * else `{"body": <body>}` ({} without a body); context = the record's
 * attributes, with the resource's attributes under `resource` and
 * `trace_id`/`span_id` as hex when set; run = the `pulse.run.id` attribute
 * of the record, else of its resource ({@link runOf}), which is left out of
 * the context. Undefined for a record without an
 * event name (plain logs are not learning events). Throws INVALID_ARGUMENT,
 * naming the OTLP field, for what cannot be mapped; everything else
 * (the name's length, finite numbers, depth, size, the PII guard) is checked
 * by the event writer like every other event.
 */
export function logRecordToEvent(record: LogRecord, resource: Resource | undefined, place: RecordPlace): MappedRecord | undefined {
  const name = eventNameOf(record, place);
  if (name === undefined) return undefined;
  const run = runOf(record, resource, place);
  const body = record.body?.value;
  const bodyIsMap = body?.case === "kvlistValue";
  let data: JsonObject;
  if (body?.case === "kvlistValue") data = keyValuesToJson(body.value.values);
  else if (record.body === undefined) data = {};
  else data = { body: anyValueToJson(record.body) };
  const context = keyValuesToJson(withoutRun(record.attributes));
  for (const key of RESERVED_CONTEXT_KEYS) {
    if (key in context) throw ServiceError.invalid(`${place.record}.attributes.${key}`, `the name is taken: context.${key} holds the record's ${key === "resource" ? "resource attributes" : key}; rename the attribute`);
  }
  // Each record gets its own copy: the PII guard redacts in place.
  const resourceAttributes = resource === undefined ? undefined : keyValuesToJson(withoutRun(resource.attributes));
  if (resourceAttributes !== undefined && Object.keys(resourceAttributes).length > 0) context.resource = resourceAttributes;
  const traceId = idHex(record.traceId, 16);
  if (traceId !== undefined) context.trace_id = traceId;
  const spanId = idHex(record.spanId, 8);
  if (spanId !== undefined) context.span_id = spanId;
  // Built as the message it is, without create(): nothing to default or copy.
  // No event_id: OTLP records carry none (a new one is drawn, as for LogEvent without one).
  const event: LearningEvent = {
    $typeName: "pulse.learninglog.v1.LearningEvent",
    event: { case: "generic", value: { $typeName: "pulse.learninglog.v1.LogEventRequest", eventType: name.name, data, context } },
  };
  if (run === undefined) return { event, nameField: name.field, bodyIsMap };
  event.run = run.run;
  return { event, nameField: name.field, bodyIsMap, runPath: run.path };
}

/**
 * The OTLP field a field path of the event writer about one record names:
 * `writerPath` (e.g. `log_records[4]`) and what follows it
 * (`log_records[4].generic.data.score`) become the field the record's value
 * came from (`resource_logs[0].scope_logs[0].log_records[4].body.score`).
 * Paths about anything else come back unchanged.
 */
export function otlpField(path: string, writerPath: string, place: RecordPlace, mapped: Pick<MappedRecord, "nameField" | "bodyIsMap" | "runPath">): string {
  // Longest first: the first prefix that matches at a field boundary wins.
  // The writer names validated fields under `.generic` and guarded ones (PII) without it.
  const renames: Array<[string, string]> = [];
  if (mapped.runPath !== undefined) renames.push([`${writerPath}.run`, mapped.runPath]);
  for (const under of [".generic", ""]) {
    const w = writerPath + under;
    renames.push([`${w}.event_type`, `${place.record}.${mapped.nameField}`]);
    renames.push([`${w}.context.resource`, `${place.resource}.resource.attributes`]);
    renames.push([`${w}.context.trace_id`, `${place.record}.trace_id`]);
    renames.push([`${w}.context.span_id`, `${place.record}.span_id`]);
    renames.push([`${w}.context`, `${place.record}.attributes`]);
    if (!mapped.bodyIsMap) renames.push([`${w}.data.body`, `${place.record}.body`]);
    renames.push([`${w}.data`, `${place.record}.body`]);
  }
  renames.push([writerPath, place.record]);
  for (const [from, to] of renames) {
    if (!path.startsWith(from)) continue;
    const next = path.charAt(from.length);
    if (next === "" || next === "." || next === "[") return to + path.slice(from.length);
  }
  return path;
}

/** What the event writer refused of one record, in OTLP's fields: each field violation renamed by {@link otlpField}; the message as it is when it names no field. */
export function otlpMessage(error: { message: string; violations: readonly FieldViolation[] }, writerPath: string, place: RecordPlace, mapped: Pick<MappedRecord, "nameField" | "bodyIsMap" | "runPath">): string {
  if (error.violations.length === 0) return error.message;
  return error.violations.map((v) => `${otlpField(v.field, writerPath, place, mapped)}: ${v.description}`).join("; ");
}
