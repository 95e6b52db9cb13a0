import fc from "fast-check";
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** Writes some fields of a message onto a writer. */
export type Emit = (w: BinaryWriter) => void;

const LEN = WireType.LengthDelimited;

/** Strings that have broken line-oriented logs and parsers before. */
const nastyStrings = [
  "",
  "\n",
  "a\nb",
  "\r\n",
  "\u0000",
  "\u001f",
  "\u007f",
  "\u0085",
  "\u2028",
  "\u2029",
  "tab\there",
  '{"seq":1}\n{"seq":2}',
  "../../../../etc/passwd",
  "/etc/passwd",
  "\ud800",
  "__proto__",
  "constructor",
  "NaN",
  "x".repeat(300),
];

/** A string field's value: printable, any code point, a nasty one, or bytes that are not UTF-8 at all. */
function stringEmit(no: number, name: string): fc.Arbitrary<Emit> {
  const text = fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
    { weight: 2, arbitrary: fc.constantFrom(...nastyStrings) },
    // Names the server checks (event_id, event_type) get valid values often enough to pass.
    { weight: name === "event_id" ? 6 : 0, arbitrary: fc.uuid() },
    { weight: name === "event_type" ? 4 : 0, arbitrary: fc.stringMatching(/^[a-z_]{1,20}$/) },
  );
  return fc.oneof(
    { weight: 8, arbitrary: text.map((s): Emit => (w) => w.tag(no, LEN).string(s)) },
    // Invalid UTF-8 (a lone continuation byte, an overlong form, 0xff) where a string belongs.
    { weight: 1, arbitrary: fc.constantFrom([0xff], [0x80], [0xc0, 0xaf], [0x61, 0xed, 0xa0, 0x80]).map((b): Emit => (w) => w.tag(no, LEN).bytes(Uint8Array.from(b))) },
  );
}

function scalarEmit(no: number, type: ScalarType, name: string): fc.Arbitrary<Emit> {
  switch (type) {
    case ScalarType.STRING:
      return stringEmit(no, name);
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 16 }).map((v): Emit => (w) => w.tag(no, LEN).bytes(v));
    case ScalarType.DOUBLE:
      // fc.double() produces NaN, ±Infinity, -0 and subnormals among the rest.
      return fc.double().map((v): Emit => (w) => w.tag(no, WireType.Bit64).double(v));
    case ScalarType.FLOAT:
      return fc.float().map((v): Emit => (w) => w.tag(no, WireType.Bit32).float(v));
    case ScalarType.BOOL:
      return fc.boolean().map((v): Emit => (w) => w.tag(no, WireType.Varint).bool(v));
    case ScalarType.INT32:
      return fc.integer().map((v): Emit => (w) => w.tag(no, WireType.Varint).int32(v));
    case ScalarType.SINT32:
      return fc.integer().map((v): Emit => (w) => w.tag(no, WireType.Varint).sint32(v));
    case ScalarType.UINT32:
      return fc.integer({ min: 0, max: 0xffffffff }).map((v): Emit => (w) => w.tag(no, WireType.Varint).uint32(v));
    case ScalarType.FIXED32:
      return fc.integer({ min: 0, max: 0xffffffff }).map((v): Emit => (w) => w.tag(no, WireType.Bit32).fixed32(v));
    case ScalarType.SFIXED32:
      return fc.integer().map((v): Emit => (w) => w.tag(no, WireType.Bit32).sfixed32(v));
    case ScalarType.INT64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v): Emit => (w) => w.tag(no, WireType.Varint).int64(v));
    case ScalarType.SINT64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v): Emit => (w) => w.tag(no, WireType.Varint).sint64(v));
    case ScalarType.UINT64:
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v): Emit => (w) => w.tag(no, WireType.Varint).uint64(v));
    case ScalarType.FIXED64:
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v): Emit => (w) => w.tag(no, WireType.Bit64).fixed64(v));
    case ScalarType.SFIXED64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v): Emit => (w) => w.tag(no, WireType.Bit64).sfixed64(v));
  }
}

const nested = (no: number, inner: Emit): Emit => (w) => {
  w.tag(no, LEN).fork();
  inner(w);
  w.join();
};

const all = (emits: readonly Emit[]): Emit => (w) => emits.forEach((e) => e(w));

