import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import fc from "fast-check";
import { v4 as uuidv4 } from "uuid";
import type { BatchOutcome } from "../../src/events/event-writer.js";
import { redactionsByRequestIndex } from "../../src/service/ingest-handlers.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

const generic = (eventType: string, data: Record<string, string>, eventId = uuidv4()) => ({
  event: { case: "generic" as const, value: { eventType, data, eventId } },
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function logRecords(path: string): Promise<Array<{ seq: number; timestamp: string; data: Record<string, unknown> }>> {
  return (await readFile(path, "utf8"))
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l) as { seq: number; timestamp: string; data: Record<string, unknown> });
}

describe("IngestEvents answers", () => {
  describe("redactionsByRequestIndex", () => {
    it("maps positions among the accepted events back to request indices, skipping the rejected ones", () => {
      fc.assert(
        fc.property(fc.array(fc.record({ rejected: fc.boolean(), redacted: fc.boolean() }), { maxLength: 60 }), (events) => {
          const outcome: BatchOutcome = { eventIds: [], results: [], redacted: new Map(), errors: [] };
          const expected: Array<{ index: number; fields: string[] }> = [];
          events.forEach((e, index) => {
            if (e.rejected) {
              outcome.errors.push({ index, code: 3, message: "bad", violations: [] });
              return;
            }
            const position = outcome.results.length;
            outcome.results.push({ seq: index + 1, timestamp: "t", duplicate: false });
            if (e.redacted) {
              outcome.redacted.set(position, [`data.f${index}`]);
              expected.push({ index, fields: [`data.f${index}`] });
            }
          });
          // The writer reports errors in no promised order.
          outcome.errors.reverse();
          assert.deepEqual(redactionsByRequestIndex(outcome), expected);
        }),
      );
    });
  });

  describe("against the server", () => {
    let dir: TempDir;
    let t: TestServer;
    beforeEach(async () => {
      dir = await tempDir();
      t = await startServer(dir.path);
    });
    afterEach(async () => {
      await t.stop().catch(() => undefined);
      await dir.remove();
    });

    it("carries the timestamp of the record at last_seq and the redactions by request index", async () => {
      const call = t.client.ingestEvents();
      const events = [
        generic("signup", { email: "ada@example.org" }),
        generic("", { note: "no event type: rejected" }),
        generic("plain", { note: "nothing personal" }),
        generic("signup", { user: "u2", contact: "bob@example.org" }),
      ];
      await call.send({ batchId: 1n, events });
      call.close();
      const answers = await collect(call.responses);
      assert.equal(answers.length, 1);
      const [answer] = answers;
      assert.deepEqual(
        answer.errors.map((e) => e.index),
        [1],
      );
      assert.deepEqual(
        answer.redactions.map((r) => ({ index: r.index, fields: r.fields })),
        [
          { index: 0, fields: ["data.email"] },
          { index: 3, fields: ["data.contact"] },
        ],
      );
      const records = await logRecords(t.logPath);
      assert.equal(records.length, 3);
      const last = records.find((r) => BigInt(r.seq) === answer.lastSeq);
      assert.ok(last, "a record at last_seq");
      assert.equal(answer.timestamp, last.timestamp);
      assert.deepEqual(records[0].data, { email: "[REDACTED]" });
    });

    it("names redacted fields relative to the record in LogBatch acks too, as a lone event's ack does", async () => {
      const response = await t.client.logBatch({ events: [generic("plain", { n: "1" }), generic("signup", { email: "ada@example.org" })] });
      assert.deepEqual(
        response.acks.map((a) => a.redactedFields),
        [[], ["data.email"]],
      );
    });

    it("answers a resent batch with the original record's timestamp, and an all-rejected batch with none", async () => {
      const event = generic("plain", { n: "1" });
      const first = t.client.ingestEvents();
      await first.send({ batchId: 1n, events: [event] });
      first.close();
      const [original] = await collect(first.responses);
      assert.notEqual(original.timestamp, "");
      assert.deepEqual(original.redactions, []);

      const again = t.client.ingestEvents();
      await again.send({ batchId: 1n, events: [event] });
      await again.send({ batchId: 2n, events: [generic("", {})] });
      again.close();
      const [resent, rejected] = await collect(again.responses);
      assert.equal(resent.duplicates, 1);
      assert.equal(resent.timestamp, original.timestamp);
      assert.equal(rejected.count, 0);
      assert.equal(rejected.timestamp, "");
    });
  });
});
