import type { LearningEvent, LogRuleActivationRequest, LogVariableWeightChangeRequest } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import type { Value } from "@bufbuild/protobuf/wkt";
import { formatTimestamp, type Clock } from "../clock.js";
import { LOG_EVENT_STRUCT_DEPTH, wireFieldRange, type WireFields } from "../codec/event-batch.js";
import { ByteSink } from "../codec/byte-sink.js";
import type { FieldPlace, StructJsonResult, StructTranscoder } from "../codec/struct-json.js";
import type { PiiGuard } from "../guard/pii.js";
import { bodyOpen } from "../record/body.js";
import { jsonNumber, jsonString, NUMBER_BYTES_MAX, writeFiniteNumber } from "../record/json-text.js";
import type { EventCase } from "./catalog.js";

/** Names whose JSON the encoders of one guard remember, and the longest remembered: about 5 MB at most (a 128-character name of escaped characters has 770 characters of JSON). */
const NAMES_MAX = 4096;
const NAME_CHARS_MAX = 128;
/** Keys of score maps whose PII verdict is remembered. */
const SCORE_KEYS_MAX = 4096;

/** Where one member of an event's data comes from: a field of the event message (by its local name), or the clock. */
type Source =
  /** A string likely to repeat (variables, rules): its JSON is remembered. */
  | { readonly kind: "name"; readonly field: string }
  /** A string; an optional one absent is null. */
  | { readonly kind: "text"; readonly field: string }
  /** A double (validated finite). */
  | { readonly kind: "number"; readonly field: string }
  /** An int64, written as the JSON number it converts to. */
  | { readonly kind: "int64"; readonly field: string }
  /** An optional bool; absent is null. */
  | { readonly kind: "bool"; readonly field: string }
  /** A google.protobuf.Value; absent is null. */
  | { readonly kind: "value"; readonly field: string }
  /** A google.protobuf.Struct; absent is {}. */
  | { readonly kind: "struct"; readonly field: string }
  /** A map<string, double>. */
  | { readonly kind: "scores"; readonly field: string }
  /** The time of the call, formatted as a record's timestamp. */
  | { readonly kind: "now" };

/** An event's record: its type, and its data as members in order, or as one Struct field (the data itself). */
interface Shape {
  readonly eventType: string;
  readonly data: ReadonlyArray<readonly [string, Source]> | Source;
}

const name = (field: string): Source => ({ kind: "name", field });
const text = (field: string): Source => ({ kind: "text", field });
const number = (field: string): Source => ({ kind: "number", field });

/**
 * The records of the fixed-shape catalog events, exactly as the catalog's
 * builders make them (src/events/catalog.ts): event_type, and data's members
 * in the builders' order. The events that read the tracker
 * (bayesian_trust_metrics) and LogEvents are not here. Adding an event of
 * fixed shape: a proto message, a catalog row, a row here, and the property
 * tests cover it.
 */
export const EVENT_SHAPES: { readonly [C in EventCase]?: Shape } = {
  variableWeightChange: { eventType: "variable_weight_update", data: [["variable", name("variable")], ["from", number("oldWeight")], ["to", number("newWeight")]] },
  symbolicUpgrade: { eventType: "symbolic_upgrade_applied", data: [["changes", { kind: "struct", field: "plan" }]] },
  revisionTrigger: { eventType: "symbolic_revision_triggered", data: [["reason", text("reason")]] },
  arcRegret: { eventType: "symbolic_arc_regret", data: [["regret_scores", { kind: "scores", field: "scores" }]] },
  learningSummary: { eventType: "meta_learning_summary", data: { kind: "struct", field: "summary" } },
  ruleActivation: {
    eventType: "rule_activation",
    data: [
      ["rule_id", name("ruleId")],
      ["variable_id", name("variableId")],
      ["outcome", { kind: "value", field: "outcome" }],
      ["forecast_id", text("forecastId")],
      ["success", { kind: "bool", field: "success" }],
    ],
  },
  ruleEffectiveness: {
    eventType: "rule_effectiveness",
    data: [["rule_id", name("ruleId")], ["activation_count", { kind: "int64", field: "activationCount" }], ["success_rate", number("successRate")], ["impact_score", number("impactScore")], ["timestamp", { kind: "now" }]],
  },
};

