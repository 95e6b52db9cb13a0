/**
 * Transcodes a google.protobuf.Struct or Value from its protobuf wire bytes
 * straight to the JSON text a record holds, checking on the way what the
 * decode-then-stringify path checks in four passes: nesting depth, NaN and
 * Infinity, the record size bound and the PII guard's keys and values.
 *
 * The output is byte for byte what today's path writes: protobuf-es's decode
 * (src/rpc/grpc-adapter.ts), the validator (src/guard/validator.ts), the PII
 * guard (src/guard/pii.ts) and jsonLine (src/record/json-text.ts: the one
 * JSON text writer, whose escapes and numbers this writes as bytes). Only the
 * shapes every encoder writes take the one-pass walk: each map entry a key
 * then a value, each Value one field, no unknown fields, no duplicate keys,
 * no array-index keys (a JS object lists those first, so the text would not
 * follow the wire order). Anything else, and every input that is refused
 * (bytes that do not decode, nesting too deep, NaN, PII in reject mode, over
 * the size bound), is handed to that reference path itself, so refusals are
 * the same errors with the same paths and messages as today's.
 *
 * One difference is by design: the bytes given are the whole Struct. When a
 * value inside runs past the Struct's declared length, protobuf-es reads on
 * into the enclosing message and reinterprets its bytes; here such bytes do
 * not decode (INTERNAL "request does not decode").
 *
 * Strings must be valid UTF-8: struct.proto is proto3, whose strings
 * protobuf-es decodes strictly, so invalid UTF-8 does not decode either.
 */
import { fromBinary, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { StructSchema, ValueSchema, type Struct, type Value } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { ServiceError } from "../errors.js";
import type { EventLimits } from "../guard/limits.js";
import { createPiiGuard, KEY_ANY, KEY_PLAIN, KEY_STRINGS, REDACTED, type PiiGuard, type PiiMode, type PiiOptions } from "../guard/pii.js";
import { checkJson, valueToJson } from "../guard/validator.js";
import { escapeExtraBytes, jsonLine, NUMBER_BYTES_MAX, writeEscapedUtf8, writeFiniteNumber } from "../record/json-text.js";
import { ByteSink } from "./byte-sink.js";

/** What the transcoder checks: the event limits it shares with the validator, and the PII guard's options. */
export interface StructJsonOptions {
  /** nestingDepthMax bounds objects and arrays; recordBytesMax bounds the JSON of one field. */
  limits: Pick<EventLimits, "nestingDepthMax" | "recordBytesMax">;
  /** The PII guard's mode and sensitive keys, as for createPiiGuard. */
  pii: PiiOptions;
}

/** Where a Struct or Value sits, for the paths of errors and redactions. */
export interface FieldPlace {
  /** The field's path in the request, named by validation errors: `data`, `events[3].generic.data`. */
  path: string;
  /** Where the value lands in the record, named by PII findings: `data`, `events[3].data.outcome`. */
  recordPath: string;
  /**
   * The nesting level of the Struct or Value message itself as protobuf-es
   * counts it while decoding the request (the request message is 1, so a
   * LogEventRequest's data is 2 and an IngestEventsRequest event's data 4):
   * decoding refuses levels past 100.
   */
  messageDepth: number;
}

/** What one transcoded Struct or Value came to. */
export interface StructJsonResult {
  /** UTF-8 bytes of the JSON written (after redaction). */
  bytes: number;
  /** UTF-8 bytes the JSON has before redaction: the record's size is checked against this first, as today. */
  unredactedBytes: number;
  /**
   * False when the JSON is larger than limits.recordBytesMax before or after
   * redaction: then nothing is written and the record is refused for its
   * size, with the exact byte counts above.
   */
  complete: boolean;
  /**
   * In reject mode, the PII guard's refusal: thrown by the caller once the
   * record's size has passed (today's order: size, then PII). Otherwise undefined.
   */
  piiError: ServiceError | undefined;
}

/** A {@link StructJsonResult} with the JSON as a string ("" when not complete). */
export interface StructJsonText extends StructJsonResult {
  text: string;
}

/**
 * Transcodes Struct and Value fields. To encode a record as today, a caller:
 * checks the fields before the Struct in field order (the validator's order);
 * transcodes each Struct (validation and decode errors are thrown, the same
 * ServiceError as today's); sums the record's unredacted bytes and refuses a
 * record over the limit (`<path or "event">: record of N bytes is over the
 * limit of M bytes`); throws the first piiError; then, if anything was
 * redacted, checks the redacted size the same way. A field absent from the
 * request is written as today without the transcoder (`{}` for data, `null`
 * for a Value); a Struct written as `{}` has no keys (context is then left out).
 */
export interface StructTranscoder {
  /** Appends the JSON object of the google.protobuf.Struct in `bytes[start, end)` to `sink`; redacted paths are appended to `redacted`. */
  structTo(sink: ByteSink, bytes: Uint8Array, start: number, end: number, place: FieldPlace, redacted: string[]): StructJsonResult;
  /** The same for a google.protobuf.Value (any JSON value; no field set is null). */
  valueTo(sink: ByteSink, bytes: Uint8Array, start: number, end: number, place: FieldPlace, redacted: string[]): StructJsonResult;
  /** {@link structTo}, returning the JSON as a string. */
  structText(bytes: Uint8Array, start: number, end: number, place: FieldPlace, redacted: string[]): StructJsonText;
  /** {@link valueTo}, returning the JSON as a string. */
  valueText(bytes: Uint8Array, start: number, end: number, place: FieldPlace, redacted: string[]): StructJsonText;
  /**
   * Throws the error decoding would give for these Struct (or Value) bytes,
   * if any: a request whose bytes do not decode is refused whole, before any
   * of its events is checked, so a caller that met a validation error still
   * looks for decode errors in the rest of the request.
   */
  assertDecodes(bytes: Uint8Array, start: number, end: number, root: "struct" | "value", messageDepth: number): void;
  /** How many Structs and Values took the one-pass walk, and how many the reference path (rare shapes, refusals). */
  readonly counts: { onePass: number; reference: number };
}

/** The decode refusal, exactly as the RPC adapter words it for a request that does not decode. */
function decodeError(err: unknown): ServiceError {
  const message = err instanceof Error ? err.message : "";
  if (/recursion depth/.test(message)) return ServiceError.invalid("request", "nested deeper than the 100 levels protobuf decoding allows");
  return new ServiceError(status.INTERNAL, "request does not decode", { cause: err });
}

/** protobuf-es refuses to decode messages nested deeper than this (its default recursionLimit). */
const DECODE_LEVELS_MAX = 100;

/** Sets a key as protobuf-es does: "__proto__" becomes an own property, not the prototype. */
function setOwn(target: JsonObject, key: string, value: JsonValue): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}

