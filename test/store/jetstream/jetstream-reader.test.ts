import assert from "node:assert/strict";
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { JetStreamRecordSource } from "../../../src/store/jetstream/jetstream-reader.js";
import { storedMessageOf } from "../../../src/store/jetstream/stored-record.js";

/** A stored message at `seq`, as JetStream hands it to a consumer. */
function message(seq: number): JsMsg {
  const data = Buffer.from(storedMessageOf(`id-${seq}`, "2026-11-25T12:00:00.000000+00:00", `"event_type":"t","data":{"n":${seq}}`));
  return { seq, data } as unknown as JsMsg;
}

/**
 * A stream of `last` messages whose consumers each deliver from their start
 * seq, the first `failures` of them failing (throwing) after `deliveredFirst`
 * messages, as ordered consumers do while the stream's leader moves.
 */
function fakeJetStream(last: number, failures: number, deliveredFirst = 1) {
  const starts: number[] = [];
  let made = 0;
  const js = {
    consumers: {
      get: async (_stream: string, options: { opt_start_seq: number }) => {
        const failing = made++ < failures;
        starts.push(options.opt_start_seq);
        return {
          consume: async () => {
            async function* deliver() {
              for (let seq = options.opt_start_seq; seq <= last; seq++) {
                if (failing && seq - options.opt_start_seq >= deliveredFirst) throw new Error("heartbeats missed");
                yield message(seq);
              }
            }
            return Object.assign(deliver(), { stop: () => undefined });
          },
        };
      },
    },
  } as unknown as JetStreamClient;
  const jsm = { streams: { info: async () => ({ state: { first_seq: 1, last_seq: last } }) } } as unknown as JetStreamManager;
  return { js, jsm, starts };
}

describe("JetStreamRecordSource", () => {
  it("goes on from the next seq with a new consumer when one fails, reading every record once", async () => {
    const { js, jsm, starts } = fakeJetStream(5, 2);
    const cursor = await new JetStreamRecordSource(js, jsm, "S").open();
    const seqs: number[] = [];
    for await (const batch of cursor.batches()) seqs.push(...batch.map((r) => r.seq));
    await cursor.close();
    assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
    assert.deepEqual(starts, [1, 2, 3], "each new consumer starts after the last record read");
  });

  it("gives up after ten consumers in a row fail without delivering anything, naming the last error", async () => {
    const { js, jsm } = fakeJetStream(100, 100, 0);
    const cursor = await new JetStreamRecordSource(js, jsm, "S").open();
    await assert.rejects(
      (async () => {
        for await (const batch of cursor.batches()) void batch;
      })(),
      /stopped before seq 1, 10 times in a row; last error: heartbeats missed/,
    );
    await cursor.close();
  });
});