/** The bodies of the fixed-shape catalog events, written without building their data objects. */
export interface TypedEncoders {
  /**
   * Appends to `sink` the UTF-8 record body of a validated event, byte for
   * byte what the catalog, the PII guard and encodeBody would write; returns
   * false, having written nothing, when the event is not of a fixed shape
   * written here, or when the PII guard would change or refuse anything in it
   * (the general path then writes it, or says why). `wire` holds the bytes of
   * the Struct and Value fields the message lacks (an event read by hand);
   * those are transcoded, and a refusal of theirs (invalid, not decodable) is
   * thrown: the general path then says why.
   */
  bodyTo(sink: ByteSink, event: LearningEvent["event"], wire?: WireFields): boolean;
  /** {@link bodyTo} as a string; undefined where bodyTo writes nothing. */
  body(event: LearningEvent["event"], wire?: WireFields): string | undefined;
  /** The event type of the events of a case this writes; undefined for a case left to the general path. */
  eventType(eventCase: EventCase | undefined): string | undefined;
}

/** What the typed encoders need beside the PII guard. */
export interface TypedEncoderOptions {
  /** Transcodes Struct and Value fields left as bytes; without it, events with such fields take the general path. */
  transcoder?: StructTranscoder;
  /** The clock of events that write the time of the call (rule_effectiveness); without it, those take the general path. */
  clock?: Clock;
}

/** Appends one member's JSON from the event message (and the bytes of the fields it lacks); false to leave the event to the general path (what it wrote is then dropped by its caller). */
type MemberWriter = (message: Record<string, unknown>, wire: WireFields | undefined, sink: ByteSink) => boolean;

const bytesOf = (text: string): Buffer => Buffer.from(text, "utf8");
const NULL = bytesOf("null");
const TRUE = bytesOf("true");
const FALSE = bytesOf("false");
const EMPTY_OBJECT = bytesOf("{}");
const CLOSE = bytesOf("}");

/** Appends a finite number as JSON (validated before). */
function writeNumber(sink: ByteSink, v: number): void {
  sink.length = writeFiniteNumber(sink.reserve(NUMBER_BYTES_MAX), sink.length, v);
}

/**
 * Builds the typed encoders for one PII guard. The guard's verdict on the
 * keys is taken once, from a sample of each shape: when it would redact any
 * key of a shape, that shape always takes the general path.
 */
