import { readFileSync } from "node:fs";
import { getComments, type Schema } from "@bufbuild/protoplugin";

// The descriptor types of the plugin's own protobuf runtime (protoplugin may
// carry another version than the project's).
type DescFile = Schema["files"][number];
type DescMessage = DescFile["messages"][number];
type DescField = DescMessage["fields"][number];
type DescService = DescFile["services"][number];

/** The proto file, message, oneof and service the events come from. */
export const EVENTS_FILE = "pulse/learninglog/v1/learning_log.proto";
const EVENT_MESSAGE = "pulse.learninglog.v1.LearningEvent";
const EVENT_ONEOF = "event";
const SERVICE = "pulse.learninglog.v1.LearningLogService";

/** A field's value, as the client surfaces type it. */
export type ValueKind =
  | { kind: "string" }
  | { kind: "number" }
  | { kind: "integer" }
  | { kind: "bool" }
  | { kind: "object" } // google.protobuf.Struct: a JSON object
  | { kind: "json" } // google.protobuf.Value: any JSON value
  | { kind: "numberMap" }; // map<string, double|float>

/** One argument of an event's methods: a field of its request message. */
export interface EventParameter {
  /** The proto field name (snake_case), also the TypeScript parameter's in camelCase. */
  readonly field: string;
  /** The TypeScript name (the field's JSON/local name). */
  readonly tsName: string;
  /** The Python name: the field's unless the table renames it. */
  readonly pyName: string;
  readonly value: ValueKind;
  /**
   * How the argument may be left out: "required"; "positional" (a trailing
   * optional positional argument, e.g. a free-form event's context); "field"
   * (a proto3 `optional` field: in TypeScript a member of the call's options
   * object, in Python a trailing parameter).
   */
  readonly presence: "required" | "positional" | "field";
  /** The Python default, when the table gives one (otherwise None for optional arguments). */
  readonly pyDefault?: string | number | boolean;
  /** The field's doc comment. */
  readonly doc: string;
}

/** One event: a case of LearningEvent's oneof, with its unary RPC and the table's row. */
export interface EventSurface {
  /** The oneof case (e.g. `variable_weight_change`). */
  readonly caseName: string;
  /** The case's TypeScript name (e.g. `variableWeightChange`). */
  readonly caseLocal: string;
  /** The method name on the Python surfaces (e.g. `log_variable_weight_change`). */
  readonly pyMethod: string;
  /** The method name on the TypeScript surfaces (e.g. `logVariableWeightChange`). */
  readonly tsMethod: string;
  /** The record's event_type, or null when the caller names it. */
  readonly eventType: string | null;
  /** The record's data, in words, for docs. */
  readonly data: string;
  /** What the request message is (its doc comment without the message's name). */
  readonly summary: string;
  /** An extra sentence for every method's doc. */
  readonly note?: string;
  /** True when the RPC's answer carries the metrics it logged (a TrustMetricsAck rather than an Ack). */
  readonly withMetrics: boolean;
  readonly parameters: readonly EventParameter[];
}

/** A row of the table (clients/event-surfaces.json). */
interface TableRow {
  eventType: string | null;
  data: string;
  optional?: string[];
  python?: { names?: Record<string, string>; defaults?: Record<string, string | number | boolean> };
  note?: string;
}

interface Table {
  events: Record<string, TableRow>;
}

/** Reads the table of what the proto cannot say. */
export function readTable(path: string): Table {
  const table = JSON.parse(readFileSync(path, "utf8")) as Table;
  if (typeof table.events !== "object" || table.events === null) throw new Error(`${path}: no "events" object`);
  return table;
}

// protobuf's ScalarType numbers (descriptor.proto's FieldDescriptorProto.Type).
const SCALAR_DOUBLE = 1;
const SCALAR_FLOAT = 2;
const SCALAR_BOOL = 8;
const SCALAR_STRING = 9;
const SCALAR_BYTES = 12;

