import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import type { IngestEventsRequest } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import type { BatchOutcome, EventWriter } from "../../src/events/event-writer.js";
import type { CallContext } from "../../src/rpc/grpc-adapter.js";
import { ReadBudget } from "../../src/rpc/read-budget.js";
import { createIngestHandlers } from "../../src/service/ingest-handlers.js";

const call: CallContext = { signal: new AbortController().signal, metadata: new Metadata(), peer: "test", path: "/pulse.learninglog.v1.LearningLogService/IngestEvents" };
const outcome: BatchOutcome = { results: [], errors: [], redacted: new Map(), eventIds: [] } as unknown as BatchOutcome;

/** A writer whose batches wait (a full write queue on a slow disk) until the test lets them through. */
function slowDisk() {
  const waiting: Array<() => void> = [];
  const writer = {
    settle: (events: unknown) => events,
    writeBatch: () => new Promise<BatchOutcome>((resolve) => waiting.push(() => resolve(outcome))),
  } as unknown as EventWriter;
  return { writer, waiting };
}

/** A client that always has its next batch ready: every read is answered at once; counts the reads taken. */
function eagerClient() {
  const counter = { reads: 0 };
  const requests: AsyncIterable<IngestEventsRequest> = {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.resolve({ done: false as const, value: { batchId: BigInt(++counter.reads), events: [] } as unknown as IngestEventsRequest }),
      return: () => Promise.resolve({ done: true as const, value: undefined }),
    }),
  };
  return { requests, counter };
}

const turns = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe("IngestEvents read-ahead comes from one budget for all streams", () => {
  it("streams on a slow disk read batches only while all of them together hold less than the byte budget, then each gets its turn", async () => {
    const { writer, waiting } = slowDisk();
    // These requests carry no wire size: each counts the 64 KiB a first read reserves, so the budget holds 4.
    const budget = new ReadBudget(4 * 65_535);
    const handlers = createIngestHandlers(writer, { streamBatchesInFlightMax: 8, streamReadBudget: budget });
    const clients = Array.from({ length: 6 }, () => eagerClient());
    const answers = clients.map((c) => handlers.ingestEvents(c.requests, call)[Symbol.asyncIterator]());
    const firsts = answers.map((a) => a.next());
    await turns();
    // Not one batch per stream: 4 batches over all streams, the first streams in line holding them.
    const reads = clients.map((c) => c.counter.reads);
    assert.equal(waiting.length, reads.reduce((a, b) => a + b, 0), "every batch read is in flight: no read is taken and parked");
    assert.equal(waiting.length, 4, `batches in flight: ${waiting.length} (reads ${reads.join(",")})`);
    assert.ok(budget.peakBytes <= budget.bytesMax, `held ${budget.peakBytes}`);
    // Nothing more is read while the disk holds them.
    await turns();
    assert.deepEqual(clients.map((c) => c.counter.reads), reads);
    // The disk catches up: the streams that waited read next, in order, within the budget.
    for (let round = 0; round < 3 && clients.some((c) => c.counter.reads === 0); round++) {
      for (const release of waiting.splice(0)) release();
      await turns();
      assert.ok(waiting.length <= 4, `in flight after the release: ${waiting.length}`);
    }
    assert.ok(clients.every((c) => c.counter.reads >= 1), `every stream read: ${clients.map((c) => c.counter.reads).join(",")}`);
    assert.ok(budget.peakBytes <= budget.bytesMax, `held ${budget.peakBytes}`);
    for (const release of waiting.splice(0)) release();
    await Promise.all(firsts);
    for (const a of answers) await a.return?.(undefined);
    for (const release of waiting.splice(0)) release();
    await turns();
    assert.equal(budget.bytes, 0, "every stream gave its room back");
  });
});
