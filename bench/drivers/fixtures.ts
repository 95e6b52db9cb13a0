import { create, fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  IngestEventsRequestSchema,
  LearningEventSchema,
  LogVariableWeightChangeRequestSchema,
  type IngestEventsRequest,
  type LearningEvent,
  type LogVariableWeightChangeRequest,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";

/**
 * The kinds of event payload the drivers send, one per shape Pulse logs:
 * "seed", the seed mix as Pulse sends it (rule outcomes as objects, see
 * {@link seedMixEvent}); "seed-string", the same mix with string rule
 * outcomes (the friendlier shape the benchmark used to send); "seed-run",
 * the seed mix with every event in a run; "typed", variable weight changes;
 * "generic", LogEvents with a flat Struct.
 */
export type PayloadKind = "seed" | "seed-string" | "seed-run" | "typed" | "generic";

/** Every payload kind, in the order the benchmark's tables give them. */
export const PAYLOAD_KINDS: readonly PayloadKind[] = ["seed", "seed-string", "seed-run", "typed", "generic"];

/** How a seed-mix event is shaped: its rule outcome an object or a string, and the run every event names (if any). */
export interface SeedShape {
  /** "object" (default): {"delta": number, "applied": bool}, as Pulse logs rule outcomes; "string": "applied", "skipped" or "deferred". */
  outcome?: "object" | "string";
  /** The run of every event (the LearningEvent's run field). Default none. */
  run?: string;
}

/** The run of the "seed-run" payload's events. */
export const SEED_RUN = "backtest-2026-12-07";

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
 * weight changes, a third rule activations whose outcome is an object
 * `{"delta": number, "applied": bool}` (as Pulse logs them; `shape.outcome`
 * "string" sends a string instead), a third free-form LogEvents whose Struct
 * data nests objects and a list, with a run in their context. `shape.run`
 * puts every event in a run. Every value comes from `i` alone, by integer
 * arithmetic and one division, so bench/drivers/python_driver.py builds the
 * very same events.
 */
export function seedMixEvent(i: number, shape: SeedShape = {}): LearningEvent {
  const event = seedMixBody(i, shape.outcome ?? "object");
  if (shape.run !== undefined) event.run = shape.run;
  return event;
}

/** The rule outcome of seed-mix event `i` (a rule activation) as Pulse logs it: how far the rule moved its variable, and whether it was applied. */
export function ruleOutcome(i: number): { delta: number; applied: boolean } {
  return { delta: (((i * 7919) % 2001) - 1000) / 10_000, applied: Math.floor(i / 3) % 3 === 0 };
}

function seedMixBody(i: number, outcomeShape: "object" | "string"): LearningEvent {
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
            outcome:
              outcomeShape === "object"
                ? fromJson(ValueSchema, ruleOutcome(i))
                : { kind: { case: "stringValue", value: OUTCOMES[k % 3] } },
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

/** One event of a batch: a typed weight change, a free-form LogEvent with a small Struct, or event `i` of the seed mix in one of its shapes. */
export function learningEvent(kind: PayloadKind, i: number, random: () => number): LearningEvent {
  if (kind === "seed") return seedMixEvent(i);
  if (kind === "seed-string") return seedMixEvent(i, { outcome: "string" });
  if (kind === "seed-run") return seedMixEvent(i, { run: SEED_RUN });
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