/** A Struct message as protobuf-es hands a Struct field to the service (its wktStructToLocal). */
function structToJson(struct: Struct): JsonObject {
  const json: JsonObject = {};
  for (const key of Object.keys(struct.fields)) setOwn(json, key, valueToLocal(struct.fields[key]));
  return json;
}

function valueToLocal(value: Value): JsonValue {
  switch (value.kind.case) {
    case "structValue":
      return structToJson(value.kind.value);
    case "listValue":
      return value.kind.value.values.map(valueToLocal);
    case "nullValue":
    case undefined:
      return null;
    default:
      return value.kind.value;
  }
}

const STRUCT = 0;
const VALUE = 1;
type Root = typeof STRUCT | typeof VALUE;

/** Thrown inside the one-pass walk to hand the input to the reference path; never leaves this module. */
const HAND_OVER: unique symbol = Symbol("hand over to the reference path");

// Wire tags (field number << 3 | wire type) of the shapes the walk reads.
const TAG_ENTRY = 0x0a; // Struct.fields, ListValue.values, map entry key: field 1, length-delimited
const TAG_ENTRY_VALUE = 0x12; // map entry value: field 2, length-delimited
const TAG_NULL = 0x08; // Value.null_value: field 1, varint
const TAG_NUMBER = 0x11; // Value.number_value: field 2, 64-bit
const TAG_STRING = 0x1a; // Value.string_value: field 3, length-delimited
const TAG_BOOL = 0x20; // Value.bool_value: field 4, varint
const TAG_STRUCT = 0x2a; // Value.struct_value: field 5, length-delimited
const TAG_LIST = 0x32; // Value.list_value: field 6, length-delimited

