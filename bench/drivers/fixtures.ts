import { create } from "@bufbuild/protobuf";
import {
  IngestEventsRequestSchema,
  LearningEventSchema,
  LogVariableWeightChangeRequestSchema,
  type IngestEventsRequest,
  type LearningEvent,
  type LogVariableWeightChangeRequest,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";

/** The kinds of event payload the drivers send. */
export type PayloadKind = "typed" | "generic";

/**
 * A small, deterministic pseudo-random sequence (mulberry32), so every run
 * sends the same payloads.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/** A variable weight change as Pulse logs them: a short variable name and two weights. */
export function weightChange(i: number, random: () => number): LogVariableWeightChangeRequest {
  const from = round4(random());
  return create(LogVariableWeightChangeRequestSchema, {
    variable: `var_${String(i % 500).padStart(3, "0")}`,
    oldWeight: from,
    newWeight: round4(from + (random() - 0.5) / 10),
  });
}

/** One event of a batch: a typed weight change, or a free-form LogEvent with a small Struct. */
export function learningEvent(kind: PayloadKind, i: number, random: () => number): LearningEvent {
  if (kind === "typed") {
    return create(LearningEventSchema, { event: { case: "variableWeightChange", value: weightChange(i, random) } });
  }
  return create(LearningEventSchema, {
    event: {
      case: "generic",
      value: {
        eventType: "forecast_evaluated",
        data: {
          forecast_id: `fc-${100_000 + i}`,
          variable: `var_${String(i % 500).padStart(3, "0")}`,
          score: round4(random()),
          horizon_days: 1 + (i % 14),
          tags: ["backtest", i % 2 === 0 ? "daily" : "weekly"],
          ok: random() > 0.2,
        },
        context: { source: "bench" },
      },
    },
  });
}

/**
 * A few distinct pre-built batches, reused round-robin: the client encodes
 * each send (as a real client does) but does not build messages in the loop.
 */
export function prebuiltBatches(kind: PayloadKind, batchEvents: number, distinct = 8): IngestEventsRequest[] {
  const random = seededRandom(42);
  const batches: IngestEventsRequest[] = [];
  for (let b = 0; b < distinct; b++) {
    const events: LearningEvent[] = [];
    for (let i = 0; i < batchEvents; i++) events.push(learningEvent(kind, b * batchEvents + i, random));
    batches.push(create(IngestEventsRequestSchema, { batchId: 0n, events }));
  }
  return batches;
}
