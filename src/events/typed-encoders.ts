import type { LearningEvent } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import type { PiiGuard } from "../guard/pii.js";
import { bodyOpen } from "../record/body.js";
import { jsonNumber, jsonString } from "../record/json-text.js";

/** Names whose JSON the encoders of one guard remember, and the longest remembered: about 5 MB at most (a 128-character name of escaped characters has 770 characters of JSON). */
const NAMES_MAX = 4096;
const NAME_CHARS_MAX = 128;

/** The event types of the fixed-shape events the typed encoders write, by case. */
export const TYPED_EVENT_TYPES = { variableWeightChange: "variable_weight_update", ruleActivation: "rule_activation" } as const;
// Each body's opening and its data's first key, made once: a body is then one string built per event.
const WEIGHT_OPEN = `${bodyOpen(jsonString(TYPED_EVENT_TYPES.variableWeightChange))}{"variable":`;
const RULE_OPEN = `${bodyOpen(jsonString(TYPED_EVENT_TYPES.ruleActivation))}{"rule_id":`;

/** The bodies of the fixed-shape catalog events, written without building their data objects. */
export interface TypedEncoders {
  /**
   * The record body of a validated event, byte for byte what the catalog,
   * the PII guard and encodeBody would write; undefined when the event is not
   * of a fixed shape written here, or when the PII guard would change or
   * refuse anything in it (the general path then writes it, or says why).
   */
  body(event: LearningEvent["event"]): string | undefined;
}

/**
 * Builds the typed encoders for one PII guard. The guard's verdict on the
 * keys is taken once, from a sample of each shape: when it would redact any
 * key of a shape, that shape always takes the general path.
 */
export function createTypedEncoders(pii: PiiGuard): TypedEncoders {
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
  const weightPlain = keysPlain({ variable: "", from: 0, to: 0 });
  const rulePlain = keysPlain({ rule_id: "", variable_id: "", outcome: "", forecast_id: "", success: false });
  /** The string's JSON, or undefined when the guard would redact any of it (or refuse it). */
  const text = (value: string): string | undefined => {
    found.length = 0;
    try {
      if (pii(value, "", found) !== value || found.length > 0) return undefined;
    } catch {
      return undefined;
    }
    return jsonString(value);
  };
  // The JSON of names that come back event after event (variables, rules,
  // outcomes): the guard's verdict on a string depends on the string alone.
  // Bounded: emptied when full, like the event type cache.
  const names = new Map<string, string>();
  /** {@link text} of a string likely to repeat, remembered when nothing in it is redacted. */
  const nameText = (value: string): string | undefined => {
    if (value.length > NAME_CHARS_MAX) return text(value);
    let json = names.get(value);
    if (json === undefined) {
      json = text(value);
      if (json === undefined) return undefined;
      if (names.size >= NAMES_MAX) names.clear();
      names.set(value, json);
    }
    return json;
  };
  return {
    body(event) {
      switch (event.case) {
        case "variableWeightChange": {
          if (!weightPlain) return undefined;
          const m = event.value;
          const variable = nameText(m.variable);
          if (variable === undefined) return undefined;
          // Validated: finite numbers.
          return `${WEIGHT_OPEN}${variable},"from":${jsonNumber(m.oldWeight)},"to":${jsonNumber(m.newWeight)}}`;
        }
        case "ruleActivation": {
          if (!rulePlain) return undefined;
          const m = event.value;
          let outcome: string | undefined;
          const kind = m.outcome?.kind;
          switch (kind?.case) {
            case undefined:
            case "nullValue":
              outcome = "null";
              break;
            case "numberValue":
              outcome = jsonNumber(kind.value);
              break;
            case "boolValue":
              outcome = kind.value ? "true" : "false";
              break;
            case "stringValue":
              outcome = nameText(kind.value);
              break;
            default:
              // Objects and lists: the general path (depth, PII walk).
              return undefined;
          }
          const ruleId = nameText(m.ruleId);
          const variableId = nameText(m.variableId);
          const forecastId = m.forecastId === undefined ? "null" : text(m.forecastId);
          if (outcome === undefined || ruleId === undefined || variableId === undefined || forecastId === undefined) return undefined;
          const success = m.success === undefined ? "null" : m.success ? "true" : "false";
          return `${RULE_OPEN}${ruleId},"variable_id":${variableId},"outcome":${outcome},"forecast_id":${forecastId},"success":${success}}`;
        }
        default:
          return undefined;
      }
    },
  };
}
