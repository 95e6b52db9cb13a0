import assert from "node:assert/strict";
import { validate, version } from "uuid";
import { EventIds } from "../../src/events/event-ids.js";

describe("Event ids (random UUIDs drawn in bulk)", () => {
  it("gives valid lower-case version 4 UUIDs of the RFC variant, all different, across many refills of the pool", () => {
    const ids = new EventIds();
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = ids.uuid();
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(validate(id));
      assert.equal(version(id), 4);
      seen.add(id);
    }
    assert.equal(seen.size, 5_000);
  });

  it("uses every random bit outside the version and variant: each hex digit position takes many values", () => {
    const ids = new EventIds();
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 2_000; i++) [...ids.uuid()].forEach((c, j) => digits[j].add(c));
    // Fixed: the dashes and the version digit; the variant digit takes 4 values; every other position all 16.
    digits.forEach((set, j) => {
      if ([8, 13, 18, 23].includes(j)) assert.deepEqual([...set], ["-"]);
      else if (j === 14) assert.deepEqual([...set], ["4"]);
      else if (j === 19) assert.equal(set.size, 4);
      else assert.equal(set.size, 16, `position ${j}`);
    });
  });
});
