import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { IngestEventsRequestSchema, LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { runManyStreams } from "../../bench/many-streams-rss.js";
import { prebuiltBatches } from "../../bench/drivers/fixtures.js";
import type { BatchOutcome, EventWriter } from "../../src/events/event-writer.js";
import { createClient } from "../../src/rpc/client.js";
import { adaptImplementation, createServiceDefinition, type ServiceImpl } from "../../src/rpc/grpc-adapter.js";
import { ReadBudget } from "../../src/rpc/read-budget.js";
import { createIngestHandlers } from "../../src/service/ingest-handlers.js";

const outcome = { results: [], errors: [], redacted: new Map(), eventIds: [] } as unknown as BatchOutcome;

/**
 * A disk that holds every batch until the test lets the oldest through;
 * records how many batches the handlers had handed it, unwritten, at most.
 */
function heldDisk() {
  const waiting: Array<() => void> = [];
  const seen = { batches: 0, heldMax: 0 };
  const writer = {
    settle: (events: unknown) => events,
    writeBatch: () =>
      new Promise<BatchOutcome>((resolve) => {
        waiting.push(() => resolve(outcome));
        seen.batches++;
        seen.heldMax = Math.max(seen.heldMax, waiting.length);
      }),
  } as unknown as EventWriter;
  return { writer, waiting, seen };
}

/** A real grpc-js server on 127.0.0.1:0 serving only IngestEvents through the adapter (other methods are never called). */
async function ingestServer(ingestEvents: ServiceImpl<typeof LearningLogService.method>["ingestEvents"]) {
  const impl = Object.fromEntries(LearningLogService.methods.map((m) => [m.localName, () => Promise.reject(new Error("not served here"))]));
  impl.ingestEvents = ingestEvents as never;
  const server = new grpc.Server({ "grpc.max_receive_message_length": 4 * 2 ** 20 });
  const sink = (err: unknown) => {
    throw err;
  };
  server.addService(createServiceDefinition(LearningLogService), adaptImplementation(LearningLogService, impl as unknown as ServiceImpl<typeof LearningLogService.method>, sink));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

describe("memory has one bound, not one per stream", function () {
  // The strace run takes 2-4 minutes at load 10-15: most of it is answering what 500 streams sent on the slowed disk.
  this.timeout(600_000);

  it("200 IngestEvents streams on a disk that holds every batch: the batches read never exceed the shared byte budget, and every stream gets its turn", async () => {
    const batch = prebuiltBatches("seed", 200)[0];
    const wireBytes = toBinary(IngestEventsRequestSchema, batch as never).length;
    // Room for 10 batches of seed events over all streams; one batch per stream would be 200.
    const budget = new ReadBudget(10 * wireBytes);
    const { writer, waiting, seen } = heldDisk();
    const handlers = createIngestHandlers(writer, { streamReadBudget: budget });
    const server = await ingestServer(handlers.ingestEvents);
    const streams = 200;
    const batchesPerStream = 3;
    const clients = Array.from({ length: 4 }, (_, i) => createClient(LearningLogService, server.address, undefined, { "pulse.test.connection": i }));
    let answered = 0;
    // The disk lets one batch through whenever the handlers have filled the budget, or every stream is waiting on it.
    let allSent = 0;
    const drain = () => {
      if (waiting.length >= 10 || (allSent === streams && waiting.length > 0)) waiting.shift()!();
    };
    const pump = setInterval(drain, 1);
    try {
      await Promise.all(
        Array.from({ length: streams }, async (_, s) => {
          const call = clients[s % clients.length].ingestEvents();
          const reading = (async () => {
            for await (const _answer of call.responses) answered++;
          })();
          for (let b = 0; b < batchesPerStream; b++) await call.send({ ...batch, batchId: BigInt(b + 1) });
          call.close();
          allSent++;
          await reading;
        }),
      );
    } finally {
      clearInterval(pump);
      for (const c of clients) c.close();
      server.stop();
    }
    assert.equal(answered, streams * batchesPerStream, "every batch of every stream was answered");
    assert.equal(seen.batches, streams * batchesPerStream);
    assert.ok(seen.heldMax <= 10, `batches read and held unwritten at once: ${seen.heldMax} (budget: 10)`);
    assert.ok(budget.peakBytes <= budget.bytesMax, `bytes held at most ${budget.peakBytes}, budget ${budget.bytesMax}`);
    assert.equal(budget.bytes, 0, "every stream gave its room back");
  });

  describe("the real server under strace", () => {
    before(function () {
      if (spawnSync("strace", ["-f", "-o", "/dev/null", "true"]).status !== 0) {
        console.log("      SKIPPED: the slow disk is made with strace (apt-get install strace; as root).");
        this.skip();
      }
    });

    it("500 IngestEvents streams on a disk slowed to 200 ms per write: peak RSS under 250 MB, every batch answered", async () => {
      // Streams read within one byte budget shared by all; what each holds beyond it is its unread HTTP/2 window.
      const r = await runManyStreams({ streams: 500, batchEvents: 10, seconds: 8, writeDelayMs: 200, queueBytesMax: 1_000_000 });
      assert.equal(r.failedStreams, 0);
      assert.equal(r.answered, r.sent, "every batch sent was answered");
      assert.ok(r.peakRssBytes < 250 * 2 ** 20, `peak RSS ${Math.round(r.peakRssBytes / 2 ** 20)} MiB`);
    });
  });
});
