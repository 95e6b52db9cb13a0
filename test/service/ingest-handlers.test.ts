import assert from "node:assert/strict";
import { Metadata, status } from "@grpc/grpc-js";
import type { IngestEventsRequest } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../../src/errors.js";
import type { BatchOutcome, EventWriter } from "../../src/events/event-writer.js";
import type { CallContext } from "../../src/rpc/grpc-adapter.js";
import { createIngestHandlers } from "../../src/service/ingest-handlers.js";

/** A call with no run in its metadata. */
const call: CallContext = { signal: new AbortController().signal, metadata: new Metadata(), peer: "test", path: "/pulse.learninglog.v1.LearningLogService/IngestEvents" };

/** A promise with its settle functions outside. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A writer whose every writeBatch waits for the test to settle it. */
function heldWriter() {
  const batches: Array<ReturnType<typeof deferred<BatchOutcome>>> = [];
  const writer = {
    settle: (events: unknown) => events,
    writeBatch: () => (batches.push(deferred<BatchOutcome>()), batches[batches.length - 1].promise),
  } as unknown as EventWriter;
  return { writer, batches };
}

/** Requests handed out one read at a time; each read waits for the test. */
function heldRequests() {
  const reads: Array<ReturnType<typeof deferred<IteratorResult<IngestEventsRequest>>>> = [];
  let readWaiter: (() => void) | undefined;
  const requests: AsyncIterable<IngestEventsRequest> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        reads.push(deferred());
        readWaiter?.();
        return reads[reads.length - 1].promise;
      },
      return: () => Promise.resolve({ done: true as const, value: undefined }),
    }),
  };
  const readStarted = (n: number) =>
    new Promise<void>((resolve) => {
      const check = () => (reads.length >= n ? resolve() : (readWaiter = check));
      check();
    });
  return { requests, reads, readStarted };
}

const request = (batchId: number) => ({ batchId: BigInt(batchId), events: [] }) as unknown as IngestEventsRequest;

/** Collects unhandled rejections while `body` runs and for a few turns after it. */
async function unhandledDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  // Mocha's own listener would fail the run at large; this test wants to see them itself.
  const others = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", listener);
  try {
    await body();
    // Unhandled rejections are reported after the microtask queue drains.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  } finally {
    process.off("unhandledRejection", listener);
    for (const l of others) process.on("unhandledRejection", l);
  }
  return seen;
}

describe("IngestEvents handler", () => {
  it("ends with the storage status and leaves no rejection unhandled when a read is pending as a batch fails", async () => {
    const { writer, batches } = heldWriter();
    const { requests, reads, readStarted } = heldRequests();
    const handlers = createIngestHandlers(writer, { streamBatchesInFlightMax: 1 });
    const failure = new ServiceError(status.UNAVAILABLE, "log storage failed (EIO); nothing was written");
    const seen = await unhandledDuring(async () => {
      const answers = handlers.ingestEvents(requests, call)[Symbol.asyncIterator]();
      const first = answers.next();
      first.catch(() => undefined);
      await readStarted(1);
      reads[0].resolve({ done: false, value: request(1) });
      // The batch is in flight (the read-ahead limit is 1) and the next read is pending.
      await readStarted(2);
      batches[0].reject(failure);
      await assert.rejects(first, (err: ServiceError) => err.code === status.UNAVAILABLE);
      // The call ends; the stream's pending read fails with the status it was ended with.
      reads[1].reject({ code: status.UNAVAILABLE, details: failure.message });
    });
    assert.deepEqual(seen, []);
  });

  it("takes one listener on the shutdown signal however many streams are open", async () => {
    const controller = new AbortController();
    let added = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<AbortSignal["addEventListener"]>) => {
      added++;
      add(...args);
    }) as AbortSignal["addEventListener"];
    const { writer } = heldWriter();
    const handlers = createIngestHandlers(writer, { shutdown: signal });
    const streams = Array.from({ length: 20 }, () => {
      const { requests, readStarted } = heldRequests();
      const answers = handlers.ingestEvents(requests, call)[Symbol.asyncIterator]();
      const first = answers.next();
      return { first, readStarted };
    });
    await Promise.all(streams.map((s) => s.readStarted(1)));
    assert.equal(added, 1);
    // Shutdown still reaches every stream: each ends with UNAVAILABLE.
    controller.abort();
    for (const s of streams) await assert.rejects(s.first, (err: ServiceError) => err.code === status.UNAVAILABLE);
  });
});
