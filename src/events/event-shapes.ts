import type { LearningEvent } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";

/** The cases of the LearningEvent oneof: one per event of the catalog. */
export type EventCase = NonNullable<LearningEvent["event"]["case"]>;

/** Where one member of an event's data comes from: a field of the event message (by its local name), or the clock. */
export type Source =
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
export interface Shape {
  readonly eventType: string;
  readonly data: ReadonlyArray<readonly [string, Source]> | Source;
}

const name = (field: string): Source => ({ kind: "name", field });
const text = (field: string): Source => ({ kind: "text", field });
const number = (field: string): Source => ({ kind: "number", field });

/**
 * The records of the fixed-shape catalog events: event_type, and data's
 * members in the original module's order. The catalog builds these events'
 * drafts from these rows (src/events/catalog.ts) and the typed encoders
 * write their bodies from the same rows (typed-encoders.ts), so the two paths
 * cannot disagree on a shape. The events that read the tracker
 * (bayesian_trust_metrics) and LogEvents are not here. Adding an event of
 * fixed shape: a proto message, a row here, and the property tests cover it.
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
