import { randomUUID } from "node:crypto";
import { fromJson, type JsonObject, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { LearningEventSchema } from "../gen/pulse/learninglog/v1/learning_log_pb.js";

/**
 * One event of the catalog, as the `event` oneof of a LearningEvent: the
 * case names the RPC (and so the record's event_type), the value is its
 * request. Built by the functions below, which check the arguments' types.
 */
export type CatalogEvent = Exclude<NonNullable<MessageInitShape<typeof LearningEventSchema>["event"]>, { case: undefined }>;

/** Options of every log call: the event's identity. */
export interface EventOptions {
  /**
   * The event's UUID. Default: a new random one. The server writes an
   * event_id once: a retry with the same id is answered as a duplicate.
   */
  eventId?: string;
}

// Each event's builder is `<case>Event(...arguments, [fields,] eventId)`: the
// generated log methods (./generated/event-methods.ts) call it by that name,
// with the request's proto3 `optional` fields in a `<Case>Fields` object.

/** Options of a rule activation: the optional fields of the record. */
export interface RuleActivationFields {
  /** The forecast involved; written as null when absent. */
  forecastId?: string;
  /** Whether the activation succeeded; written as null when absent. */
  success?: boolean;
}

/** Options of a trust metrics event: the optional fields of the record. */
export interface BayesianTrustMetricsFields {
  /** What the key is, e.g. "rule"; the server writes "variable" when absent. */
  kind?: string;
}

function str(value: unknown, name: string): string {
  if (typeof value !== "string") throw new TypeError(`${name} must be a string, got ${typeof value}`);
  return value;
}

function num(value: unknown, name: string): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${typeof value}`);
  return value;
}

function obj(value: unknown, name: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TypeError(`${name} must be a JSON object`);
  return value as JsonObject;
}

function jsonValue(value: JsonValue | undefined, name: string) {
  try {
    // A google.protobuf.Value: any JSON value (undefined is written as null).
    return fromJson(ValueSchema, value === undefined ? null : value);
  } catch (err) {
    throw new TypeError(`${name} must be a JSON value: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** The event_id to send: the caller's (checked to be a string) or a new UUID. */
export function eventIdOf(options?: EventOptions): string {
  return options?.eventId === undefined ? randomUUID() : str(options.eventId, "eventId");
}

/** A free-form event (`LogEvent`): the record's event_type is `eventType`. */
export function genericEvent(eventType: string, data: JsonObject, context: JsonObject | undefined, eventId: string): CatalogEvent {
  return {
    case: "generic",
    value: { eventType: str(eventType, "eventType"), data: obj(data, "data"), ...(context === undefined ? {} : { context: obj(context, "context") }), eventId },
  };
}

/** A `variable_weight_update`: data `{variable, from, to}`. */
export function variableWeightChangeEvent(variable: string, oldWeight: number, newWeight: number, eventId: string): CatalogEvent {
  return { case: "variableWeightChange", value: { variable: str(variable, "variable"), oldWeight: num(oldWeight, "oldWeight"), newWeight: num(newWeight, "newWeight"), eventId } };
}

/** A `symbolic_upgrade_applied`: data `{changes: plan}`. */
export function symbolicUpgradeEvent(plan: JsonObject, eventId: string): CatalogEvent {
  return { case: "symbolicUpgrade", value: { plan: obj(plan, "plan"), eventId } };
}

/** A `symbolic_revision_triggered`: data `{reason}`. */
export function revisionTriggerEvent(reason: string, eventId: string): CatalogEvent {
  return { case: "revisionTrigger", value: { reason: str(reason, "reason"), eventId } };
}

/** A `symbolic_arc_regret`: data `{regret_scores: scores}`. */
export function arcRegretEvent(scores: Readonly<Record<string, number>>, eventId: string): CatalogEvent {
  const checked: Record<string, number> = {};
  for (const [arc, score] of Object.entries(obj(scores, "scores"))) checked[arc] = num(score, `scores.${arc}`);
  return { case: "arcRegret", value: { scores: checked, eventId } };
}

/** A `meta_learning_summary`: data is the summary itself. */
export function learningSummaryEvent(summary: JsonObject, eventId: string): CatalogEvent {
  return { case: "learningSummary", value: { summary: obj(summary, "summary"), eventId } };
}

/** A `rule_activation`: data `{rule_id, variable_id, outcome, forecast_id, success}`. */
export function ruleActivationEvent(ruleId: string, variableId: string, outcome: JsonValue, fields: RuleActivationFields, eventId: string): CatalogEvent {
  return {
    case: "ruleActivation",
    value: {
      ruleId: str(ruleId, "ruleId"),
      variableId: str(variableId, "variableId"),
      outcome: jsonValue(outcome, "outcome"),
      ...(fields.forecastId === undefined ? {} : { forecastId: str(fields.forecastId, "forecastId") }),
      ...(fields.success === undefined ? {} : { success: Boolean(fields.success) }),
      eventId,
    },
  };
}

/** A `bayesian_trust_metrics`: the server reads the key's metrics from its tracker when it writes the event. */
export function bayesianTrustMetricsEvent(key: string, fields: BayesianTrustMetricsFields, eventId: string): CatalogEvent {
  return { case: "bayesianTrustMetrics", value: { key: str(key, "key"), ...(fields.kind === undefined ? {} : { kind: str(fields.kind, "kind") }), eventId } };
}

/** A `rule_effectiveness`: data `{rule_id, activation_count, success_rate, impact_score, timestamp}`. */
export function ruleEffectivenessEvent(ruleId: string, activationCount: number, successRate: number, impactScore: number, eventId: string): CatalogEvent {
  const count = num(activationCount, "activationCount");
  if (!Number.isSafeInteger(count)) throw new RangeError(`activationCount must be an integer, got ${count}`);
  return {
    case: "ruleEffectiveness",
    value: { ruleId: str(ruleId, "ruleId"), activationCount: BigInt(count), successRate: num(successRate, "successRate"), impactScore: num(impactScore, "impactScore"), eventId },
  };
}
