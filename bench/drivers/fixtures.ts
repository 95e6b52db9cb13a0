import { create } from "@bufbuild/protobuf";
import {
  IngestEventsRequestSchema,
  LearningEventSchema,
  LogVariableWeightChangeRequestSchema,
  type IngestEventsRequest,
  type LearningEvent,
  type LogVariableWeightChangeRequest,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";

/**
 * The kinds of event payload the drivers send: "typed" variable weight
 * changes, "generic" LogEvents with a flat Struct, or the "seed" mix (see
 * {@link seedMixEvent}).
 */
export type PayloadKind = "typed" | "generic" | "seed";

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

const pad3 = (n: number) => String(n).padStart(3, "0");
const OUTCOMES = ["applied", "skipped", "deferred"];

/**
 * Event `i` of the seed mix, the event mix Pulse logs: a third variable
 * weight changes, a third rule activations, a third free-form LogEvents whose
 * Struct data nests objects and a list (about 355 bytes per log line on
 * average, hash chain included). Every value comes from `i` alone, by integer
 * arithmetic and one division, so bench/drivers/python_driver.py builds the
 * very same events.
 */
export function seedMixEvent(i: number): LearningEvent {
  const variable = `var_${pad3(i % 500)}`;
  const k = Math.floor(i / 3);
  const weight = (i * 7919) % 10_000;
  switch (i % 3) {
    case 0:
      return create(LearningEventSchema, {
        event: {
          case: "variableWeightChange",
          value: { variable, oldWeight: weight / 10_000, newWeight: (weight + ((i * 104_729) % 1001) - 500) / 10_000 },
        },
      });
    case 1:
      return create(LearningEventSchema, {
        event: {
          case: "ruleActivation",
          value: {
            ruleId: `rule_${pad3(k % 250)}`,
            variableId: variable,
            outcome: { kind: { case: "stringValue", value: OUTCOMES[k % 3] } },
            forecastId: `fc-${100_000 + i}`,
            success: k % 4 !== 0,
          },
        },
      });
    default: {
      const lo = (i * 13) % 5000;
      return create(LearningEventSchema, {
        event: {
          case: "generic",
          value: {
            eventType: "forecast_evaluated",
            data: {
              forecast_id: `fc-${100_000 + i}`,
              variable,
              horizon_days: 1 + (k % 14),
              metrics: { mae: ((i * 31) % 1000) / 10_000, rmse: ((i * 37) % 2000) / 10_000 },
              interval: { lo: lo / 10_000, hi: (lo + 2500) / 10_000 },
              tags: ["backtest", k % 2 === 0 ? "daily" : "weekly"],
              ok: k % 5 !== 0,
            },
            context: { source: "backtest", run_id: `run-${pad3(k % 50)}` },
          },
        },
      });
    }
  }
}

/** One event of a batch: a typed weight change, a free-form LogEvent with a small Struct, or event `i` of the seed mix. */
export function learningEvent(kind: PayloadKind, i: number, random: () => number): LearningEvent {
  if (kind === "seed") return seedMixEvent(i);
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
