import { ScalarType, type DescField, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import type { Value } from "@bufbuild/protobuf/wkt";
import { ServiceError } from "../errors.js";
import type { EventLimits } from "./limits.js";

/** Checks a decoded message; throws INVALID_ARGUMENT naming the first bad field. */
export type Validator = (message: unknown, path: string) => void;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const join = (path: string, name: string) => (path ? `${path}.${name}` : name);

/**
 * Rules for fields by their proto name, wherever they appear: the same name
 * means the same thing across every request message.
 */
function namedRule(name: string, limits: EventLimits): ((value: unknown, path: string) => void) | undefined {
  switch (name) {
    case "event_id":
      return (value, path) => {
        if (value !== undefined && !UUID.test(value as string)) throw ServiceError.invalid(path, "must be a UUID such as 3f1c2a9e-5b7d-4c1e-9a2b-0d6e8f4a1c3b");
      };
    case "event_type":
      return (value, path) => {
        const text = value as string;
        if (text.length === 0) throw ServiceError.invalid(path, "must not be empty");
        if (text.length > limits.eventTypeCharsMax) throw ServiceError.invalid(path, `longer than ${limits.eventTypeCharsMax} characters`);
        if (CONTROL.test(text)) throw ServiceError.invalid(path, "must not contain control characters or line breaks");
      };
    default:
      return undefined;
  }
}

function checkNumber(value: number, path: string): void {
  if (!Number.isFinite(value)) throw ServiceError.invalid(path, `${value} is not a finite number (JSON cannot hold NaN or Infinity)`);
}

/** Checks a JSON value (a Struct field): finite numbers, bounded nesting. */
export function checkJson(value: JsonValue, path: string, depth: number, limits: EventLimits): void {
  if (typeof value === "number") return checkNumber(value, path);
  if (value === null || typeof value !== "object") return;
  if (depth >= limits.nestingDepthMax) throw ServiceError.invalid(path, `nested deeper than ${limits.nestingDepthMax} levels`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkJson(value[i], `${path}[${i}]`, depth + 1, limits);
    return;
  }
  for (const key of Object.keys(value)) checkJson(value[key], join(path, key), depth + 1, limits);
}

/** Checks a google.protobuf.Value message and converts it to JSON. */
export function valueToJson(value: Value | undefined, path: string, depth: number, limits: EventLimits): JsonValue {
  if (value === undefined) return null;
  const kind = value.kind;
  switch (kind.case) {
    case "numberValue":
      checkNumber(kind.value, path);
      return kind.value;
    case "stringValue":
    case "boolValue":
      return kind.value;
    case "structValue": {
      if (depth >= limits.nestingDepthMax) throw ServiceError.invalid(path, `nested deeper than ${limits.nestingDepthMax} levels`);
      const out: Record<string, JsonValue> = Object.create(null) as Record<string, JsonValue>;
      for (const key of Object.keys(kind.value.fields)) out[key] = valueToJson(kind.value.fields[key], join(path, key), depth + 1, limits);
      return out;
    }
    case "listValue": {
      if (depth >= limits.nestingDepthMax) throw ServiceError.invalid(path, `nested deeper than ${limits.nestingDepthMax} levels`);
      return kind.value.values.map((v, i) => valueToJson(v, `${path}[${i}]`, depth + 1, limits));
    }
    default:
      return null;
  }
}

function fieldChecker(field: DescField, limits: EventLimits, compile: (m: DescMessage) => Validator): ((value: unknown, path: string) => void) | undefined {
  const named = namedRule(field.name, limits);
  if (named) return named;
  switch (field.fieldKind) {
    case "scalar":
      if (field.scalar === ScalarType.DOUBLE || field.scalar === ScalarType.FLOAT) {
        return (value, path) => {
          if (value !== undefined) checkNumber(value as number, path);
        };
      }
      return undefined;
    case "map":
      if (field.mapKind === "scalar" && (field.scalar === ScalarType.DOUBLE || field.scalar === ScalarType.FLOAT)) {
        return (value, path) => {
          const map = value as Record<string, number>;
          for (const key of Object.keys(map)) checkNumber(map[key], `${path}.${key}`);
        };
      }
      return undefined;
    case "list":
      if (field.listKind === "message") {
        const check = compile(field.message);
        return (value, path) => (value as unknown[]).forEach((item, i) => check(item, `${path}[${i}]`));
      }
      if (field.listKind === "scalar" && (field.scalar === ScalarType.DOUBLE || field.scalar === ScalarType.FLOAT)) {
        return (value, path) => (value as number[]).forEach((item, i) => checkNumber(item, `${path}[${i}]`));
      }
      return undefined;
    case "message":
      switch (field.message.typeName) {
        case "google.protobuf.Struct":
          return (value, path) => {
            if (value !== undefined) checkJson(value as JsonValue, path, 0, limits);
          };
        case "google.protobuf.Value":
          return (value, path) => {
            valueToJson(value as Value | undefined, path, 0, limits);
          };
        default: {
          const check = compile(field.message);
          return (value, path) => {
            if (value !== undefined) check(value, path);
          };
        }
      }
    default:
      return undefined;
  }
}

/**
 * Compiles, once per message type, a validator driven by the descriptor: every
 * double is finite, every Struct and Value is finite and bounded in depth,
 * event_id is a UUID, event_type is a short single-line name. Paths in errors
 * use the proto field names, e.g. `events[3].generic.data.scores.a`.
 */
export function createValidatorFactory(limits: EventLimits): (schema: DescMessage) => Validator {
  const cache = new Map<string, Validator>();
  const compile = (schema: DescMessage): Validator => {
    const cached = cache.get(schema.typeName);
    if (cached) return cached;
    const checks: Array<(message: Record<string, unknown>, path: string) => void> = [];
    // Registered before compiling fields so recursive messages terminate.
    const validator: Validator = (message, path) => {
      for (const check of checks) check(message as Record<string, unknown>, path);
    };
    cache.set(schema.typeName, validator);
    for (const member of schema.members) {
      if (member.kind === "oneof") {
        const byCase = new Map<string, { name: string; check: (value: unknown, path: string) => void }>();
        for (const field of member.fields) {
          const check = fieldChecker(field, limits, compile);
          if (check) byCase.set(field.localName, { name: field.name, check });
        }
        const local = member.localName;
        checks.push((message, path) => {
          const selected = message[local] as { case: string | undefined; value: unknown };
          const entry = selected.case === undefined ? undefined : byCase.get(selected.case);
          if (entry) entry.check(selected.value, join(path, entry.name));
        });
        continue;
      }
      const check = fieldChecker(member, limits, compile);
      if (!check) continue;
      const local = member.localName;
      const name = member.name;
      checks.push((message, path) => check(message[local], join(path, name)));
    }
    return validator;
  };
  return compile;
}
