import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { ReadEventsRequestSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../../src/errors.js";
import { createReadHandlers } from "../../src/service/read-handlers.js";

describe("ReadEvents when the store cannot open a cursor", () => {
  it("fails with the store's status and leaves no commit listener or abort listener behind", async () => {
    let listeners = 0;
    const shutdown = new AbortController();
    const log = {
      lastSeq: 0,
      onCommit: () => {
        listeners++;
        return () => void listeners--;
      },
      records: {
        open: async () => {
          throw new ServiceError(grpc.status.UNAVAILABLE, "JetStream stream S did not answer; nothing was read");
        },
      },
    };
    const handlers = createReadHandlers(log, { shutdown: shutdown.signal });
    const call = new AbortController();
    const ctx = { signal: call.signal, metadata: new grpc.Metadata(), peer: "test", path: "/pulse.learninglog.v1.LearningLogService/ReadEvents" };
    for (const follow of [false, true]) {
      await assert.rejects(
        (async () => {
          for await (const m of handlers.readEvents(create(ReadEventsRequestSchema, { follow, until: follow ? "2100-01-01T00:00:00+00:00" : undefined }), ctx)) void m;
        })(),
        (err: unknown) => err instanceof ServiceError && err.code === grpc.status.UNAVAILABLE,
      );
    }
    // Before, a failed open returned before the try whose finally unsubscribes: the store kept watching for a reader that was gone.
    assert.equal(listeners, 0);
  });
});

describe("ReadEvents and the caller's deadline", () => {
  it("gives the store the call's deadline, so that a store that retries fails with its own status before the client's deadline", async () => {
    const asked: Array<number | undefined> = [];
    const log = {
      lastSeq: 0,
      onCommit: () => () => undefined,
      records: {
        open: async (_query: unknown, options?: { deadline?: number }) => {
          asked.push(options?.deadline);
          return { nextSeq: 1, done: true, batches: async function* () {}, close: async () => undefined };
        },
      },
    };
    const handlers = createReadHandlers(log);
    const given = Date.now() + 5000;
    for (const deadline of [given, undefined]) {
      const ctx = { signal: new AbortController().signal, metadata: new grpc.Metadata(), peer: "test", path: "/pulse.learninglog.v1.LearningLogService/ReadEvents", deadline };
      for await (const m of handlers.readEvents(create(ReadEventsRequestSchema, {}), ctx)) void m;
    }
    assert.deepEqual(asked, [given, undefined]);
  });
});
