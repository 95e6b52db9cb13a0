import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import type { IngestEventsRequest } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import type { BatchOutcome, EventWriter } from "../../src/events/event-writer.js";
import type { CallContext } from "../../src/rpc/grpc-adapter.js";
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
  it("streams on a slow disk take batches beyond their first only while all of them hold fewer than the budget", async () => {
    const { writer, waiting } = slowDisk();
    const handlers = createIngestHandlers(writer, { streamBatchesInFlightMax: 8, streamBatchesInFlightTotalMax: 4 });
    const clients = Array.from({ length: 6 }, () => eagerClient());
    const answers = clients.map((c) => handlers.ingestEvents(c.requests, call)[Symbol.asyncIterator]());
    const firsts = answers.map((a) => a.next());
    await turns();
    // Every stream has its first batch in flight; beyond those, reads were taken only while the
    // streams together held fewer than 4 (one taken under the budget may land just after another
    // stream's): at most the budget plus one per stream, never 8 per stream.
    const reads = clients.map((c) => c.counter.reads);
    assert.ok(reads.every((r) => r >= 1), `reads: ${reads.join(",")}`);
    assert.equal(waiting.length, reads.reduce((a, b) => a + b, 0), "every batch read is in flight: no read is taken and parked");
    assert.ok(waiting.length <= 4 + clients.length, `batches in flight: ${waiting.length} (reads ${reads.join(",")})`);
    // Nothing more is read while the disk holds them.
    await turns();
    assert.deepEqual(clients.map((c) => c.counter.reads), reads);
    // The disk catches up: answers flow, and reads resume within the budget.
    for (const release of waiting.splice(0)) release();
    await Promise.all(firsts);
    await turns();
    assert.ok(waiting.length <= 4 + 6, `in flight after the release: ${waiting.length}`);
    for (const a of answers) await a.return?.(undefined);
  });
});
