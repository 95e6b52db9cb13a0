import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { AnyValue, KeyValue } from "../../gen/ts/opentelemetry/proto/common/v1/common_pb.js";

const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * An OTLP int_value as JSON: a number while it is exact as one (|n| <= 2^53 - 1),
 * else its decimal string, so no digit is lost (nanosecond times exceed 2^53).
 */
function intToJson(value: bigint): JsonValue {
  return value >= SAFE_MIN && value <= SAFE_MAX ? Number(value) : value.toString();
}

/**
 * An OTLP AnyValue as the JSON the record holds: strings, booleans and
 * doubles as they are, int_value as {@link intToJson}, bytes as a base64
 * string, lists as arrays, key-value lists as objects, an empty value as
 * null. Doubles are not checked here: NaN and the infinities are refused by
 * the same validation as every other event, naming the field.
 */
export function anyValueToJson(value: AnyValue | undefined): JsonValue {
  if (value === undefined) return null;
  const v = value.value;
  switch (v.case) {
    case "stringValue":
    case "boolValue":
    case "doubleValue":
      return v.value;
    case "intValue":
      return intToJson(v.value);
    case "bytesValue":
      return Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength).toString("base64");
    case "arrayValue":
      return v.value.values.map(anyValueToJson);
    case "kvlistValue":
      return keyValuesToJson(v.value.values);
    default:
      return null;
  }
}

/**
 * Key-value pairs (attributes, a kvlist body) as one JSON object. Keys are
 * unique by OTLP's rules; a sender that repeats one gets its last value.
 * A key `__proto__` is defined as an own property, an ordinary key: assigned,
 * it would set the object's prototype instead. (A plain object rather than
 * one without a prototype: V8 keeps those in its slow dictionary mode, which
 * cost every later step, the guard and the JSON encoding, ~15% more CPU.)
 */
export function keyValuesToJson(values: readonly KeyValue[]): JsonObject {
  const out: JsonObject = {};
  for (const kv of values) {
    if (kv.key === "__proto__") Object.defineProperty(out, kv.key, { value: anyValueToJson(kv.value), enumerable: true, writable: true, configurable: true });
    else out[kv.key] = anyValueToJson(kv.value);
  }
  return out;
}
