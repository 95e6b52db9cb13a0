import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { create, equals, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { IngestEventsRequestSchema, LearningEventSchema, type LearningEvent } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { PAYLOAD_KINDS, prebuiltBatches, SEED_RUN, seedMixEvent, type PayloadKind } from "../../../bench/drivers/fixtures.js";
import { pythonInterpreter, pythonProblem } from "../../../bench/drivers/python.js";
import { repoRoot } from "../../../bench/servers/spawn.js";

const BATCH_EVENTS = 1000;

/** The batches bench/drivers/python_driver.py sends, as the bytes grpcio serializes, for each payload kind. */
async function pythonBatches(kinds: readonly PayloadKind[]): Promise<Record<string, Uint8Array[]>> {
  const script = [
    "import base64, json, sys",
    "import python_driver as d",
    `kinds = ${JSON.stringify(kinds)}`,
    `print(json.dumps({k: [base64.b64encode(b.SerializeToString()).decode() for b in d.prebuilt_batches(k, ${BATCH_EVENTS})] for k in kinds}))`,
  ].join("\n");
  const { stdout } = await promisify(execFile)(pythonInterpreter(), ["-c", script], {
    cwd: join(repoRoot, "bench", "drivers"),
    env: { ...process.env, PYTHONPATH: [join(repoRoot, "gen", "python"), join(repoRoot, "bench", "drivers")].join(":") },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  const parsed = JSON.parse(stdout) as Record<string, string[]>;
  return Object.fromEntries(Object.entries(parsed).map(([k, list]) => [k, list.map((b) => new Uint8Array(Buffer.from(b, "base64")))]));
}

const eventsOf = (batches: readonly Uint8Array[]): LearningEvent[] => batches.flatMap((b) => fromBinary(IngestEventsRequestSchema, b).events);
const tsEvents = (kind: PayloadKind): LearningEvent[] => prebuiltBatches(kind, BATCH_EVENTS).flatMap((b) => b.events);

function countByCase(events: readonly LearningEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of events) counts[e.event.case ?? "none"] = (counts[e.event.case ?? "none"] ?? 0) + 1;
  return counts;
}

/** An event with the values its driver draws at random blanked (the two languages draw from different generators). */
function shapeOf(event: LearningEvent): LearningEvent {
  const copy = fromBinary(LearningEventSchema, toBinary(LearningEventSchema, event));
  if (copy.event.case === "variableWeightChange") {
    copy.event.value.oldWeight = 0;
    copy.event.value.newWeight = 0;
  } else if (copy.event.case === "generic") {
    const data = copy.event.value.data as JsonObject;
    data.score = 0;
    data.ok = false;
  }
  return copy;
}

describe("bench/drivers/fixtures: the payloads of the TypeScript and Python drivers", function () {
  this.timeout(180_000);
  let python: Record<string, Uint8Array[]>;

  before(async function () {
    const problem = await pythonProblem();
    if (problem !== undefined) {
      // The Python driver cannot run here either; nothing to compare with.
      console.warn(`    skipped: ${problem}`);
      this.skip();
    }
    python = await pythonBatches(PAYLOAD_KINDS);
  });

  for (const kind of ["seed", "seed-string", "seed-run"] as const) {
    it(`the ${kind} payload is the very same events, in the same order, from both drivers`, () => {
      const ts = tsEvents(kind);
      const py = eventsOf(python[kind]);
      assert.equal(py.length, ts.length);
      assert.equal(ts.length, 8 * BATCH_EVENTS);
      for (let i = 0; i < ts.length; i++) {
        if (!equals(LearningEventSchema, ts[i], py[i])) {
          assert.fail(`${kind} event ${i} differs:\nTypeScript ${JSON.stringify(toBinaryHex(ts[i]))}\nPython     ${JSON.stringify(toBinaryHex(py[i]))}`);
        }
      }
    });
  }

  it("the seed mix's rule outcomes are objects {delta: number, applied: bool} as Pulse sends them; seed-string's are strings", () => {
    const outcomes = (kind: PayloadKind) =>
      tsEvents(kind).flatMap((e) => (e.event.case === "ruleActivation" ? [e.event.value.outcome?.kind] : []));
    const objects = outcomes("seed");
    assert.equal(objects.length, Math.ceil((8 * BATCH_EVENTS - 1) / 3));
    const applied = new Set<boolean>();
    for (const kind of objects) {
      assert.equal(kind?.case, "structValue");
      const fields = kind.value.fields;
      assert.deepEqual(Object.keys(fields).sort(), ["applied", "delta"]);
      assert.equal(fields.delta.kind.case, "numberValue");
      assert.equal(fields.applied.kind.case, "boolValue");
      applied.add(fields.applied.kind.value as boolean);
    }
    assert.deepEqual([...applied].sort(), [false, true], "both outcomes occur");
    assert.ok(outcomes("seed-string").every((k) => k?.case === "stringValue"));
  });

  it("the seed-run payload names its run in every event; the other shapes in none, and their LogEvents carry a run in context", () => {
    assert.ok(tsEvents("seed-run").every((e) => e.run === SEED_RUN));
    for (const kind of ["seed", "seed-string"] as const) {
      const events = tsEvents(kind);
      assert.ok(events.every((e) => e.run === undefined));
      const generic = events.flatMap((e) => (e.event.case === "generic" ? [e.event.value] : []));
      assert.ok(generic.every((g) => typeof g.context?.run_id === "string" && typeof (g.data as JsonObject).metrics === "object"));
    }
  });

  it("the seed mix is a third weight changes, a third rule activations, a third LogEvents, in both drivers", () => {
    const n = 8 * BATCH_EVENTS;
    const expected = { variableWeightChange: Math.ceil(n / 3), ruleActivation: Math.ceil((n - 1) / 3), generic: Math.ceil((n - 2) / 3) };
    assert.deepEqual(countByCase(tsEvents("seed")), expected);
    assert.deepEqual(countByCase(eventsOf(python.seed)), expected);
  });

  it("every seed-mix event has the same encoded size in both drivers", () => {
    const ts = tsEvents("seed").map((e) => toBinary(LearningEventSchema, e).length);
    // The size of each event inside the request grpcio serialized (its map entries may be in another order, never of another size).
    const py = eventsOf(python.seed).map((e) => toBinary(LearningEventSchema, e).length);
    assert.deepEqual(py, ts);
    const mean = ts.reduce((a, b) => a + b, 0) / ts.length;
    // The LogEvents' nested Struct makes the mix several times a weight change's ~30 bytes.
    assert.ok(mean > 60 && mean < 200, `mean encoded event ${mean} bytes`);
  });

  it("the seed mix's batches match the bytes Python sends, batch by batch, apart from batch_id", () => {
    const ts = prebuiltBatches("seed", BATCH_EVENTS);
    assert.equal(python.seed.length, ts.length);
    ts.forEach((batch, b) => {
      const py = fromBinary(IngestEventsRequestSchema, python.seed[b]);
      // The drivers number batches as they send them; the pre-built ones carry a placeholder.
      py.batchId = batch.batchId;
      assert.ok(equals(IngestEventsRequestSchema, batch, py), `batch ${b} differs`);
      // Python numbers its pre-built batches from 1: with the same batch_id, the same size of request on the wire.
      const numbered = create(IngestEventsRequestSchema, { events: batch.events, batchId: BigInt(b + 1) });
      assert.equal(python.seed[b].length, toBinary(IngestEventsRequestSchema, numbered).length);
    });
  });

  for (const kind of ["typed", "generic"] as const) {
    it(`${kind} payloads have the same shape and size in both drivers, random values aside`, () => {
      const ts = tsEvents(kind);
      const py = eventsOf(python[kind]);
      assert.equal(py.length, ts.length);
      assert.deepEqual(countByCase(py), countByCase(ts));
      let bytesTs = 0;
      let bytesPy = 0;
      for (let i = 0; i < ts.length; i++) {
        assert.ok(equals(LearningEventSchema, shapeOf(ts[i]), shapeOf(py[i])), `${kind} event ${i} shape`);
        const [sizeTs, sizePy] = [toBinary(LearningEventSchema, ts[i]).length, toBinary(LearningEventSchema, py[i]).length];
        bytesTs += sizeTs;
        bytesPy += sizePy;
        // A weight drawn as exactly 0 (rounded to 4 places) is not encoded at all (proto3): 9 bytes fewer.
        if (!hasZeroWeight(ts[i]) && !hasZeroWeight(py[i])) assert.equal(sizePy, sizeTs, `${kind} event ${i} size`);
      }
      assert.ok(Math.abs(bytesPy - bytesTs) <= bytesTs / 1000, `${kind}: ${bytesPy} bytes from Python, ${bytesTs} from TypeScript`);
    });
  }

  it("the seed-mix shapes differ only where they say: seed-string in rule outcomes, seed-run in the run", () => {
    for (let i = 0; i < 300; i++) {
      const object = seedMixEvent(i);
      const string = seedMixEvent(i, { outcome: "string" });
      const run = seedMixEvent(i, { run: SEED_RUN });
      assert.equal(equals(LearningEventSchema, object, string), i % 3 !== 1, `event ${i}: object and string outcomes`);
      run.run = undefined;
      assert.ok(equals(LearningEventSchema, object, run), `event ${i}: with and without a run`);
    }
  });

  it("seedMixEvent(i) depends on i alone", () => {
    for (const i of [0, 1, 2, 3, 4, 5, 999, 1000, 7999, 123_456]) {
      assert.ok(equals(LearningEventSchema, seedMixEvent(i), seedMixEvent(i)));
      assert.equal(seedMixEvent(i).event.case, (["variableWeightChange", "ruleActivation", "generic"] as const)[i % 3]);
    }
    assert.ok(!equals(LearningEventSchema, seedMixEvent(3), seedMixEvent(6)));
  });
});

function hasZeroWeight(event: LearningEvent): boolean {
  return event.event.case === "variableWeightChange" && (event.event.value.oldWeight === 0 || event.event.value.newWeight === 0);
}

function toBinaryHex(event: LearningEvent): string {
  return Buffer.from(toBinary(LearningEventSchema, event)).toString("hex");
}