function valueKind(field: DescField, where: string): ValueKind {
  switch (field.fieldKind) {
    case "scalar": {
      const t = Number(field.scalar);
      if (t === SCALAR_STRING) return { kind: "string" };
      if (t === SCALAR_BOOL) return { kind: "bool" };
      if (t === SCALAR_DOUBLE || t === SCALAR_FLOAT) return { kind: "number" };
      if (t === SCALAR_BYTES) break;
      return { kind: "integer" };
    }
    case "message":
      if (field.message.typeName === "google.protobuf.Struct") return { kind: "object" };
      if (field.message.typeName === "google.protobuf.Value") return { kind: "json" };
      break;
    case "map": {
      const key = Number(field.mapKey);
      const val = field.mapKind === "scalar" ? Number(field.scalar) : -1;
      if (key === SCALAR_STRING && (val === SCALAR_DOUBLE || val === SCALAR_FLOAT)) return { kind: "numberMap" };
      break;
    }
    default:
      break;
  }
  throw new Error(`${where}: no client type for this field kind; extend tools/client-surfaces/event-model.ts`);
}

function docOf(desc: Parameters<typeof getComments>[0]): string {
  return (getComments(desc).leading ?? "").replace(/\s+/g, " ").trim();
}

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

function unaryRpc(service: DescService, message: DescMessage): DescService["methods"][number] {
  const rpc = service.methods.find((m) => m.methodKind === "unary" && m.input.typeName === message.typeName);
  if (rpc === undefined) throw new Error(`no unary RPC of ${service.typeName} takes ${message.typeName}`);
  return rpc;
}

/**
 * The events of the proto file, in the oneof's order, joined with the
 * table's rows. Fails (naming the case) when the two disagree, so a new case
 * without its row, or a row without its case, stops the generation.
 */
export function eventSurfaces(file: DescFile, table: Table): EventSurface[] {
  const learningEvent = file.messages.find((m) => m.typeName === EVENT_MESSAGE);
  const service = file.services.find((s) => s.typeName === SERVICE);
  const oneof = learningEvent?.oneofs.find((o) => o.name === EVENT_ONEOF);
  if (learningEvent === undefined || service === undefined || oneof === undefined) throw new Error(`${file.name}: no ${EVENT_MESSAGE}.${EVENT_ONEOF} or ${SERVICE}`);
  const cases = new Set(oneof.fields.map((f) => f.name));
  for (const name of Object.keys(table.events)) {
    if (!cases.has(name)) throw new Error(`the table has a row "${name}" that is no case of ${EVENT_MESSAGE}.${EVENT_ONEOF}`);
  }
  return oneof.fields.map((caseField): EventSurface => {
    const row = table.events[caseField.name];
    if (row === undefined) throw new Error(`${EVENT_MESSAGE}.${EVENT_ONEOF} case "${caseField.name}" has no row in the table (clients/event-surfaces.json)`);
    if (caseField.fieldKind !== "message") throw new Error(`case "${caseField.name}" is not a message`);
    const request = caseField.message;
    const rpc = unaryRpc(service, request);
    const optional = new Set(row.optional ?? []);
    const names = row.python?.names ?? {};
    const defaults = row.python?.defaults ?? {};
    const parameters = request.fields
      .filter((f) => f.name !== "event_id")
      .map((f): EventParameter => {
        const where = `${request.typeName}.${f.name}`;
        const presence = optional.has(f.name) ? "positional" : f.proto.proto3Optional ? "field" : "required";
        const pyDefault = defaults[f.name];
        if (pyDefault !== undefined && presence === "required") throw new Error(`${where}: a Python default for a required field`);
        return {
          field: f.name,
          tsName: f.localName,
          pyName: names[f.name] ?? f.name,
          value: valueKind(f, where),
          presence,
          ...(pyDefault === undefined ? {} : { pyDefault }),
          doc: docOf(f),
        };
      });
    // Optional arguments come last (they are trailing parameters in Python).
    const firstOptional = parameters.findIndex((p) => p.presence !== "required");
    if (firstOptional >= 0 && parameters.slice(firstOptional).some((p) => p.presence === "required")) {
      throw new Error(`${request.typeName}: a required field follows an optional one; put optional fields last`);
    }
    const messageDoc = docOf(request);
    const prefix = `${request.name} is `;
    return {
      caseName: caseField.name,
      caseLocal: caseField.localName,
      pyMethod: snake(rpc.name),
      tsMethod: rpc.localName,
      eventType: row.eventType,
      data: row.data,
      summary: (messageDoc.startsWith(prefix) ? messageDoc.slice(prefix.length) : messageDoc).replace(/\.$/, ""),
      ...(row.note === undefined ? {} : { note: row.note }),
      withMetrics: rpc.output.fields.some((f) => f.name === "metrics"),
      parameters,
    };
  });
}
