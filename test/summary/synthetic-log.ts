import { v4 as uuidv4 } from "uuid";
import { formatTimestamp } from "../../src/clock.js";
import { SummaryBuilder, type SummaryData, type SummaryOptions } from "../../src/summary/aggregate.js";

/** Start of every synthetic log: 2026-11-24 12:00 UTC, in microseconds. */
export const T0 = Date.UTC(2026, 10, 24, 12, 0, 0) * 1000;

/** The shape of a synthetic log. */
export interface LogShape {
  records: number;
  /** Minutes the records are spread over. */
  minutes: number;
  /** Keys the tracker's trust_updated records name; some are updated far more often than others. */
  keys: number;
  /** Event types beyond the charted ones, each with its own share of the records. */
  extraTypes: number;
  /** This many of the records, at the end, are written within one second (a burst after a quiet stretch). */
  burst?: number;
}

/** A deterministic pseudo-random sequence in [0, 1). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * The lines of a log of the given shape, in seq order: weight changes, the
 * tracker's trust_updated audit records (the shape the tracker writes; the
 * MAC is not checked by the summary), rule effectiveness and other events.
 */
export function* syntheticLines(shape: LogShape): Generator<{ seq: number; timestamp: string; eventType: string; json: string }> {
  const rand = lcg(42);
  const types = ["variable_weight_update", "trust_updated", "rule_effectiveness", ...Array.from({ length: shape.extraTypes }, (_, i) => `custom_event_${String(i).padStart(2, "0")}`)];
  const quiet = shape.records - (shape.burst ?? 0);
  const weights = new Map<string, number>();
  let prevAudit = 0;
  for (let seq = 1; seq <= shape.records; seq++) {
    const micros = seq <= quiet ? T0 + Math.floor(((seq - 1) * shape.minutes * 60_000_000) / Math.max(1, quiet)) : T0 + shape.minutes * 60_000_000 + (seq - quiet) * Math.floor(1_000_000 / (shape.burst ?? 1));
    const timestamp = formatTimestamp(micros);
    // Earlier types are more frequent: type i has weight 1 / (i + 1).
    const total = types.reduce((s, _, i) => s + 1 / (i + 1), 0);
    let r = rand() * total;
    let type = types[types.length - 1];
    for (const [i, t] of types.entries()) if ((r -= 1 / (i + 1)) < 0) { type = t; break; }
    let data: Record<string, unknown>;
    if (type === "variable_weight_update") {
      const variable = `var_${Math.floor(rand() * 12)}`;
      const from = weights.get(variable) ?? 1;
      const to = from + (rand() - 0.5) * 0.2;
      weights.set(variable, to);
      data = { variable, from, to };
    } else if (type === "trust_updated") {
      // Key k is picked with probability falling with k: the most updated keys are the first ones.
      const key = `key_${String(Math.floor(shape.keys * rand() ** 2)).padStart(2, "0")}`;
      data = { time: micros / 1e6, outcomes: [{ key, success: rand() < 0.7, weight: 1 }], prev_seq: prevAudit, mac: "unchecked" };
      prevAudit = seq;
    } else if (type === "rule_effectiveness") {
      data = { rule_id: `rule_${Math.floor(rand() * 6)}`, activation_count: seq, success_rate: rand(), impact_score: rand() };
    } else data = { n: seq };
    yield { seq, timestamp, eventType: type, json: `{"event_id":"${uuidv4()}","timestamp":"${timestamp}","event_type":"${type}","data":${JSON.stringify(data)},"seq":${seq}}` };
  }
}

/** The summary of a synthetic log, built without a file. */
export function syntheticSummary(shape: LogShape, options?: SummaryOptions): SummaryData {
  const b = new SummaryBuilder(options);
  for (const r of syntheticLines(shape)) b.add(r);
  return b.build();
}