export function createTypedEncoders(pii: PiiGuard, options: TypedEncoderOptions = {}): TypedEncoders {
  const { transcoder, clock } = options;
  const found: string[] = [];
  const keysPlain = (sample: Record<string, string | number | boolean>): boolean => {
    found.length = 0;
    try {
      pii(sample, "data", found);
    } catch {
      return false;
    }
    return found.length === 0;
  };
  /** The string's JSON, or undefined when the guard would redact any of it (or refuse it). */
  const textJson = (value: string): string | undefined => {
    found.length = 0;
    try {
      if (pii(value, "", found) !== value || found.length > 0) return undefined;
    } catch {
      return undefined;
    }
    return jsonString(value);
  };
  /** Appends {@link textJson} of a string; false when the guard would change it. */
  const writeText = (sink: ByteSink, value: string): boolean => {
    const json = textJson(value);
    if (json === undefined) return false;
    sink.writeString(json);
    return true;
  };
  // The JSON bytes of names that come back event after event (variables,
  // rules, outcomes): the guard's verdict on a string depends on the string
  // alone. Bounded: emptied when full, like the event type cache.
  const names = new Map<string, Buffer>();
  /** Appends {@link textJson} of a string likely to repeat, remembered when nothing in it is redacted. */
  const writeName = (sink: ByteSink, value: string): boolean => {
    if (value.length > NAME_CHARS_MAX) return writeText(sink, value);
    let json = names.get(value);
    if (json === undefined) {
      const text = textJson(value);
      if (text === undefined) return false;
      json = bytesOf(text);
      if (names.size >= NAMES_MAX) names.clear();
      names.set(value, json);
    }
    sink.writeBytes(json);
    return true;
  };
  // Whether the guard leaves a number under a score key alone (it hides any value under a key naming a secret).
  const scoreKeys = new Map<string, boolean>();
  const scoreKeyPlain = (key: string): boolean => {
    let plain = scoreKeys.get(key);
    if (plain === undefined) {
      // An own "__proto__" key is the general path's to write.
      plain = key !== "__proto__" && keysPlain({ [key]: 0 });
      if (scoreKeys.size >= SCORE_KEYS_MAX) scoreKeys.clear();
      scoreKeys.set(key, plain);
    }
    return plain;
  };
  /** Whether a transcoded Struct or Value stands as written: within the size limit, and nothing the guard would change or refuse. */
  const transcoded = (r: StructJsonResult): boolean => r.complete && r.piiError === undefined && found.length === 0;

  /** The writer of one member of an event case; undefined when that member cannot be written here (the case then takes the general path). */
  const memberWriter = (eventCase: EventCase, source: Source, recordPath: string): MemberWriter | undefined => {
    switch (source.kind) {
      case "name": {
        const f = source.field;
        return (m, _wire, sink) => writeName(sink, m[f] as string);
      }
      case "text": {
        const f = source.field;
        return (m, _wire, sink) => {
          if (m[f] !== undefined) return writeText(sink, m[f] as string);
          sink.writeBytes(NULL);
          return true;
        };
      }
      case "number": {
        const f = source.field;
        return (m, _wire, sink) => {
          // Validated: finite numbers.
          writeNumber(sink, m[f] as number);
          return true;
        };
      }
      case "int64": {
        const f = source.field;
        return (m, _wire, sink) => {
          // As the catalog converts it: JSON holds it exactly up to 2^53.
          writeNumber(sink, Number(m[f] as bigint));
          return true;
        };
      }
      case "bool": {
        const f = source.field;
        return (m, _wire, sink) => {
          sink.writeBytes(m[f] === undefined ? NULL : m[f] ? TRUE : FALSE);
          return true;
        };
      }
      case "value": {
        const f = source.field;
        const range = 2 * wireFieldRange(eventCase, f);
        const place: FieldPlace = { path: f, recordPath, messageDepth: LOG_EVENT_STRUCT_DEPTH };
        return (m, wire, sink) => {
          const value = m[f] as Value | undefined;
          if (value === undefined) {
            const start = wire === undefined || range < 0 ? -1 : wire.ranges[range];
            if (start < 0) {
              sink.writeBytes(NULL);
              return true;
            }
            if (transcoder === undefined) return false;
            found.length = 0;
            return transcoded(transcoder.valueTo(sink, wire!.bytes, start, wire!.ranges[range + 1], place, found));
          }
          const kind = value.kind;
          switch (kind.case) {
            case undefined:
            case "nullValue":
              sink.writeBytes(NULL);
              return true;
            case "numberValue":
              // Validated: finite.
              writeNumber(sink, kind.value);
              return true;
            case "boolValue":
              sink.writeBytes(kind.value ? TRUE : FALSE);
              return true;
            case "stringValue":
              return writeName(sink, kind.value);
            default:
              // Objects and lists decoded by protobuf-es: the general path (depth, PII walk).
              return false;
          }
        };
      }
      case "struct": {
        const f = source.field;
        const range = 2 * wireFieldRange(eventCase, f);
        const place: FieldPlace = { path: f, recordPath, messageDepth: LOG_EVENT_STRUCT_DEPTH };
        return (m, wire, sink) => {
          // Decoded by protobuf-es: the general path.
          if (m[f] !== undefined) return false;
          const start = wire === undefined || range < 0 ? -1 : wire.ranges[range];
          if (start < 0) {
            sink.writeBytes(EMPTY_OBJECT);
            return true;
          }
          if (transcoder === undefined) return false;
          found.length = 0;
          return transcoded(transcoder.structTo(sink, wire!.bytes, start, wire!.ranges[range + 1], place, found));
        };
      }
      case "scores": {
        const f = source.field;
        return (m, _wire, sink) => {
          const scores = m[f] as Record<string, number>;
          let json = "{";
          for (const key of Object.keys(scores)) {
            if (!scoreKeyPlain(key)) return false;
            // Validated: finite numbers.
            json += `${json.length > 1 ? "," : ""}${jsonString(key)}:${jsonNumber(scores[key])}`;
          }
          sink.writeString(`${json}}`);
          return true;
        };
      }
      case "now":
        if (clock === undefined) return undefined;
        return (_m, _wire, sink) => writeText(sink, formatTimestamp(clock.nowMicros()));
    }
  };

  type BodyWriter = (m: Record<string, unknown>, wire: WireFields | undefined, sink: ByteSink) => boolean;

  /** The body writer of one shape; undefined when the guard would redact one of its keys, or a member cannot be written here. */
  const shapeWriter = (eventCase: EventCase, shape: Shape): BodyWriter | undefined => {
    const open = bytesOf(bodyOpen(jsonString(shape.eventType)));
    if (!Array.isArray(shape.data)) {
      const whole = memberWriter(eventCase, shape.data as Source, "data");
      if (whole === undefined) return undefined;
      return (m, wire, sink) => {
        sink.writeBytes(open);
        return whole(m, wire, sink);
      };
    }
    const members = shape.data as ReadonlyArray<readonly [string, Source]>;
    // The guard's verdict on the keys, from a sample of the shape's values.
    const sample: Record<string, string | number | boolean> = {};
    for (const [key, source] of members) sample[key] = source.kind === "number" || source.kind === "int64" ? 0 : source.kind === "bool" ? false : "";
    if (!keysPlain(sample)) return undefined;
    // Each member's opening made once: `{"key":` for the first, `,"key":` after.
    const prefixes = members.map(([key], i) => bytesOf(`${i === 0 ? bodyOpen(jsonString(shape.eventType)) + "{" : ","}${jsonString(key)}:`));
    const writers: MemberWriter[] = [];
    for (const [key, source] of members) {
      const writer = memberWriter(eventCase, source, `data.${key}`);
      if (writer === undefined) return undefined;
      writers.push(writer);
    }
    const count = writers.length;
    return (m, wire, sink) => {
      for (let i = 0; i < count; i++) {
        sink.writeBytes(prefixes[i]);
        if (!writers[i](m, wire, sink)) return false;
      }
      sink.writeBytes(CLOSE);
      return true;
    };
  };

  const writers = new Map<EventCase, BodyWriter>();
  const eventTypes = new Map<EventCase, string>();
  for (const [eventCase, shape] of Object.entries(EVENT_SHAPES) as Array<[EventCase, Shape]>) {
    const writer = shapeWriter(eventCase, shape);
    if (writer === undefined) continue;
    writers.set(eventCase, writer);
    eventTypes.set(eventCase, shape.eventType);
  }
  // The two hottest shapes (a third of the seed mix each) are written with
  // their fields read directly, one object shape each: the table's writers
  // read fields by name, which measured slower for them. Same members, same
  // order, same PII verdict on the keys as their rows above (the tests compare both).
  const weightPlain = writers.has("variableWeightChange");
  const rulePlain = writers.has("ruleActivation");
  const weightOpen = bytesOf(`${bodyOpen(jsonString(EVENT_SHAPES.variableWeightChange!.eventType))}{"variable":`);
  const weightFrom = bytesOf(',"from":');
  const weightTo = bytesOf(',"to":');
  const ruleOpen = bytesOf(`${bodyOpen(jsonString(EVENT_SHAPES.ruleActivation!.eventType))}{"rule_id":`);
  const ruleVariable = bytesOf(',"variable_id":');
  const ruleOutcomeKey = bytesOf(',"outcome":');
  const ruleForecast = bytesOf(',"forecast_id":');
  const ruleSuccess = bytesOf(',"success":');
  const ruleOutcome = memberWriter("ruleActivation", { kind: "value", field: "outcome" }, "data.outcome")!;
  const weightBody = (m: LogVariableWeightChangeRequest, sink: ByteSink): boolean => {
    sink.writeBytes(weightOpen);
    if (!writeName(sink, m.variable)) return false;
    // Validated: finite numbers.
    sink.writeBytes(weightFrom);
    writeNumber(sink, m.oldWeight);
    sink.writeBytes(weightTo);
    writeNumber(sink, m.newWeight);
    sink.writeBytes(CLOSE);
    return true;
  };
  const ruleBody = (m: LogRuleActivationRequest, wire: WireFields | undefined, sink: ByteSink): boolean => {
    sink.writeBytes(ruleOpen);
    if (!writeName(sink, m.ruleId)) return false;
    sink.writeBytes(ruleVariable);
    if (!writeName(sink, m.variableId)) return false;
    sink.writeBytes(ruleOutcomeKey);
    if (!ruleOutcome(m as unknown as Record<string, unknown>, wire, sink)) return false;
    sink.writeBytes(ruleForecast);
    if (m.forecastId === undefined) sink.writeBytes(NULL);
    else if (!writeText(sink, m.forecastId)) return false;
    sink.writeBytes(ruleSuccess);
    sink.writeBytes(m.success === undefined ? NULL : m.success ? TRUE : FALSE);
    sink.writeBytes(CLOSE);
    return true;
  };
  const bodyTo = (sink: ByteSink, event: LearningEvent["event"], wire?: WireFields): boolean => {
    const start = sink.length;
    let written = false;
    try {
      if (event.case === "variableWeightChange") written = weightPlain && weightBody(event.value, sink);
      else if (event.case === "ruleActivation") written = rulePlain && ruleBody(event.value, wire, sink);
      else {
        const writer = event.case === undefined ? undefined : writers.get(event.case);
        written = writer !== undefined && writer(event.value as unknown as Record<string, unknown>, wire, sink);
      }
    } finally {
      // Nothing of an event left to the general path (or refused) stays in the sink.
      if (!written) sink.length = start;
    }
    return written;
  };
  const scratch = new ByteSink(1024);
  return {
    bodyTo,
    body(event, wire) {
      scratch.reset();
      return bodyTo(scratch, event, wire) ? scratch.text() : undefined;
    },
    eventType: (eventCase) => (eventCase === undefined ? undefined : eventTypes.get(eventCase)),
  };
}
