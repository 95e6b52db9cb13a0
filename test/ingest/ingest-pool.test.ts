import assert from "node:assert/strict";
import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { IngestEventsRequestSchema, LearningEventSchema, LogBatchRequestSchema, StreamEventsRequestSchema, type LearningEvent } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { systemClock } from "../../src/clock.js";
import { ServiceError } from "../../src/errors.js";
import { EventWriter, type BatchOutcome } from "../../src/events/event-writer.js";
import { defaultEventLimits } from "../../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys, type PiiOptions } from "../../src/guard/pii.js";
import { BatchRequestBytes } from "../../src/ingest/batch-request-bytes.js";
import { decodeBatch } from "../../src/ingest/batch-preparation.js";
import { IngestPool } from "../../src/ingest/ingest-pool.js";
import { PooledWrites } from "../../src/ingest/pooled-writes.js";
import type { AppendEntry, AppendResult, LogStore } from "../../src/store/store.js";

const pii: PiiOptions = { mode: "redact", sensitiveKeys: defaultSensitiveKeys };
const config = { limits: defaultEventLimits, pii };

/** A store that records what it is asked to append, in order, each entry landing at the next seq. */
function recordingStore() {
  const appended: AppendEntry[][] = [];
  let seq = 0;
  const store = {
    append(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
      appended.push([...entries]);
      return Promise.resolve(entries.map(() => ({ seq: ++seq, timestamp: "2026-12-07T20:00:00.000000+00:00", duplicate: false })));
    },
  };
  return { store: store as unknown as LogStore, appended };
}

/** An event writer over a recording store, counting what its observer is told. */
function recordingWriter() {
  const { store, appended } = recordingStore();
  const told = { rejected: [] as number[], redacted: [] as string[] };
  const writer = new EventWriter(store, { limits: defaultEventLimits, clock: systemClock, trustMetrics: () => Promise.reject(new Error("no tracker")) }, defaultEventLimits, createPiiGuard(pii), {
    rejected: (code, events) => told.rejected.push(code, events),
    redacted: (eventType) => told.redacted.push(eventType),
  });
  return { writer, appended, told };
}

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** A batch of what Pulse sends, with a few refused and redacted events among them. */
function mixedEvents(): LearningEvent[] {
  const events: Array<LearningEvent["event"]> = [
    { case: "variableWeightChange", value: { variable: "x", oldWeight: 0.1, newWeight: 0.2, eventId: ID(1) } },
    { case: "ruleActivation", value: { ruleId: "r1", variableId: "v1", outcome: { kind: { case: "structValue", value: { fields: { delta: { kind: { case: "numberValue", value: 0.1 } }, applied: { kind: { case: "boolValue", value: true } } } } } } } },
    { case: "generic", value: { eventType: "", data: { a: 1 } } },
    { case: "generic", value: { eventType: "contact", data: { user_email: "someone@example.com", note: "call me at someone@example.com" }, context: { run: "r" }, eventId: ID(2) } },
    { case: "variableWeightChange", value: { variable: "y", oldWeight: 0.1, newWeight: Number.NaN } },
    { case: "generic", value: { eventType: "nested", data: { a: { b: [1, 2, { c: "d" }] } } } },
  ] as never;
  return events.map((event, i) => create(LearningEventSchema, { event, run: i === 5 ? "run-5" : undefined } as never));
}

function bytesOf(schema: DescMessage, init: object): BatchRequestBytes {
  const bytes = toBinary(schema, create(schema, init as never));
  return new BatchRequestBytes(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), schema);
}

/** What of an outcome does not depend on which thread prepared it (server-chosen ids are random). */
function comparable(outcome: BatchOutcome, entries: AppendEntry[]) {
  return {
    entries: entries.map((e) => ({ eventId: e.clientChosenId ? e.eventId : "server-chosen", clientChosenId: e.clientChosenId, body: e.body, run: e.run, eventType: e.eventType })),
    results: outcome.results,
    redacted: [...outcome.redacted],
    errors: outcome.errors.map((e) => ({ ...e, violations: [...e.violations] })),
    eventIds: outcome.eventIds.filter((id) => entries.some((e) => e.clientChosenId && e.eventId === id)),
  };
}

