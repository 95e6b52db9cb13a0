import { ServiceError } from "../errors.js";
import type { TrustOutcome } from "./client.js";
import type { TrustRecord } from "./tracker.js";

/**
 * Checks of trust inputs. Each throws INVALID_ARGUMENT naming the field (the
 * caller passes the proto path, e.g. `outcomes[3].weight`), before anything
 * changes. The same rules serve the TrustService, the learning log's trust
 * RPCs and the records of an import.
 */

/** Longest key, in characters. */
export const KEY_CHARS_MAX = 512;
/** Most outcomes in one BatchUpdate. */
export const BATCH_OUTCOMES_MAX = 10_000;
/** Most keys in one GetMetrics. */
export const METRICS_KEYS_MAX = 10_000;
/**
 * Largest alpha + beta of a key: 2^53 - 1, so that sample_size (an int64 on
 * the wire) stays exact and every sum stays finite.
 */
export const COUNT_MAX = Number.MAX_SAFE_INTEGER;

// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** What is wrong with a key, or undefined: 1 to 512 characters, no control characters. */
export function keyProblem(key: string): string | undefined {
  if (typeof key !== "string") return "must be a string";
  if (key.length === 0) return "must not be empty";
  if (key.length > KEY_CHARS_MAX) return `longer than ${KEY_CHARS_MAX} characters (${key.length})`;
  if (CONTROL.test(key)) return "must not contain control characters or line breaks";
  return undefined;
}

/** A key: 1 to 512 characters, no control characters. */
export function checkKey(key: string, field: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw ServiceError.invalid(field, problem);
}

/** An outcome's weight: absent (1), or finite and > 0. */
export function checkWeight(weight: number | undefined, field: string): void {
  if (weight === undefined) return;
  if (!Number.isFinite(weight) || weight <= 0) throw ServiceError.invalid(field, `must be a finite number > 0, got ${weight}`);
}

/** Checks one outcome; `field` is the outcome's path. */
export function checkOutcome(outcome: TrustOutcome | undefined, field: string): asserts outcome is TrustOutcome {
  if (outcome === undefined) throw ServiceError.invalid(field, "is required");
  checkKey(outcome.key, `${field}.key`);
  checkWeight(outcome.weight, `${field}.weight`);
}

/** Checks the outcomes of a batch: at least one, at most 10,000, each valid. */
export function checkOutcomes(outcomes: readonly TrustOutcome[], field: string): void {
  if (outcomes.length === 0) throw ServiceError.invalid(field, "must hold at least one outcome");
  if (outcomes.length > BATCH_OUTCOMES_MAX) throw ServiceError.invalid(field, `${outcomes.length} outcomes, over the limit of ${BATCH_OUTCOMES_MAX}`);
  outcomes.forEach((o, i) => checkOutcome(o, `${field}[${i}]`));
}

/** The keys of a GetMetrics: at least one, at most 10,000, each valid. */
export function checkKeys(keys: readonly string[], field: string): void {
  if (keys.length === 0) throw ServiceError.invalid(field, "must name at least one key");
  if (keys.length > METRICS_KEYS_MAX) throw ServiceError.invalid(field, `${keys.length} keys, over the limit of ${METRICS_KEYS_MAX}`);
  keys.forEach((k, i) => checkKey(k, `${field}[${i}]`));
}

/** z of a confidence interval: absent (1.96), or finite and > 0. */
export function checkZ(z: number | undefined, field: string): void {
  if (z === undefined) return;
  if (!Number.isFinite(z) || z <= 0) throw ServiceError.invalid(field, `must be a finite number > 0, got ${z}`);
}

/** A decay factor: in (0, 1]. */
export function checkFactor(factor: number, field: string): void {
  if (!Number.isFinite(factor) || factor <= 0 || factor > 1) throw ServiceError.invalid(field, `must be in (0, 1], got ${factor}`);
}

/** A decay's min_count: absent (0), or finite and >= 0. */
export function checkMinCount(minCount: number | undefined, field: string): void {
  if (minCount === undefined) return;
  if (!Number.isFinite(minCount) || minCount < 0) throw ServiceError.invalid(field, `must be a finite number >= 0, got ${minCount}`);
}

/** Report thresholds: each in [0, 1], and low <= high when both are given. */
export function checkThresholds(high: number | undefined, low: number | undefined, fields: { high: string; low: string }): void {
  for (const [value, field] of [
    [high, fields.high],
    [low, fields.low],
  ] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0 && value <= 1)) {
      throw ServiceError.invalid(field, `must be in [0, 1], got ${value}`);
    }
  }
  const h = high ?? 0.8;
  const l = low ?? 0.2;
  if (l > h) throw ServiceError.invalid(fields.low, `${l} is above the high threshold ${h}`);
}

/**
 * Checks imported records, all before any is applied: keys valid and not
 * repeated; alpha and beta finite and >= 1 (the prior: decay never goes below
 * it, so no state of the tracker has less) with alpha + beta <= 2^53 - 1;
 * last_update and every history point finite. `fail` builds the error, so a
 * file import can answer with another status than a request.
 */
export function checkRecords(
  records: readonly TrustRecord[],
  pathOf: (index: number, key: string) => string,
  fail: (field: string, problem: string) => Error = ServiceError.invalid,
): void {
  const seen = new Set<string>();
  records.forEach((r, i) => {
    const path = pathOf(i, r.key);
    const problem = keyProblem(r.key);
    if (problem !== undefined) throw fail(`${path}.key`, problem);
    if (seen.has(r.key)) throw fail(`${path}.key`, `key "${r.key}" appears twice`);
    seen.add(r.key);
    for (const [name, value] of [
      ["alpha", r.alpha],
      ["beta", r.beta],
    ] as const) {
      if (typeof value !== "number" || !Number.isFinite(value) || value < 1) {
        throw fail(`${path}.${name}`, `must be a finite number >= 1 (the prior), got ${value}`);
      }
    }
    if (r.alpha + r.beta > COUNT_MAX) throw fail(`${path}.alpha`, `alpha + beta must be at most ${COUNT_MAX}`);
    if (r.lastUpdate !== undefined && !Number.isFinite(r.lastUpdate)) throw fail(`${path}.last_update`, `must be finite, got ${r.lastUpdate}`);
    r.history.forEach((p, j) => {
      if (!Number.isFinite(p.time)) throw fail(`${path}.history[${j}].time`, `must be finite, got ${p.time}`);
      if (!Number.isFinite(p.trust)) throw fail(`${path}.history[${j}].trust`, `must be finite, got ${p.trust}`);
    });
  });
}