// What an ASCII byte means inside a JSON string, for the scan: plain, a
// digit or a separator of a maybe-card number, "@" of a maybe-address, or
// how many bytes its escape adds (\" \\ \n... add 1, \u00XX adds 5).
const PLAIN = 0;
const DIGIT = 1;
const SEPARATOR = 2;
const AT = 3;
const ESCAPE_1 = 4;
const ESCAPE_5 = 5;
const ASCII_CLASS = new Uint8Array(128);
for (let b = 0; b < 0x80; b++) {
  const extra = escapeExtraBytes(b);
  if (extra !== 0) ASCII_CLASS[b] = extra === 1 ? ESCAPE_1 : ESCAPE_5;
}
for (let b = 0x30; b <= 0x39; b++) ASCII_CLASS[b] = DIGIT;
ASCII_CLASS[0x20] = SEPARATOR;
ASCII_CLASS[0x2d] = SEPARATOR;
ASCII_CLASS[0x40] = AT;
/** Whether the bytes up to `i` end with "bearer", any case: the PII guard looks for a bearer credential after it. */
function endsBearer(src: Uint8Array, i: number): boolean {
  return (src[i - 1] | 0x20) === 0x65 && (src[i - 2] | 0x20) === 0x72 && (src[i - 3] | 0x20) === 0x61 && (src[i - 4] | 0x20) === 0x65 && (src[i - 5] | 0x20) === 0x62;
}

// The PII guard looks for card numbers in strings with 13 digits in a row,
// each pair at most one space or dash apart; shorter runs need no look.
const CARD_DIGITS_MIN = 13;

const NULL_BYTES = Buffer.from("null");
const TRUE_BYTES = Buffer.from("true");
const FALSE_BYTES = Buffer.from("false");
const REDACTED_BYTES = Buffer.from(JSON.stringify(REDACTED));

// A double read from the wire: eight bytes copied into a little-endian scratch.
const doubleBytes = new Uint8Array(8);
const doubleView = new Float64Array(doubleBytes.buffer);
const littleEndian = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

// The largest array index: keys "0" to "4294967294" are listed first, in numeric order, by a JS object.
const ARRAY_INDEX_MAX = 4294967294;
// Up to this many keys of a Struct are compared byte by byte for duplicates; more go in a Set.
const KEYS_COMPARED_MAX = 16;
// Key sensitivity is cached by key bytes: this many slots, for keys up to this long.
const KEY_CACHE_SLOTS = 1024;
const KEY_CACHE_BYTES_MAX = 64;


/**
 * The one-pass walk over a Struct or Value that has the common shape. State
 * lives in fields (one walker per transcoder; the walk is synchronous).
 */
class Walker {
  // Input and output of the walk in progress.
  private src: Uint8Array = new Uint8Array(0);
  /** A Buffer over src, made when text must be decoded (Buffer's UTF-8 decoding is cheaper per call than TextDecoder's). */
  private srcText: Buffer | undefined;
  private sink: ByteSink = new ByteSink(16);
  private out: Buffer = this.sink.buf;
  private op = 0;
  /** Writing past here needs the buffer to grow, or is past the size bound. */
  private room = 0;
  /** The size bound: writing past this offset hands over. */
  private bound = 0;
  /** Position after the last varint read. */
  private ip = 0;
  /** Bytes of unredacted JSON minus bytes written, for the size checked before redaction. */
  private shrunk = 0;
  private redacted: string[] = [];
  private recordPath = "";
  /** Above 0 inside a value under a sensitive key: the PII guard does not look there. */
  private piiOff = 0;
  // The path of the value being written, for PII findings: per level a key's bytes or an index.
  private readonly pathKey: boolean[] = [];
  private readonly pathA: number[] = [];
  private readonly pathB: number[] = [];
  private pathLen = 0;
  // Byte ranges of the keys of the Structs being written, for finding duplicates.
  private readonly keys: number[] = [];
  private keysLen = 0;
  // The last text scan: bytes its escapes add, whether the PII guard must look at it.
  private extra = 0;
  private suspect = false;
  // Key sensitivity by key bytes.
  private readonly cachedKeys: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(KEY_CACHE_SLOTS).fill(undefined);
  private readonly cachedSensitive = new Uint8Array(KEY_CACHE_SLOTS);
  private readonly probe: PiiGuard;
  private readonly mode: PiiMode;

  constructor(
    private readonly depthMax: number,
    private readonly guard: PiiGuard,
    pii: PiiOptions,
  ) {
    this.mode = pii.mode;
    // Asks the guard itself whether a key is sensitive (once per key): same answer by construction.
    this.probe = createPiiGuard({ mode: "redact", sensitiveKeys: pii.sensitiveKeys });
  }