describe("ingest pool", function () {
  // Workers start from TypeScript sources through tsx: slow on a loaded machine.
  this.timeout(120_000);
  let pool: IngestPool;
  before(() => {
    pool = new IngestPool({ workers: 2, config });
  });
  after(async () => {
    await pool.close();
  });

  for (const schema of [LogBatchRequestSchema, IngestEventsRequestSchema, StreamEventsRequestSchema] as DescMessage[]) {
    it(`prepares a ${schema.name} with refused and redacted events as the main thread does`, async () => {
      const init = { events: mixedEvents(), ...(schema === IngestEventsRequestSchema ? { batchId: 42n } : {}) };
      const inThread = recordingWriter();
      const decoded = decodeBatch(schema, Buffer.from(toBinary(schema, create(schema, init as never))));
      const expected =
        schema === LogBatchRequestSchema
          ? await inThread.writer.writeBatch(decoded.events, { eventIds: true, run: "call-run" })
          : await inThread.writer.writeBatch(inThread.writer.settle(decoded.events, { indexBase: schema === StreamEventsRequestSchema ? 7 : 0 }), { wait: true, indexBase: schema === StreamEventsRequestSchema ? 7 : 0, run: "call-run" });
      const pooled = recordingWriter();
      const written = await new PooledWrites(pooled.writer, pool).write(bytesOf(schema, init), { run: "call-run", indexBase: schema === StreamEventsRequestSchema ? 7 : 0 });
      assert.equal(written.batchId, schema === IngestEventsRequestSchema ? 42n : 0n);
      // The fixture's refusals and redactions are there to compare.
      assert.equal(written.outcome.errors.length, 2);
      assert.equal(written.outcome.redacted.size, 1);
      assert.deepEqual(comparable(written.outcome, pooled.appended[0]), comparable(expected, inThread.appended[0]));
      assert.deepEqual(pooled.told, inThread.told);
      if (schema === LogBatchRequestSchema) assert.deepEqual(written.outcome.eventIds, pooled.appended[0].map((e) => e.eventId));
    });
  }

  it("appends a call's batches in the order they came, whichever worker finishes first", async () => {
    const { writer, appended } = recordingWriter();
    const writes = new PooledWrites(writer, pool);
    // Large batches first: their workers finish after the small ones' workers.
    const sizes = [3000, 1, 2000, 1, 1000, 1, 500, 1];
    const results = await Promise.all(
      sizes.map((n, b) =>
        writes.write(bytesOf(IngestEventsRequestSchema, { batchId: BigInt(b), events: Array.from({ length: n }, (_, i) => create(LearningEventSchema, { event: { case: "variableWeightChange", value: { variable: `b${b}`, oldWeight: i, newWeight: i + 1 } } })) }), {}),
      ),
    );
    assert.deepEqual(results.map((r) => r.batchId), sizes.map((_, b) => BigInt(b)));
    assert.deepEqual(appended.map((a) => a.length), sizes);
    appended.forEach((entries, b) => entries.forEach((e, i) => assert.ok(e.body.includes(`"variable":"b${b}","from":${i},`), e.body)));
  });

  it("refuses a request that does not decode with INTERNAL, its cause kept, and writes nothing of the call after it", async () => {
    const { writer, appended } = recordingWriter();
    const writes = new PooledWrites(writer, pool);
    const good = () => bytesOf(IngestEventsRequestSchema, { events: mixedEvents() });
    const first = writes.write(good(), {});
    const bad = writes.write(new BatchRequestBytes(Buffer.from([0x0a, 0xff, 0xff]), IngestEventsRequestSchema), {});
    const after = writes.write(good(), {});
    await first;
    await assert.rejects(bad, (err: unknown) => err instanceof ServiceError && err.code === status.INTERNAL && err.message === "request does not decode" && err.cause instanceof Error);
    await assert.rejects(after, (err: unknown) => err instanceof ServiceError && err.code === status.INTERNAL);
    assert.equal(appended.length, 1);
  });

  it("refuses a batch over the events limit whole, as the main thread does", async () => {
    const small = new IngestPool({ workers: 1, config: { limits: { ...defaultEventLimits, batchEventsMax: 3 }, pii } });
    try {
      const { writer, appended, told } = recordingWriter();
      const err = await new PooledWrites(writer, small).write(bytesOf(LogBatchRequestSchema, { events: mixedEvents() }), {}).then(
        () => assert.fail("written"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ServiceError);
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.equal(err.message, "events: 6 events in one batch, over the limit of 3");
      assert.deepEqual(err.violations, [{ field: "events", description: "6 events in one batch, over the limit of 3" }]);
      assert.deepEqual(told.rejected, [status.INVALID_ARGUMENT, 6]);
      assert.equal(appended.length, 0);
    } finally {
      await small.close();
    }
  });

  it("writes on the main thread a batch with an event that reads the server's state", async () => {
    const { writer, appended } = recordingWriter();
    const events = [create(LearningEventSchema, { event: { case: "ruleEffectiveness", value: { ruleId: "r", activationCount: 3n, successRate: 0.5, impactScore: 1 } } }), ...mixedEvents()];
    const written = await new PooledWrites(writer, pool).write(bytesOf(LogBatchRequestSchema, { events }), {});
    assert.equal(written.outcome.results.length, 5);
    assert.match(appended[0][0].body, /^"event_type":"rule_effectiveness"/);
  });

  it("fails a crashed worker's batches with INTERNAL (cause logged), replaces the worker, and goes on", async () => {
    const logged: unknown[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const crashing = new IngestPool({ workers: 1, config, logger, workerScript: new URL("./crashing-ingest-worker.ts", import.meta.url) });
    try {
      const { writer, appended } = recordingWriter();
      const ok = await new PooledWrites(writer, crashing).write(bytesOf(LogBatchRequestSchema, { events: mixedEvents() }), {});
      assert.equal(ok.outcome.results.length, 4);
      const crash = new PooledWrites(writer, crashing).write(bytesOf(LogBatchRequestSchema, { events: mixedEvents() }), { run: "crash" });
      await assert.rejects(crash, (err: unknown) => {
        assert.ok(err instanceof ServiceError && err.code === status.INTERNAL, String(err));
        assert.match(String((err.cause as Error).message), /ingest worker \d+ stopped \(exit code 70\)/);
        return true;
      });
      assert.equal(crashing.restarts, 1);
      assert.ok(
        logged.some((l) => (l as { msg?: string }).msg?.startsWith("ingest worker stopped")),
        JSON.stringify(logged),
      );
      const again = await new PooledWrites(writer, crashing).write(bytesOf(LogBatchRequestSchema, { events: mixedEvents() }), {});
      assert.equal(again.outcome.results.length, 4);
      assert.equal(appended.length, 2);
    } finally {
      await crashing.close();
    }
  });

  it("answers every batch sent before it closes", async () => {
    const closing = new IngestPool({ workers: 1, config });
    const { writer, appended } = recordingWriter();
    const writes = new PooledWrites(writer, closing);
    const sent = [1, 2, 3].map(() => writes.write(bytesOf(StreamEventsRequestSchema, { events: mixedEvents() }), {}));
    await closing.close();
    assert.equal((await Promise.all(sent)).length, 3);
    assert.equal(appended.length, 3);
    await assert.rejects(writes.write(bytesOf(StreamEventsRequestSchema, { events: mixedEvents() }), {}), (err: unknown) => err instanceof ServiceError && err.code === status.UNAVAILABLE);
  });
});

describe("BatchRequestBytes", () => {
  it("counts a request's events from their tags, as protobuf-es decodes them", () => {
    const request = bytesOf(StreamEventsRequestSchema, { events: mixedEvents() });
    assert.equal(request.eventCount, 6);
    assert.equal(request.events.length, 6);
    request.take();
    assert.throws(() => request.take(), /taken twice/);
    assert.equal(new BatchRequestBytes(Buffer.alloc(0), StreamEventsRequestSchema).eventCount, 0);
  });
});
