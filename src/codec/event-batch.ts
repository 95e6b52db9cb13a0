/**
 * Reads the requests that carry batches of events (IngestEventsRequest,
 * StreamEventsRequest, LogBatchRequest) from their wire bytes, leaving the
 * Struct fields (and the Value fields that hold more than one scalar) as
 * bytes for the Struct transcoder (struct-json.ts) instead of decoding them
 * to JS objects.
 *
 * Events are read by hand only in the plain shape every encoder writes
 * (each field at most once, ASCII strings, no unknown fields): LogEvents by
 * their own reader, every other event case by one reader made from its
 * message's descriptor (strings, doubles, bools, int64s, map<string,
 * double>, Structs and Values); any other event is decoded by protobuf-es,
 * one event at a time, with the nesting budget it has inside the request.
 * Anything unusual in the request itself (unknown fields, a bad tag or
 * length) makes the reader give up, and the caller decodes the whole
 * request with protobuf-es: the same message, or the same error, as before.
 *
 * The Struct and Value bytes of an event read by hand are not checked to
 * decode here: the event writer transcodes them before it writes any event
 * of the request, and falls back to {@link decodeWhole} when they do not
 * decode, so that a request that does not decode is still refused whole.
 */
import { fromBinary, ScalarType, type DescMessage } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence, StructSchema, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import {
  IngestEventsRequestSchema,
  LearningEventSchema,
  LogBatchRequestSchema,
  LogEventRequestSchema,
  LogRuleActivationRequestSchema,
  LogVariableWeightChangeRequestSchema,
  StreamEventsRequestSchema,
  type LearningEvent,
  type LogEventRequest,
  type LogRuleActivationRequest,
  type LogVariableWeightChangeRequest,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { DECODE_LEVELS_MAX } from "./request-decode.js";

/** Where a LogEvent read by hand keeps its bytes. */
export interface WireLogEvent {
  /** The request's bytes. */
  readonly bytes: Uint8Array;
  /** The LearningEvent's bytes within them, for decoding the event by protobuf-es when it is not written by the fast path. */
  readonly start: number;
  readonly end: number;
  /** The data Struct's bytes, or -1 when absent. */
  readonly dataStart: number;
  readonly dataEnd: number;
  /** The context Struct's bytes, or -1 when absent. */
  readonly contextStart: number;
  readonly contextEnd: number;
}

/** The request a batch of events came in, for decoding it whole when part of it does not decode. */
export interface WireRequest {
  readonly schema: DescMessage;
  readonly bytes: Uint8Array;
}

/** Marks a LearningEvent whose LogEvent was read by hand: its `value` holds event_type and event_id only. */
export const WIRE_EVENT: unique symbol = Symbol("wire LogEvent");
/** Marks an events array read by this module: the request it came from. */
export const WIRE_REQUEST: unique symbol = Symbol("wire request");

/**
 * Where a fixed-shape event read by hand keeps the bytes of its Struct
 * fields, and of its Value fields that are not one scalar: the message
 * leaves those fields unset.
 */
export interface WireFields {
  /** The request's bytes. */
  readonly bytes: Buffer;
  /** The LearningEvent's bytes within them, for decoding the event by protobuf-es when it is not written by the fast path. */
  readonly start: number;
  readonly end: number;
  /** `[start, end)` of each Struct and Value field, in field order (two numbers per field; -1 when the field is absent or set on the message). */
  readonly ranges: readonly number[];
}

/** Marks a fixed-shape LearningEvent read by hand whose message lacks some Struct or Value fields: their bytes (see {@link WireFields}). */
export const WIRE_FIELDS: unique symbol = Symbol("wire fields");
/** A fixed-shape LearningEvent read by hand with fields left as bytes. */
export type WireFixedEvent = LearningEvent & { [WIRE_FIELDS]: WireFields };
const NO_RANGES: number[] = [];

/** A LearningEvent read by hand (generic case, Structs left as bytes). */
export type WireLearningEvent = LearningEvent & { [WIRE_EVENT]: WireLogEvent };
/** The events of a request read by this module. */
export type WireEvents = LearningEvent[] & { [WIRE_REQUEST]?: WireRequest };

/** The LogEventRequest's messages are nested at this level in every batch request (request 1, LearningEvent 2, LogEventRequest 3). */
export const LOG_EVENT_STRUCT_DEPTH = 4;
const LEARNING_EVENT_READ = { recursionLimit: DECODE_LEVELS_MAX - 1 };

/** The request schemas read here, and the field number of their events (and of batch_id, if any). */
const READERS: ReadonlyMap<string, { events: number; batchId: number }> = new Map([
  [IngestEventsRequestSchema.typeName, { events: IngestEventsRequestSchema.field.events.number, batchId: IngestEventsRequestSchema.field.batchId.number }],
  [StreamEventsRequestSchema.typeName, { events: StreamEventsRequestSchema.field.events.number, batchId: -1 }],
  [LogBatchRequestSchema.typeName, { events: LogBatchRequestSchema.field.events.number, batchId: -1 }],
]);

/** Whether requests of this schema can be read by {@link readEventBatch}. */
export function readsEventBatch(schema: DescMessage): boolean {
  return READERS.has(schema.typeName);
}

/** Decodes the whole request with protobuf-es: today's decode, used when reading by hand gives up. */
export function decodeWhole(request: WireRequest): { events: LearningEvent[] } {
  return fromBinary(request.schema, request.bytes) as unknown as { events: LearningEvent[] };
}

/** Thrown inside the reader when the bytes are not in the shape it reads; never escapes it. */
class GiveUp {}
const GIVE_UP = new GiveUp();

/** A varint of at most 7 bytes (below 2^49: a length or a batch id); gives up on longer ones. */
function varint(bytes: Uint8Array, p: number, end: number, out: { pos: number }): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    if (p >= end) throw GIVE_UP;
    const b = bytes[p++];
    result += (b & 0x7f) * scale;
    if (b < 0x80) {
      out.pos = p;
      return result;
    }
    scale *= 128;
  }
  throw GIVE_UP;
}

