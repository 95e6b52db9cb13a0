import fc from "fast-check";
import type { TrustRecord } from "../../../src/trust/tracker.js";
import { keyProblem } from "../../../src/trust/validation.js";

/** A valid key (printable, 1 to 40 characters), with a few awkward ones mixed in. */
export const keyArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }).filter((k) => keyProblem(k) === undefined),
  fc.constantFrom("__proto__", "constructor", "a.b", 'quote"d', "ünï-cødé", "rule/1", "  spaced  "),
);

/** A finite time in seconds since the epoch. */
export const timeArb = fc.double({ min: 0, max: 4e9, noNaN: true, noDefaultInfinity: true });

/** A valid imported record for `key`. */
export const recordArb = (key: string): fc.Arbitrary<TrustRecord> =>
  fc
    .record({
      alpha: fc.double({ min: 1, max: 1e9, noNaN: true, noDefaultInfinity: true }),
      beta: fc.double({ min: 1, max: 1e9, noNaN: true, noDefaultInfinity: true }),
      lastUpdate: fc.option(timeArb, { nil: undefined }),
      history: fc.array(fc.record({ time: timeArb, trust: fc.double({ min: 0, max: 1, noNaN: true }) }), { maxLength: 6 }),
    })
    .map((r) => {
      // Plain objects: fast-check builds records without a prototype.
      const record: TrustRecord = { key, alpha: r.alpha, beta: r.beta, history: r.history.map((p) => ({ time: p.time, trust: p.trust })) };
      if (r.lastUpdate !== undefined) record.lastUpdate = r.lastUpdate;
      return record;
    });

/** Valid records with distinct keys, sorted by key (as exports are). */
export const recordsArb: fc.Arbitrary<TrustRecord[]> = fc
  .uniqueArray(keyArb, { maxLength: 8 })
  .chain((keys) => fc.tuple(...keys.map(recordArb)))
  .map((records) => [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));

/** One change to the tracker, as a client makes it. */
export type Op =
  | { kind: "update"; outcomes: Array<{ key: string; success: boolean; weight?: number }> }
  | { kind: "decay"; key?: string; factor: number; minCount: number };

const smallKey = fc.constantFrom("a", "b", "c", "rule/7", "ü");

/** A change: a batch of outcomes on a few keys, or a decay. */
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("update" as const),
      outcomes: fc.array(
        fc.record({ key: smallKey, success: fc.boolean(), weight: fc.option(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), { nil: undefined }) }, { requiredKeys: ["key", "success"] }),
        { minLength: 1, maxLength: 5 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        kind: fc.constant("decay" as const),
        key: smallKey,
        factor: fc.double({ min: 1e-3, max: 1, noNaN: true }),
        minCount: fc.double({ min: 0, max: 20, noNaN: true }),
      },
      { requiredKeys: ["kind", "factor", "minCount"] },
    ),
  },
);
