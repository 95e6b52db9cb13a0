/**
 * Reads the requests that carry batches of events (IngestEventsRequest,
 * StreamEventsRequest, LogBatchRequest) from their wire bytes, leaving the
 * Struct fields of LogEvents as bytes for the Struct transcoder
 * (struct-json.ts) instead of decoding them to JS objects.
 *
 * Every other event is decoded by protobuf-es as today, one event at a
 * time, with the nesting budget it has inside the request. LogEvents,
 * variable weight changes and rule activations (whose outcome is null, a
 * number, a string or a bool) are read by hand, only in the plain shape
 * every encoder writes (each field at most once, ASCII strings, no unknown
 * fields); any other is decoded by protobuf-es too. Anything unusual in the request itself
 * (unknown fields, a bad tag or length) makes the reader give up, and the
 * caller decodes the whole request with protobuf-es: the same message, or
 * the same error, as before.
 *
 * The Struct bytes of a LogEvent read by hand are not checked to decode
 * here: the event writer transcodes them before it writes any event of the
 * request, and falls back to {@link decodeWhole} when they do not decode,
 * so that a request that does not decode is still refused whole.
 */
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
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
const WEIGHT_TAG = (LearningEventSchema.field.variableWeightChange.number << 3) | 2;
const W_VARIABLE = (LogVariableWeightChangeRequestSchema.field.variable.number << 3) | 2;
const W_OLD = (LogVariableWeightChangeRequestSchema.field.oldWeight.number << 3) | 1;
const W_NEW = (LogVariableWeightChangeRequestSchema.field.newWeight.number << 3) | 1;
const W_EVENT_ID = (LogVariableWeightChangeRequestSchema.field.eventId.number << 3) | 2;

/** A weight change in `[start, end)` read by hand (the message protobuf-es would give), or undefined when its shape is not the plain one. */
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

/** A rule activation in `[start, end)` read by hand (the message protobuf-es would give), or undefined when its shape is not the plain one. */
function readRuleActivation(bytes: Buffer, start: number, end: number, at: { pos: number }): LearningEvent | undefined {
  // Only the fields present are set, as protobuf-es sets them.
  const value = { $typeName: LogRuleActivationRequestSchema.typeName, ruleId: "", variableId: "" } as LogRuleActivationRequest;
  let seen = 0;
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
      if (outcome === undefined) return undefined;
      value.outcome = outcome;
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
  return { $typeName: LearningEventSchema.typeName, event: { case: "ruleActivation", value } };
}

/**
 * The LearningEvent in `[start, end)` read by hand: a plain LogEvent (its
 * Structs left as bytes, see {@link WireLogEvent}), weight change or rule
 * activation; undefined for any other event or shape, which protobuf-es
 * then decodes (the same message, or its error).
 */
export function readPlainEvent(bytes: Buffer, start: number, end: number, at: { pos: number } = { pos: 0 }): LearningEvent | undefined {
  const tag = end > start ? bytes[start] : -1;
  if (tag !== GENERIC_TAG && tag !== WEIGHT_TAG && tag !== RULE_TAG) return undefined;
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
    const event =
      tag === GENERIC_TAG
        ? readLogEvent(bytes, start, end, at.pos, eventEnd, at)
        : tag === WEIGHT_TAG
          ? readWeightChange(bytes, at.pos, eventEnd, at)
          : readRuleActivation(bytes, at.pos, eventEnd, at);
    // Set only when present, as protobuf-es sets it.
    if (event !== undefined && run !== undefined) event.run = run;
    return event;
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}

/** One LearningEvent of the request: read by hand when it is a plain LogEvent, weight change or rule activation, else decoded by protobuf-es. */
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