/** Text of ASCII bytes, or undefined when any byte is not ASCII (those are decoded by protobuf-es, strictly). */
function ascii(bytes: Buffer, start: number, end: number): string | undefined {
  for (let i = start; i < end; i++) if (bytes[i] >= 0x80) return undefined;
  return bytes.toString("latin1", start, end);
}

const GENERIC_TAG = (LearningEventSchema.field.generic.number << 3) | 2;
const F_EVENT_TYPE = LogEventRequestSchema.field.eventType.number;
const F_DATA = LogEventRequestSchema.field.data.number;
const F_CONTEXT = LogEventRequestSchema.field.context.number;
const F_EVENT_ID = LogEventRequestSchema.field.eventId.number;

/** The LogEvent in `[start, end)` read by hand, or undefined when its shape is not the plain one. */
function readLogEvent(bytes: Buffer, eventStart: number, eventEnd: number, start: number, end: number, at: { pos: number }): WireLearningEvent | undefined {
  let eventType = "";
  let eventId: string | undefined;
  let seen = 0;
  let dataStart = -1;
  let dataEnd = -1;
  let contextStart = -1;
  let contextEnd = -1;
  let p = start;
  while (p < end) {
    const tag = bytes[p++];
    // Every field of LogEventRequest is length-delimited with a one-byte tag.
    if ((tag & 7) !== 2 || tag >= 0x80) return undefined;
    const field = tag >> 3;
    const length = varint(bytes, p, end, at);
    p = at.pos;
    const to = p + length;
    if (to > end || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    if (field === F_EVENT_TYPE) {
      const text = ascii(bytes, p, to);
      if (text === undefined) return undefined;
      eventType = text;
    } else if (field === F_DATA) {
      dataStart = p;
      dataEnd = to;
    } else if (field === F_CONTEXT) {
      contextStart = p;
      contextEnd = to;
    } else if (field === F_EVENT_ID) {
      eventId = ascii(bytes, p, to);
      if (eventId === undefined) return undefined;
    } else {
      return undefined;
    }
    p = to;
  }
  const value = { $typeName: LogEventRequestSchema.typeName, eventType, data: undefined, context: undefined, eventId } as LogEventRequest;
  return {
    $typeName: LearningEventSchema.typeName,
    event: { case: "generic", value },
    [WIRE_EVENT]: { bytes, start: eventStart, end: eventEnd, dataStart, dataEnd, contextStart, contextEnd },
  };
}

const RUN_TAG = (LearningEventSchema.field.run.number << 3) | 2;
const V_NULL = ValueSchema.field.nullValue.number << 3;
const V_NUMBER = (ValueSchema.field.numberValue.number << 3) | 1;
const V_STRING = (ValueSchema.field.stringValue.number << 3) | 2;
const V_BOOL = ValueSchema.field.boolValue.number << 3;

/**
 * The google.protobuf.Value in `[start, end)` as protobuf-es gives it, when it
 * is empty or holds one null, number, ASCII string or bool in its plain
 * encoding; undefined otherwise (objects and lists, repeated fields, long
 * varints: protobuf-es decodes those).
 */
function readScalarValue(bytes: Buffer, start: number, end: number, at: { pos: number }): Value | undefined {
  if (start === end) return { $typeName: ValueSchema.typeName, kind: { case: undefined } } as Value;
  const tag = bytes[start];
  let p = start + 1;
  let kind: Value["kind"];
  if (tag === V_STRING) {
    const length = varint(bytes, p, end, at);
    p = at.pos;
    if (p + length !== end) return undefined;
    const text = ascii(bytes, p, end);
    if (text === undefined) return undefined;
    kind = { case: "stringValue", value: text };
  } else if (tag === V_NUMBER) {
    if (p + 8 !== end) return undefined;
    kind = { case: "numberValue", value: bytes.readDoubleLE(p) };
  } else if (tag === V_BOOL || tag === V_NULL) {
    // One-byte varints only: 0 or 1 for a bool, NULL_VALUE (0) for null.
    if (p + 1 !== end) return undefined;
    const b = bytes[p];
    if (tag === V_BOOL && b <= 1) kind = { case: "boolValue", value: b === 1 };
    else if (tag === V_NULL && b === 0) kind = { case: "nullValue", value: 0 };
    else return undefined;
  } else {
    return undefined;
  }
  return { $typeName: ValueSchema.typeName, kind } as Value;
}

/**
 * How the reader reads one field of a fixed-shape event, made from the
 * event message's descriptor: its tag byte, the property protobuf-es sets,
 * and the value it reads.
 */
interface FieldReader {
  readonly local: string;
  readonly kind: typeof K_STRING | typeof K_DOUBLE | typeof K_BOOL | typeof K_INT64 | typeof K_DOUBLE_MAP | typeof K_STRUCT | typeof K_VALUE;
  /** For Struct and Value fields: the index of their byte range in {@link WireFields.ranges}. */
  readonly range: number;
}
const K_STRING = 0;
const K_DOUBLE = 1;
const K_BOOL = 2;
const K_INT64 = 3;
const K_DOUBLE_MAP = 4;
const K_STRUCT = 5;
const K_VALUE = 6;

/** The reader of one event case: its fields by tag byte, and the fields protobuf-es always sets (implicit presence) with their zero values. */
interface CaseReader {
  readonly case: string;
  readonly typeName: string;
  readonly byTag: ReadonlyArray<FieldReader | undefined>;
  readonly zeros: ReadonlyArray<readonly [string, string | number | boolean | bigint | "map"]>;
  /** How many Struct and Value fields the message has (byte ranges per event). */
  readonly ranges: number;
}

/**
 * A reader for an event message whose every field has a one-byte tag and is
 * a string, double, bool, int64, map<string, double>, Struct or Value; undefined
 * for any other message (protobuf-es decodes those).
 */
function caseReader(eventCase: string, schema: DescMessage): CaseReader | undefined {
  const byTag: Array<FieldReader | undefined> = new Array<FieldReader | undefined>(128).fill(undefined);
  const zeros: Array<readonly [string, string | number | boolean | bigint | "map"]> = [];
  let ranges = 0;
  for (const field of schema.fields) {
    if (field.number >= 16 || field.oneof !== undefined) return undefined;
    const implicit = field.presence === FeatureSet_FieldPresence.IMPLICIT;
    let kind: FieldReader["kind"];
    let wireType = 2;
    let zero: string | number | boolean | bigint | "map";
    if (field.fieldKind === "scalar") {
      if (field.scalar === ScalarType.STRING) [kind, zero] = [K_STRING, ""];
      else if (field.scalar === ScalarType.DOUBLE) [kind, wireType, zero] = [K_DOUBLE, 1, 0];
      else if (field.scalar === ScalarType.BOOL) [kind, wireType, zero] = [K_BOOL, 0, false];
      else if (field.scalar === ScalarType.INT64 && !field.longAsString) [kind, wireType, zero] = [K_INT64, 0, 0n];
      else return undefined;
    } else if (field.fieldKind === "map" && field.mapKey === ScalarType.STRING && field.mapKind === "scalar" && field.scalar === ScalarType.DOUBLE) {
      [kind, zero] = [K_DOUBLE_MAP, "map"];
    } else if (field.fieldKind === "message" && field.message.typeName === StructSchema.typeName) {
      kind = K_STRUCT;
      zero = "";
    } else if (field.fieldKind === "message" && field.message.typeName === ValueSchema.typeName) {
      kind = K_VALUE;
      zero = "";
    } else {
      return undefined;
    }
    byTag[(field.number << 3) | wireType] = { local: field.localName, kind, range: kind === K_STRUCT || kind === K_VALUE ? ranges++ : -1 };
    if (implicit || kind === K_DOUBLE_MAP) zeros.push([field.localName, zero]);
  }
  return { case: eventCase, typeName: schema.typeName, byTag, zeros, ranges };
}

/** The fixed-shape event cases read by hand, by the tag byte of their LearningEvent field (every case but the LogEvent, which has its own reader). */
const CASE_READERS: ReadonlyArray<CaseReader | undefined> = (() => {
  const readers = new Array<CaseReader | undefined>(128).fill(undefined);
  for (const field of LearningEventSchema.oneofs[0].fields) {
    if (field.number === LearningEventSchema.field.generic.number || field.number >= 16 || field.message === undefined) continue;
    readers[(field.number << 3) | 2] = caseReader(field.localName, field.message);
  }
  return readers;
})();

/**
 * A fixed-shape event in `[start, end)` read by hand, the message protobuf-es
 * would give except for its Struct fields and its Values that are not one
 * scalar, whose byte ranges go in `ranges` (left unset on the message);
 * undefined when its shape is not the plain one (each field at most once,
 * a map's entries aside; ASCII strings; one-byte bools 0 or 1; no unknown fields).
 */
function readFixedEvent(reader: CaseReader, bytes: Buffer, start: number, end: number, at: { pos: number }, ranges: number[]): Record<string, unknown> | undefined {
  const value: Record<string, unknown> = { $typeName: reader.typeName };
  for (const [local, zero] of reader.zeros) value[local] = zero === "map" ? {} : zero;
  let seen = 0;
  let p = start;
  while (p < end) {
    const tag = bytes[p++];
    const field = tag < 0x80 ? reader.byTag[tag] : undefined;
    if (field === undefined) return undefined;
    const kind = field.kind;
    // One bit per field number (every tag here is one byte); a map's entries repeat.
    if (kind !== K_DOUBLE_MAP) {
      if (seen & (1 << (tag >> 3))) return undefined;
      seen |= 1 << (tag >> 3);
    }
    if (kind === K_DOUBLE) {
      if (p + 8 > end) return undefined;
      value[field.local] = bytes.readDoubleLE(p);
      p += 8;
      continue;
    }
    if (kind === K_BOOL) {
      // A one-byte varint 0 or 1; any other encoding is protobuf-es's to read.
      if (p >= end || bytes[p] > 1) return undefined;
      value[field.local] = bytes[p++] === 1;
      continue;
    }
    if (kind === K_INT64) {
      // Up to 2^49 (negative numbers take ten bytes: protobuf-es reads those).
      value[field.local] = BigInt(varint(bytes, p, end, at));
      p = at.pos;
      continue;
    }
    const length = varint(bytes, p, end, at);
    p = at.pos;
    const to = p + length;
    if (to > end) return undefined;
    if (kind === K_STRING) {
      const text = ascii(bytes, p, to);
      if (text === undefined) return undefined;
      value[field.local] = text;
    } else if (kind === K_VALUE) {
      const scalar = readScalarValue(bytes, p, to, at);
      if (scalar !== undefined) value[field.local] = scalar;
      else {
        ranges[2 * field.range] = p;
        ranges[2 * field.range + 1] = to;
      }
    } else if (kind === K_STRUCT) {
      ranges[2 * field.range] = p;
      ranges[2 * field.range + 1] = to;
    } else if (!readDoubleEntry(bytes, p, to, at, value[field.local] as Record<string, number>)) {
      return undefined;
    }
    p = to;
  }
  return value;
}

/**
 * The index of a Struct or Value field's byte range in {@link WireFields.ranges}
 * for events of this case (the field by its local name); -1 when the case is
 * not read by hand or the field is not a Struct or Value.
 */
export function wireFieldRange(eventCase: string, local: string): number {
  for (const reader of CASE_READERS) {
    if (reader?.case !== eventCase) continue;
    for (const field of reader.byTag) if (field?.local === local) return field.range;
  }
  return -1;
}

const MAP_KEY = 0x0a; // map entry key: field 1, length-delimited
const MAP_DOUBLE = 0x11; // map entry value: field 2, 64-bit

/** Reads a map<string, double> entry (a key, then its value, each present) into `map` as protobuf-es sets it; false when it is not in that plain shape. */
function readDoubleEntry(bytes: Buffer, start: number, end: number, at: { pos: number }, map: Record<string, number>): boolean {
  if (start >= end || bytes[start] !== MAP_KEY) return false;
  const length = varint(bytes, start + 1, end, at);
  const keyEnd = at.pos + length;
  if (keyEnd + 9 !== end || bytes[keyEnd] !== MAP_DOUBLE) return false;
  const key = ascii(bytes, at.pos, keyEnd);
  // "__proto__" needs an own property defined: protobuf-es's to read.
  if (key === undefined || key === "__proto__") return false;
  // A key met again keeps its place and takes the last value, as protobuf-es sets it.
  map[key] = bytes.readDoubleLE(keyEnd + 1);
  return true;
}

const WEIGHT_TAG = (LearningEventSchema.field.variableWeightChange.number << 3) | 2;
const W_VARIABLE = (LogVariableWeightChangeRequestSchema.field.variable.number << 3) | 2;
const W_OLD = (LogVariableWeightChangeRequestSchema.field.oldWeight.number << 3) | 1;
const W_NEW = (LogVariableWeightChangeRequestSchema.field.newWeight.number << 3) | 1;
const W_EVENT_ID = (LogVariableWeightChangeRequestSchema.field.eventId.number << 3) | 2;

/** A weight change in `[start, end)` read by hand (the message protobuf-es would give), or undefined when its shape is not the plain one. A hot shape: read by a reader of its own, whose objects keep one shape (the table's reader is slower for it). */
function readWeightChange(bytes: Buffer, start: number, end: number, at: { pos: number }): LearningEvent | undefined {
  let variable = "";
  let oldWeight = 0;
  let newWeight = 0;
  let eventId: string | undefined;
  let seen = 0;
  let p = start;
  while (p < end) {
    const tag = bytes[p++];
    if (seen & (1 << (tag & 31)) || tag >= 0x80) return undefined;
    seen |= 1 << (tag & 31);
    if (tag === W_OLD || tag === W_NEW) {
      if (p + 8 > end) return undefined;
      const value = bytes.readDoubleLE(p);
      if (tag === W_OLD) oldWeight = value;
      else newWeight = value;
      p += 8;
      continue;
    }
    if (tag !== W_VARIABLE && tag !== W_EVENT_ID) return undefined;
    const length = varint(bytes, p, end, at);
    p = at.pos;
    if (p + length > end) return undefined;
    const text = ascii(bytes, p, p + length);
    if (text === undefined) return undefined;
    if (tag === W_VARIABLE) variable = text;
    else eventId = text;
    p += length;
  }
  const value = { $typeName: LogVariableWeightChangeRequestSchema.typeName, variable, oldWeight, newWeight } as LogVariableWeightChangeRequest;
  // Set only when present, as protobuf-es sets it.
  if (eventId !== undefined) value.eventId = eventId;
  return { $typeName: LearningEventSchema.typeName, event: { case: "variableWeightChange", value } };
}

const RULE_TAG = (LearningEventSchema.field.ruleActivation.number << 3) | 2;
const R_RULE_ID = (LogRuleActivationRequestSchema.field.ruleId.number << 3) | 2;
const R_VARIABLE_ID = (LogRuleActivationRequestSchema.field.variableId.number << 3) | 2;
const R_OUTCOME = (LogRuleActivationRequestSchema.field.outcome.number << 3) | 2;
const R_FORECAST_ID = (LogRuleActivationRequestSchema.field.forecastId.number << 3) | 2;
const R_SUCCESS = LogRuleActivationRequestSchema.field.success.number << 3;
const R_EVENT_ID = (LogRuleActivationRequestSchema.field.eventId.number << 3) | 2;
/**
 * A rule activation in `[eventStart, eventEnd)` (its message in `[start,
 * end)`) read by hand: the message protobuf-es would give, its outcome left
 * as bytes ({@link WireFields}) when that is not one scalar; undefined when
 * its shape is not the plain one. The hottest shape: read by a reader of its
 * own, whose objects keep one shape (the table's reader is slower for it).
 */
function readRuleActivation(bytes: Buffer, eventStart: number, eventEnd: number, start: number, end: number, at: { pos: number }): LearningEvent | undefined {
  // Only the fields present are set, as protobuf-es sets them.
  const value = { $typeName: LogRuleActivationRequestSchema.typeName, ruleId: "", variableId: "" } as LogRuleActivationRequest;
  let seen = 0;
  let outcomeStart = -1;
  let outcomeEnd = -1;
  let p = start;
  while (p < end) {
    const tag = bytes[p++];
    // One bit per field number (every field here has a one-byte tag).
    if (tag >= 0x80 || seen & (1 << (tag >> 3))) return undefined;
    seen |= 1 << (tag >> 3);
    if (tag === R_SUCCESS) {
      // A one-byte varint 0 or 1; any other encoding is protobuf-es's to read.
      if (p >= end || bytes[p] > 1) return undefined;
      value.success = bytes[p++] === 1;
      continue;
    }
    if (tag !== R_RULE_ID && tag !== R_VARIABLE_ID && tag !== R_OUTCOME && tag !== R_FORECAST_ID && tag !== R_EVENT_ID) return undefined;
    const length = varint(bytes, p, end, at);
    p = at.pos;
    const to = p + length;
    if (to > end) return undefined;
    if (tag === R_OUTCOME) {
      const outcome = readScalarValue(bytes, p, to, at);
      if (outcome !== undefined) value.outcome = outcome;
      else {
        outcomeStart = p;
        outcomeEnd = to;
      }
    } else {
      const text = ascii(bytes, p, to);
      if (text === undefined) return undefined;
      if (tag === R_RULE_ID) value.ruleId = text;
      else if (tag === R_VARIABLE_ID) value.variableId = text;
      else if (tag === R_FORECAST_ID) value.forecastId = text;
      else value.eventId = text;
    }
    p = to;
  }
  const event: LearningEvent = { $typeName: LearningEventSchema.typeName, event: { case: "ruleActivation", value } };
  // The outcome is the message's only Value field: range 0.
  if (outcomeStart >= 0) (event as WireFixedEvent)[WIRE_FIELDS] = { bytes, start: eventStart, end: eventEnd, ranges: [outcomeStart, outcomeEnd] };
  return event;
}

/**
 * The LearningEvent in `[start, end)` read by hand: a plain LogEvent (its
 * Structs left as bytes, see {@link WireLogEvent}) or a plain fixed-shape
 * event (its Structs, and Values that are not one scalar, left as bytes,
 * see {@link WireFields}); undefined for any other shape, which
 * protobuf-es then decodes (the same message, or its error).
 */
export function readPlainEvent(bytes: Buffer, start: number, end: number, at: { pos: number } = { pos: 0 }): LearningEvent | undefined {
  const tag = end > start ? bytes[start] : -1;
  const fixed = tag >= 0 && tag < 0x80 ? CASE_READERS[tag] : undefined;
  if (tag !== GENERIC_TAG && fixed === undefined) return undefined;
  try {
    const length = varint(bytes, start + 1, end, at);
    const eventEnd = at.pos + length;
    // The event, then at most the run (every encoder writes fields in number order).
    let run: string | undefined;
    if (eventEnd !== end) {
      if (eventEnd > end || bytes[eventEnd] !== RUN_TAG) return undefined;
      const from = at.pos;
      const runLength = varint(bytes, eventEnd + 1, end, at);
      if (at.pos + runLength !== end) return undefined;
      run = ascii(bytes, at.pos, end);
      if (run === undefined) return undefined;
      at.pos = from;
    }
    let event: LearningEvent | undefined;
    if (fixed === undefined) {
      event = readLogEvent(bytes, start, end, at.pos, eventEnd, at);
    } else if (tag === WEIGHT_TAG) {
      event = readWeightChange(bytes, at.pos, eventEnd, at);
    } else if (tag === RULE_TAG) {
      event = readRuleActivation(bytes, start, end, at.pos, eventEnd, at);
    } else {
      const ranges = fixed.ranges === 0 ? NO_RANGES : new Array<number>(2 * fixed.ranges).fill(-1);
      const value = readFixedEvent(fixed, bytes, at.pos, eventEnd, at, ranges);
      if (value === undefined) return undefined;
      event = { $typeName: LearningEventSchema.typeName, event: { case: fixed.case, value } } as unknown as LearningEvent;
      // Only an event with bytes left to transcode is marked: the others are whole messages.
      if (ranges.some((r) => r >= 0)) (event as WireFixedEvent)[WIRE_FIELDS] = { bytes, start, end, ranges };
    }
    // Set only when present, as protobuf-es sets it.
    if (event !== undefined && run !== undefined) event.run = run;
    return event;
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}

/** One LearningEvent of the request: read by hand when it is in a plain shape, else decoded by protobuf-es. */
function readEvent(bytes: Buffer, start: number, end: number, at: { pos: number }): LearningEvent {
  const event = readPlainEvent(bytes, start, end, at);
  if (event !== undefined) return event;
  try {
    return fromBinary(LearningEventSchema, bytes.subarray(start, end), LEARNING_EVENT_READ);
  } catch {
    throw GIVE_UP;
  }
}

/**
 * Reads a batch request from its bytes: the message (with `events` marked
 * as read here), or undefined when its shape is not one read here; the
 * caller then decodes it with protobuf-es.
 */
export function readEventBatch(schema: DescMessage, view: Uint8Array): object | undefined {
  const reader = READERS.get(schema.typeName);
  if (reader === undefined) return undefined;
  const bytes = Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  const eventsTag = (reader.events << 3) | 2;
  const batchIdTag = reader.batchId << 3;
  const events: WireEvents = [];
  let batchId = 0n;
  const at = { pos: 0 };
  try {
    let p = 0;
    const end = bytes.length;
    while (p < end) {
      const tag = bytes[p++];
      if (tag === eventsTag) {
        const length = varint(bytes, p, end, at);
        p = at.pos;
        if (p + length > end) return undefined;
        events.push(readEvent(bytes, p, p + length, at));
        p += length;
      } else if (tag === batchIdTag && reader.batchId > 0) {
        batchId = BigInt(varint(bytes, p, end, at));
        p = at.pos;
      } else {
        return undefined;
      }
    }
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
  events[WIRE_REQUEST] = { schema, bytes };
  return reader.batchId > 0 ? { $typeName: schema.typeName, batchId, events } : { $typeName: schema.typeName, events };
}