/**
 * Random, well-formed encodings of a message type, driven by its descriptor:
 * any subset of fields (repeated fields and maps up to 3 entries, at most
 * one member of each oneof usually, sometimes two), nested messages down to
 * `depth` levels (deeper ones are left empty). Values include NaN and
 * ±Infinity, nasty strings and, now and then, invalid UTF-8.
 */
export function messageEmit(message: DescMessage, depth: number, cache = new Map<string, fc.Arbitrary<Emit>>()): fc.Arbitrary<Emit> {
  const key = `${message.typeName}@${depth}`;
  const cached = cache.get(key);
  if (cached) return cached;
  if (depth <= 0) return fc.constant<Emit>(() => undefined);
  const fieldEmit = (field: DescField): fc.Arbitrary<Emit> => {
    const no = field.number;
    switch (field.fieldKind) {
      case "scalar":
        return scalarEmit(no, field.scalar, field.name);
      case "enum":
        return fc.integer({ min: -1, max: 4 }).map((v): Emit => (w) => w.tag(no, WireType.Varint).int32(v));
      case "message":
        return messageEmit(field.message, depth - 1, cache).map((inner) => nested(no, inner));
      case "list": {
        const element =
          field.listKind === "message"
            ? messageEmit(field.message, depth - 1, cache).map((inner) => nested(no, inner))
            : field.listKind === "enum"
              ? fc.integer({ min: -1, max: 4 }).map((v): Emit => (w) => w.tag(no, WireType.Varint).int32(v))
              : scalarEmit(no, field.scalar, field.name);
        return fc.array(element, { maxLength: 3 }).map(all);
      }
      case "map": {
        const keyEmit = scalarEmit(1, field.mapKey, "key");
        const valueEmit =
          field.mapKind === "message"
            ? messageEmit(field.message, depth - 1, cache).map((inner) => nested(2, inner))
            : field.mapKind === "enum"
              ? fc.integer({ min: -1, max: 4 }).map((v): Emit => (w) => w.tag(2, WireType.Varint).int32(v))
              : scalarEmit(2, field.scalar, "value");
        return fc.array(fc.tuple(keyEmit, valueEmit).map(([k, v]) => nested(no, all([k, v]))), { maxLength: 3 }).map(all);
      }
    }
  };
  const parts: Array<fc.Arbitrary<Emit>> = [];
  for (const member of message.members) {
    if (member.kind === "oneof") {
      const choices = member.fields.map(fieldEmit);
      // Usually one member; sometimes two (the last one on the wire wins).
      parts.push(fc.array(fc.oneof(...choices), { maxLength: 2 }).map(all));
    } else {
      parts.push(fc.option(fieldEmit(member), { nil: undefined, freq: 2 }).map((e): Emit => e ?? (() => undefined)));
    }
  }
  const arb = (parts.length === 0 ? fc.constant<Emit[]>([]) : fc.tuple(...parts)).map(all);
  cache.set(key, arb);
  return arb;
}

/** One byte-level change to an encoded message. */
export type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "cut"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
);

/** Applies mutations in order; positions wrap around the current length. */
export function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    switch (m.kind) {
      case "flip":
        if (at < out.length) out[at] ^= 1 << m.bit;
        break;
      case "set":
        if (at < out.length) out[at] = m.value;
        break;
      case "cut":
        out = out.subarray(0, at);
        break;
      case "insert":
        out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
        break;
      case "delete":
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
        break;
    }
  }
  return out;
}

/** Encodes an emitter's fields as a message. */
export const encode = (emit: Emit): Uint8Array => {
  const w = new BinaryWriter();
  emit(w);
  return w.finish();
};

/**
 * Request payloads for a method whose input is `message` (or any bytes when
 * the descriptor is unknown): well-formed random messages, the same with
 * bytes mutated, and plain random bytes.
 */
export function payloadArb(message: DescMessage | undefined, depth = 4): fc.Arbitrary<Uint8Array> {
  const random = fc.uint8Array({ maxLength: 64 });
  if (message === undefined) return random;
  const wellFormed = messageEmit(message, depth).map(encode);
  return fc.oneof(
    { weight: 4, arbitrary: wellFormed },
    { weight: 3, arbitrary: fc.tuple(wellFormed, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([b, m]) => mutate(b, m)) },
    { weight: 1, arbitrary: random },
  );
}
