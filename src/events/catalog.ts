import type { DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { Value } from "@bufbuild/protobuf/wkt";
import {
  LearningEventSchema,
  type LearningEvent,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { formatTimestamp, type Clock } from "../clock.js";
import type { EventLimits } from "../guard/limits.js";
import { valueToJson } from "../guard/validator.js";
import type { KeyMetrics } from "../trust/tracker.js";
import { EVENT_SHAPES, type EventCase, type Shape, type Source } from "./event-shapes.js";

export type { EventCase } from "./event-shapes.js";

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

type EventMessage<C extends EventCase> = Extract<LearningEvent["event"], { case: C }>["value"];

type Builder<C extends EventCase> = (message: EventMessage<C>, deps: CatalogDeps) => EventDraft | Promise<EventDraft>;

/** A member of a fixed-shape event's data, from its message (see {@link EVENT_SHAPES}). */
function memberOf(source: Source, m: Record<string, unknown>, deps: CatalogDeps): JsonValue {
  switch (source.kind) {
    case "name":
    case "text":
    case "bool":
      // An optional field absent is null, as the original module wrote None.
      return (m[source.field] as string | boolean | undefined) ?? null;
    case "number":
      return m[source.field] as number;
    case "int64":
      // int64 arrives as bigint; JSON holds it exactly up to 2^53.
      return Number(m[source.field] as bigint);
    case "value":
      return valueToJson(m[source.field] as Value | undefined, source.field, 0, deps.limits);
    case "struct":
      return (m[source.field] as JsonObject | undefined) ?? {};
    case "scores":
      return { ...(m[source.field] as Record<string, number>) };
    case "now":
      // The original wrote the time of the call inside data as well.
      return formatTimestamp(deps.clock.nowMicros());
  }
}

/** The draft of a fixed-shape event, from its row of {@link EVENT_SHAPES}. */
function shapedDraft(shape: Shape, m: Record<string, unknown>, deps: CatalogDeps): EventDraft {
  const data = Array.isArray(shape.data)
    ? Object.fromEntries((shape.data as ReadonlyArray<readonly [string, Source]>).map(([key, source]) => [key, memberOf(source, m, deps)]))
    : memberOf(shape.data as Source, m, deps);
  return { eventId: m.eventId as string | undefined, eventType: shape.eventType, data };
}

const shaped = Object.fromEntries(
  (Object.entries(EVENT_SHAPES) as Array<[EventCase, Shape]>).map(([c, shape]) => [c, (m: EventMessage<EventCase>, deps: CatalogDeps) => shapedDraft(shape, m as unknown as Record<string, unknown>, deps)]),
) as { [C in EventCase]?: Builder<C> };

/**
 * The one table from event message to record: event_type and data exactly as
 * the original module wrote them. The fixed-shape events come from their rows
 * of {@link EVENT_SHAPES} (the typed encoders write the same rows' bodies);
 * what remains by hand reads more than its message. Adding an event means a
 * proto message, a row there (or a line here) and a test.
 */
export const eventBuilders: { [C in EventCase]: Builder<C> } = {
  ...(shaped as { [C in Exclude<EventCase, "generic" | "bayesianTrustMetrics">]: Builder<C> }),
  generic: (m) => ({ eventId: m.eventId, eventType: m.eventType, data: m.data ?? {}, context: m.context }),
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