  /** Walks a Struct (root STRUCT) or Value; returns false, having written nothing, when the input needs the reference path. */
  run(root: Root, sink: ByteSink, src: Uint8Array, start: number, end: number, place: FieldPlace, redacted: string[], bytesMax: number, result: StructJsonResult): boolean {
    const base = sink.length;
    const redactedBase = redacted.length;
    this.src = src;
    this.srcText = undefined;
    this.sink = sink;
    this.out = sink.buf;
    this.op = base;
    this.bound = base + bytesMax;
    this.room = Math.min(this.out.length, this.bound);
    this.shrunk = 0;
    this.redacted = redacted;
    this.recordPath = place.recordPath;
    this.piiOff = 0;
    this.pathLen = 0;
    this.keysLen = 0;
    try {
      if (root === STRUCT) this.struct(start, end, 0, place.messageDepth);
      else this.value(start, end, 0, place.messageDepth);
      const bytes = this.op - base;
      result.bytes = bytes;
      result.unredactedBytes = bytes + this.shrunk;
      result.complete = result.unredactedBytes <= bytesMax;
      result.piiError = undefined;
      sink.length = result.complete ? this.op : base;
      // A record refused for its size reports no redactions, as today's (the guard runs after the size check).
      if (!result.complete) redacted.length = redactedBase;
      return true;
    } catch (err) {
      if (err !== HAND_OVER) throw err;
      sink.length = base;
      redacted.length = redactedBase;
      return false;
    } finally {
      // Keep no reference to the request's bytes.
      this.src = EMPTY;
      this.srcText = undefined;
    }
  }

  private handOver(): never {
    throw HAND_OVER;
  }

