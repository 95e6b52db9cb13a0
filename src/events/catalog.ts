import type { DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";
import {
  LearningEventSchema,
  type LearningEvent,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { formatTimestamp, type Clock } from "../clock.js";
import type { EventLimits } from "../guard/limits.js";
import { valueToJson } from "../guard/validator.js";
import type { KeyMetrics } from "../trust/tracker.js";

/** An event before the store stamps it: what goes between timestamp and seq. */
export interface EventDraft {
  /** The client's event_id, when it supplied one. */
  eventId?: string;
  eventType: string;
  data: JsonValue;
  /** Written only when non-empty. */
  context?: JsonObject;
  /** Extra values to return to the caller beside the ack (e.g. the trust metrics logged). */
  metrics?: KeyMetrics;
}

/** What builders may consult. */
export interface CatalogDeps {
  limits: EventLimits;
  clock: Clock;
  /** Reads one key's trust metrics from the tracker. */
  trustMetrics(key: string): Promise<KeyMetrics>;
}

/** The cases of the LearningEvent oneof: one per event of the catalog. */
export type EventCase = NonNullable<LearningEvent["event"]["case"]>;
type EventMessage<C extends EventCase> = Extract<LearningEvent["event"], { case: C }>["value"];

type Builder<C extends EventCase> = (message: EventMessage<C>, deps: CatalogDeps) => EventDraft | Promise<EventDraft>;

/**
 * The one table from event message to record: event_type and data exactly as
 * the original module wrote them. Adding an event means a proto message, a
 * line here and a test.
 */
export const eventBuilders: { [C in EventCase]: Builder<C> } = {
  generic: (m) => ({ eventId: m.eventId, eventType: m.eventType, data: m.data ?? {}, context: m.context }),
  variableWeightChange: (m) => ({
    eventId: m.eventId,
    eventType: "variable_weight_update",
    data: { variable: m.variable, from: m.oldWeight, to: m.newWeight },
  }),
  symbolicUpgrade: (m) => ({ eventId: m.eventId, eventType: "symbolic_upgrade_applied", data: { changes: m.plan ?? {} } }),
  revisionTrigger: (m) => ({ eventId: m.eventId, eventType: "symbolic_revision_triggered", data: { reason: m.reason } }),
  arcRegret: (m) => ({ eventId: m.eventId, eventType: "symbolic_arc_regret", data: { regret_scores: { ...m.scores } } }),
  learningSummary: (m) => ({ eventId: m.eventId, eventType: "meta_learning_summary", data: m.summary ?? {} }),
  ruleActivation: (m, deps) => ({
    eventId: m.eventId,
    eventType: "rule_activation",
    data: {
      rule_id: m.ruleId,
      variable_id: m.variableId,
      outcome: valueToJson(m.outcome, "outcome", 0, deps.limits),
      forecast_id: m.forecastId ?? null,
      success: m.success ?? null,
    },
  }),
  bayesianTrustMetrics: async (m, deps) => {
    const metrics = await deps.trustMetrics(m.key);
    return {
      eventId: m.eventId,
      eventType: "bayesian_trust_metrics",
      data: {
        key: m.key,
        kind: m.kind ?? "variable",
        trust: metrics.trust,
        confidence_interval: [metrics.confidenceLower, metrics.confidenceUpper],
        confidence_strength: metrics.confidenceStrength,
        sample_size: metrics.sampleSize,
      },
      metrics,
    };
  },
  ruleEffectiveness: (m, deps) => ({
    eventId: m.eventId,
    eventType: "rule_effectiveness",
    data: {
      rule_id: m.ruleId,
      // int64 arrives as bigint; JSON holds it exactly up to 2^53.
      activation_count: Number(m.activationCount),
      success_rate: m.successRate,
      impact_score: m.impactScore,
      // The original wrote the time of the call inside data as well.
      timestamp: formatTimestamp(deps.clock.nowMicros()),
    },
  }),
};

/** The message type of each case, read from the LearningEvent descriptor. */
export const eventSchemas: ReadonlyMap<EventCase, DescMessage> = new Map(
  LearningEventSchema.oneofs[0].fields.map((f) => [f.localName as EventCase, f.message!]),
);

/** The proto field name of each case (for error paths such as `events[3].variable_weight_change.old_weight`). */
export const eventFieldNames: ReadonlyMap<EventCase, string> = new Map(
  LearningEventSchema.oneofs[0].fields.map((f) => [f.localName as EventCase, f.name]),
);

/** Case of the oneof by message type name: how a unary RPC finds its builder. */
export const eventCaseByTypeName: ReadonlyMap<string, EventCase> = new Map(
  [...eventSchemas].map(([c, schema]) => [schema.typeName, c]),
);

/** Builds the draft of any LearningEvent. */
export function buildEvent(event: LearningEvent["event"], deps: CatalogDeps): EventDraft | Promise<EventDraft> {
  if (event.case === undefined) throw new Error("empty event");
  return (eventBuilders[event.case] as Builder<EventCase>)(event.value as EventMessage<EventCase>, deps);
}