  /** Reads a length varint at p (before end); sets ip after it. */
  private length(p: number, end: number): number {
    const src = this.src;
    if (p >= end) this.handOver();
    let b = src[p++];
    if (b < 0x80) {
      this.ip = p;
      return b;
    }
    let v = b & 0x7f;
    for (let shift = 7; shift < 28; shift += 7) {
      if (p >= end) this.handOver();
      b = src[p++];
      v |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.ip = p;
        return v;
      }
    }
    if (p >= end) this.handOver();
    b = src[p++];
    if (b > 0x0f) this.handOver();
    this.ip = p;
    return (v | (b << 28)) >>> 0;
  }

  private grow(bytes: number): void {
    if (this.op + bytes > this.bound) this.handOver();
    this.sink.length = this.op;
    this.out = this.sink.reserve(bytes);
    this.room = Math.min(this.out.length, this.bound);
  }

  private put(bytes: Buffer): void {
    if (this.op + bytes.length > this.room) this.grow(bytes.length);
    const out = this.out;
    for (let i = 0; i < bytes.length; i++) out[this.op++] = bytes[i];
  }

  private byte(b: number): void {
    if (this.op >= this.room) this.grow(1);
    this.out[this.op++] = b;
  }

  private struct(start: number, end: number, depth: number, level: number): void {
    if (level > DECODE_LEVELS_MAX || depth >= this.depthMax) this.handOver();
    const src = this.src;
    this.byte(0x7b); // {
    const keysBase = this.keysLen;
    let seen: Set<string> | undefined;
    let p = start;
    let count = 0;
    while (p < end) {
      if (src[p] !== TAG_ENTRY) this.handOver();
      const entryLength = this.length(p + 1, end);
      const entryStart = this.ip;
      const entryEnd = entryStart + entryLength;
      // An entry without a key (key "") or in another order is rare: the reference path reads it.
      if (entryEnd > end || entryStart >= entryEnd || src[entryStart] !== TAG_ENTRY) this.handOver();
      const keyLength = this.length(entryStart + 1, entryEnd);
      const keyStart = this.ip;
      const keyEnd = keyStart + keyLength;
      if (keyEnd > entryEnd) this.handOver();
      let valueStart = keyEnd;
      if (keyEnd < entryEnd) {
        if (src[keyEnd] !== TAG_ENTRY_VALUE) this.handOver();
        const valueLength = this.length(keyEnd + 1, entryEnd);
        valueStart = this.ip;
        if (valueStart + valueLength !== entryEnd) this.handOver();
      }
      if (count > 0) this.byte(0x2c); // ,
      this.key(keyStart, keyEnd);
      seen = this.checkUnique(keysBase, keyStart, keyEnd, seen);
      this.pathKey[this.pathLen] = true;
      this.pathA[this.pathLen] = keyStart;
      this.pathB[this.pathLen++] = keyEnd;
      // A key ending with a sensitive term hides any value but a boolean (null is
      // left by sensitiveValue); one with a term inside it hides strings only.
      const keyClass = this.piiOff === 0 && this.mode !== "off" ? this.keyClass(keyStart, keyEnd) : KEY_PLAIN;
      const tag = valueStart < entryEnd ? src[valueStart] : -1;
      if ((keyClass === KEY_ANY && tag !== TAG_BOOL) || (keyClass === KEY_STRINGS && tag === TAG_STRING)) this.sensitiveValue(valueStart, entryEnd, depth + 1, level + 1);
      else this.value(valueStart, entryEnd, depth + 1, level + 1);
      this.pathLen--;
      count++;
      p = entryEnd;
    }
    this.byte(0x7d); // }
    this.keysLen = keysBase;
  }

  private list(start: number, end: number, depth: number, level: number): void {
    if (level > DECODE_LEVELS_MAX || depth >= this.depthMax) this.handOver();
    const src = this.src;
    this.byte(0x5b); // [
    let p = start;
    let index = 0;
    while (p < end) {
      if (src[p] !== TAG_ENTRY) this.handOver();
      const itemLength = this.length(p + 1, end);
      const itemStart = this.ip;
      const itemEnd = itemStart + itemLength;
      if (itemEnd > end) this.handOver();
      if (index > 0) this.byte(0x2c); // ,
      this.pathKey[this.pathLen] = false;
      this.pathA[this.pathLen++] = index;
      this.value(itemStart, itemEnd, depth + 1, level + 1);
      this.pathLen--;
      index++;
      p = itemEnd;
    }
    this.byte(0x5d); // ]
  }

  private value(start: number, end: number, depth: number, level: number): void {
    if (level > DECODE_LEVELS_MAX) this.handOver();
    if (start === end) return this.put(NULL_BYTES); // no field set
    const src = this.src;
    switch (src[start]) {
      case TAG_NUMBER:
        if (end - start !== 9) this.handOver();
        return this.number(start + 1);
      case TAG_STRING: {
        const length = this.length(start + 1, end);
        if (this.ip + length !== end) this.handOver();
        return this.string(this.ip, end);
      }
      case TAG_BOOL:
        if (end - start !== 2 || src[start + 1] >= 0x80) this.handOver();
        return this.put(src[start + 1] === 0 ? FALSE_BYTES : TRUE_BYTES);
      case TAG_NULL:
        if (end - start !== 2 || src[start + 1] >= 0x80) this.handOver();
        return this.put(NULL_BYTES);
      case TAG_STRUCT: {
        const length = this.length(start + 1, end);
        if (this.ip + length !== end) this.handOver();
        return this.struct(this.ip, end, depth, level + 1);
      }
      case TAG_LIST: {
        const length = this.length(start + 1, end);
        if (this.ip + length !== end) this.handOver();
        return this.list(this.ip, end, depth, level + 1);
      }
      default:
        this.handOver();
    }
  }

  /** A value under a sensitive key: written (so it is checked and its unredacted size known), then replaced. */
  private sensitiveValue(start: number, end: number, depth: number, level: number): void {
    const mark = this.op;
    this.piiOff++;
    this.value(start, end, depth, level);
    this.piiOff--;
    // The guard leaves null under a sensitive key; nothing else written is 4 bytes starting with "n".
    if (this.op - mark === 4 && this.out[mark] === 0x6e) return;
    if (this.mode === "reject") this.handOver();
    this.shrunk += this.op - mark - REDACTED_BYTES.length;
    this.op = mark;
    this.put(REDACTED_BYTES);
    this.found();
  }

  /** Records the current path as redacted, as the guard does (once in a row). */
  private found(): void {
    const path = this.pathHere();
    if (this.redacted[this.redacted.length - 1] !== path) this.redacted.push(path);
  }

  private pathHere(): string {
    let path = this.recordPath;
    for (let i = 0; i < this.pathLen; i++) path += this.pathKey[i] ? `.${this.decode(this.pathA[i], this.pathB[i])}` : `[${this.pathA[i]}]`;
    return path;
  }

  private decode(start: number, end: number): string {
    // Only validated UTF-8 is decoded here: keys and strings already written.
    const src = this.src;
    this.srcText ??= Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    return this.srcText.toString("utf8", start, end);
  }

  private number(p: number): void {
    const src = this.src;
    if (littleEndian) for (let i = 0; i < 8; i++) doubleBytes[i] = src[p + i];
    else for (let i = 0; i < 8; i++) doubleBytes[i] = src[p + 7 - i];
    const v = doubleView[0];
    // NaN and the infinities are refused: the reference path words the error.
    if (v - v !== 0) this.handOver();
    if (this.op + NUMBER_BYTES_MAX > this.room) this.grow(NUMBER_BYTES_MAX);
    this.op = writeFiniteNumber(this.out, this.op, v);
  }

  /** Hands over on a key that is an array index ("0" to "4294967294", no leading zero): a JS object lists those first. */
  private checkNotIndex(start: number, end: number): void {
    const src = this.src;
    const first = src[start];
    if (end - start <= 10 && (first !== 0x30 || end - start === 1)) {
      let n = 0;
      for (let i = start; i < end; i++) {
        const d = src[i] - 0x30;
        if (d < 0 || d > 9) return;
        n = n * 10 + d;
      }
      if (n <= ARRAY_INDEX_MAX) this.handOver();
    }
  }

  /** Hands over on a key met before in this Struct (a JS object keeps the first's place and the last's value). */
  private checkUnique(keysBase: number, start: number, end: number, seen: Set<string> | undefined): Set<string> | undefined {
    if (seen !== undefined) {
      const key = this.decode(start, end);
      if (seen.has(key)) this.handOver();
      seen.add(key);
      return seen;
    }
    const src = this.src;
    const keys = this.keys;
    const length = end - start;
    for (let k = keysBase; k < this.keysLen; k += 2) {
      const otherStart = keys[k];
      if (keys[k + 1] - otherStart !== length) continue;
      let same = true;
      for (let i = 0; i < length; i++) {
        if (src[otherStart + i] !== src[start + i]) {
          same = false;
          break;
        }
      }
      if (same) this.handOver();
    }
    if (this.keysLen - keysBase < 2 * KEYS_COMPARED_MAX) {
      keys[this.keysLen++] = start;
      keys[this.keysLen++] = end;
      return undefined;
    }
    // A large Struct: its keys so far, and the ones to come, go in a Set.
    const set = new Set<string>();
    for (let k = keysBase; k < this.keysLen; k += 2) set.add(this.decode(keys[k], keys[k + 1]));
    set.add(this.decode(start, end));
    return set;
  }

  /** How the PII guard treats the key's value (a KeyClass), cached by the key's bytes. */
  private keyClass(start: number, end: number): number {
    const src = this.src;
    const length = end - start;
    // A slot from the length and three bytes: keys are compared in full below anyway.
    const slot = length === 0 ? 0 : (length * 31 + src[start] * 7 + src[start + (length >> 1)] * 3 + src[end - 1]) & (KEY_CACHE_SLOTS - 1);
    const cached = this.cachedKeys[slot];
    if (cached !== undefined && cached.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (cached[i] !== src[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.cachedSensitive[slot];
    }
    // The guard's verdict on a number under the key, then on a string: any value, strings only, or none.
    const key = this.decode(start, end);
    const hides = (value: JsonValue): boolean => {
      const probe: JsonObject = Object.create(null) as JsonObject;
      probe[key] = value;
      const hits: string[] = [];
      this.probe(probe, "", hits);
      return hits.length > 0;
    };
    const keyClass = hides(0) ? KEY_ANY : hides("") ? KEY_STRINGS : KEY_PLAIN;
    if (length <= KEY_CACHE_BYTES_MAX) {
      this.cachedKeys[slot] = src.slice(start, end);
      this.cachedSensitive[slot] = keyClass;
    }
    return keyClass;
  }

  /**
   * Writes a key and its colon. Printable ASCII without quote or backslash
   * (nearly every key) is checked while it is copied; other keys are scanned first.
   */
  private key(start: number, end: number): void {
    const src = this.src;
    const first = src[start];
    if (end > start && first >= 0x30 && first <= 0x39) this.checkNotIndex(start, end);
    if (this.op + end - start + 3 > this.room) this.grow(end - start + 3);
    const out = this.out;
    let op = this.op;
    out[op++] = 0x22;
    for (let i = start; i < end; i++) {
      const b = src[i];
      if (b < 0x20 || b === 0x22 || b === 0x5c || b >= 0x80) {
        this.scanText(start, end);
        this.quoted(start, end);
        this.byte(0x3a); // :
        return;
      }
      out[op++] = b;
    }
    out[op++] = 0x22;
    out[op++] = 0x3a; // :
    this.op = op;
  }

  /**
   * Writes a string value. Printable ASCII without quote or backslash is
   * copied as it is checked, noting what would make the PII guard look;
   * other strings, and those the guard must see, take {@link stringSlow}.
   */
  private string(start: number, end: number): void {
    if (this.op + end - start + 2 > this.room) this.grow(end - start + 2);
    const src = this.src;
    const out = this.out;
    let op = this.op;
    let digits = 0;
    let suspect = false;
    out[op++] = 0x22;
    for (let i = start; i < end; i++) {
      const b = src[i];
      if (b < 0x20 || b === 0x22 || b === 0x5c || b >= 0x80) return this.stringSlow(start, end);
      out[op++] = b;
      // Digits, space, dash and "@" are all below "A".
      if (b < 0x41) {
        if (b >= 0x30 && b <= 0x39) {
          if (++digits >= CARD_DIGITS_MIN) suspect = true;
        } else if (b === 0x40) {
          suspect = true;
          digits = 0;
        } else if (b !== 0x20 && b !== 0x2d) {
          digits = 0;
        }
      } else {
        digits = 0;
        if ((b | 0x20) === 0x72 && i - start >= 5 && endsBearer(src, i)) suspect = true;
      }
    }
    if (suspect && this.piiOff === 0 && this.mode !== "off") return this.stringSlow(start, end);
    out[op++] = 0x22;
    this.op = op;
  }

  private stringSlow(start: number, end: number): void {
    this.scanText(start, end);
    if (this.suspect && this.piiOff === 0 && this.mode !== "off" && this.scrubbed(start, end)) return;
    this.quoted(start, end);
  }

  /**
   * A string that may hold an e-mail address or a card number: the guard
   * itself decides. True when it redacted something (and it is written).
   */
  private scrubbed(start: number, end: number): boolean {
    const text = this.decode(start, end);
    const path = this.pathHere();
    let clean: string;
    if (this.mode === "reject") {
      try {
        clean = this.guard(text, path, this.redacted) as string;
      } catch {
        return this.handOver();
      }
    } else {
      clean = this.guard(text, path, this.redacted) as string;
    }
    if (clean === text) return false;
    const json = jsonLine(clean);
    const bytes = Buffer.byteLength(json);
    if (this.op + bytes > this.room) this.grow(bytes);
    this.op += this.out.write(json, this.op, "utf8");
    this.shrunk += end - start + this.extra + 2 - bytes;
    return true;
  }

  /**
   * Scans text bytes: valid UTF-8 as protobuf-es's strict decoder wants it
   * (else hand over), the bytes escapes add (control characters, quote,
   * backslash, and U+0085, U+2028, U+2029 that jsonLine escapes), and
   * whether the PII guard must look (an "@", or 13 digits close together).
   */
  private scanText(start: number, end: number): void {
    const src = this.src;
    let extra = 0;
    let digits = 0;
    let suspect = false;
    for (let i = start; i < end; i++) {
      const b = src[i];
      if (b < 0x80) {
        const c = ASCII_CLASS[b];
        if (c === PLAIN) {
          digits = 0;
          if ((b | 0x20) === 0x72 && i - start >= 5 && endsBearer(src, i)) suspect = true;
        } else if (c === DIGIT) {
          if (++digits >= CARD_DIGITS_MIN) suspect = true;
        } else if (c !== SEPARATOR) {
          digits = 0;
          if (c === AT) suspect = true;
          else extra += c === ESCAPE_1 ? 1 : 5;
        }
        continue;
      }
      digits = 0;
      if (b < 0xc2) this.handOver();
      if (b < 0xe0) {
        if (i + 1 >= end || (src[i + 1] & 0xc0) !== 0x80) this.handOver();
        if (b === 0xc2 && src[i + 1] === 0x85) extra += 4; // U+0085 -> \u0085
        i += 1;
        continue;
      }
      if (b < 0xf0) {
        if (i + 2 >= end) this.handOver();
        const c1 = src[i + 1];
        if ((src[i + 2] & 0xc0) !== 0x80) this.handOver();
        if (b === 0xe0 ? c1 < 0xa0 || c1 > 0xbf : b === 0xed ? c1 < 0x80 || c1 > 0x9f : (c1 & 0xc0) !== 0x80) this.handOver();
        if (b === 0xe2 && c1 === 0x80 && (src[i + 2] === 0xa8 || src[i + 2] === 0xa9)) extra += 3; // U+2028/9 -> \u2028/9
        i += 2;
        continue;
      }
      if (b > 0xf4 || i + 3 >= end) this.handOver();
      const c1 = src[i + 1];
      if ((src[i + 2] & 0xc0) !== 0x80 || (src[i + 3] & 0xc0) !== 0x80) this.handOver();
      if (b === 0xf0 ? c1 < 0x90 || c1 > 0xbf : b === 0xf4 ? c1 < 0x80 || c1 > 0x8f : (c1 & 0xc0) !== 0x80) this.handOver();
      i += 3;
    }
    this.extra = extra;
    this.suspect = suspect;
  }

  /** Writes scanned text as a JSON string, escaped as jsonLine escapes it. */
  private quoted(start: number, end: number): void {
    const bytes = end - start + this.extra + 2;
    if (this.op + bytes > this.room) this.grow(bytes);
    const src = this.src;
    const out = this.out;
    let op = this.op;
    out[op++] = 0x22;
    if (this.extra === 0) {
      if (end - start > 64) {
        out.set(src.subarray(start, end), op);
        op += end - start;
      } else {
        for (let i = start; i < end; i++) out[op++] = src[i];
      }
    } else {
      op = writeEscapedUtf8(src, start, end, out, op);
    }
    out[op++] = 0x22;
    this.op = op;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Decodes as the request's decode would: a Struct as the JSON object
 * protobuf-es hands the service, a Value as its message; or today's ServiceError.
 */
function decode(root: Root, src: Uint8Array, start: number, end: number, messageDepth: number): JsonObject | Value {
  // protobuf-es counts levels from the message it decodes: start the budget where the field sits.
  const read = { recursionLimit: DECODE_LEVELS_MAX + 1 - messageDepth };
  const bytes = src.subarray(start, end);
  try {
    return root === STRUCT ? structToJson(fromBinary(StructSchema, bytes, read)) : fromBinary(ValueSchema, bytes, read);
  } catch (err) {
    throw decodeError(err);
  }
}

/** Builds a transcoder for one set of limits and PII options (build once, use for every request). */
export function createStructTranscoder(options: StructJsonOptions): StructTranscoder {
  const { nestingDepthMax, recordBytesMax } = options.limits;
  // The validator reads nestingDepthMax only.
  const limits = options.limits as EventLimits;
  const guard = createPiiGuard(options.pii);
  const walker = new Walker(nestingDepthMax, guard, options.pii);
  const scratch = new ByteSink();
  const counts = { onePass: 0, reference: 0 };

  /** Today's path on the same bytes: decode with protobuf-es, validate, size, PII, jsonLine. */
  const reference = (root: Root, sink: ByteSink, src: Uint8Array, start: number, end: number, place: FieldPlace, redacted: string[]): StructJsonResult => {
    const message = decode(root, src, start, end, place.messageDepth);
    let json = root === STRUCT ? (message as JsonObject) : valueToJson(message as Value, place.path, 0, limits);
    if (root === STRUCT) checkJson(json, place.path, 0, limits);
    const text = jsonLine(json);
    const unredactedBytes = Buffer.byteLength(text);
    if (unredactedBytes > recordBytesMax) return { bytes: unredactedBytes, unredactedBytes, complete: false, piiError: undefined };
    if (options.pii.mode === "off") {
      sink.writeString(text);
      return { bytes: unredactedBytes, unredactedBytes, complete: true, piiError: undefined };
    }
    try {
      json = guard(json, place.recordPath, redacted) ?? null;
    } catch (err) {
      if (!(err instanceof ServiceError)) throw err;
      sink.writeString(text);
      return { bytes: unredactedBytes, unredactedBytes, complete: true, piiError: err };
    }
    const out = jsonLine(json);
    const bytes = Buffer.byteLength(out);
    if (bytes > recordBytesMax) return { bytes, unredactedBytes, complete: false, piiError: undefined };
    sink.writeString(out);
    return { bytes, unredactedBytes, complete: true, piiError: undefined };
  };

  const transcode = (root: Root, sink: ByteSink, src: Uint8Array, start: number, end: number, place: FieldPlace, redacted: string[]): StructJsonResult => {
    if (start < 0 || end > src.length || start > end) throw new RangeError(`bytes [${start}, ${end}) are not inside the ${src.length} bytes given`);
    const result: StructJsonResult = { bytes: 0, unredactedBytes: 0, complete: false, piiError: undefined };
    if (walker.run(root, sink, src, start, end, place, redacted, recordBytesMax, result)) {
      counts.onePass++;
      return result;
    }
    counts.reference++;
    return reference(root, sink, src, start, end, place, redacted);
  };

  const asText = (root: Root, src: Uint8Array, start: number, end: number, place: FieldPlace, redacted: string[]): StructJsonText => {
    scratch.reset();
    const { bytes, unredactedBytes, complete, piiError } = transcode(root, scratch, src, start, end, place, redacted);
    return { text: complete ? scratch.text(0, scratch.length) : "", bytes, unredactedBytes, complete, piiError };
  };

  return {
    structTo: (sink, bytes, start, end, place, redacted) => transcode(STRUCT, sink, bytes, start, end, place, redacted),
    valueTo: (sink, bytes, start, end, place, redacted) => transcode(VALUE, sink, bytes, start, end, place, redacted),
    structText: (bytes, start, end, place, redacted) => asText(STRUCT, bytes, start, end, place, redacted),
    valueText: (bytes, start, end, place, redacted) => asText(VALUE, bytes, start, end, place, redacted),
    counts,
    assertDecodes: (bytes, start, end, root, messageDepth) => {
      decode(root === "struct" ? STRUCT : VALUE, bytes, start, end, messageDepth);
    },
  };
}
