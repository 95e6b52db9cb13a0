import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { LearningEventSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { systemClock } from "../../src/clock.js";
import { ServiceError } from "../../src/errors.js";
import { EventWriter, type EventWriterObserver } from "../../src/events/event-writer.js";
import { defaultEventLimits } from "../../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys } from "../../src/guard/pii.js";
import type { AppendEntry, AppendResult, LogStore } from "../../src/store/store.js";

const CHOSEN = "3d6e9a1c-8b2f-4c7d-9e0a-5f1b2c3d4e5f";

/** A store that keeps event_ids in memory, or refuses every append with `refuse`. */
function memoryStore(refuse?: ServiceError): LogStore {
  const seen = new Set<string>();
  let seq = 0;
  return {
    append: async (entries: readonly AppendEntry[]): Promise<AppendResult[]> => {
      if (refuse) throw refuse;
      return entries.map((e) => {
        const duplicate = e.clientChosenId === true && seen.has(e.eventId);
        seen.add(e.eventId);
        return { seq: duplicate ? 1 : ++seq, timestamp: "2026-01-01T00:00:00.000000+00:00", duplicate };
      });
    },
  } as unknown as LogStore;
}

function recording() {
  const told: string[] = [];
  const written: number[] = [];
  const observer: Required<EventWriterObserver> = {
    rejected: (code, n) => void told.push(`rejected ${status[code]} ${n}`),
    redacted: (type) => void told.push(`redacted ${type}`),
    written: (entries, results) => void written.push(...results.map((r, i) => (entries[i].eventId.length > 0 ? r.seq : -1))),
  };
  return { told, written, observer };
}

const writerOver = (store: LogStore, observer?: EventWriterObserver) =>
  new EventWriter(store, { limits: defaultEventLimits, clock: systemClock, trustMetrics: () => Promise.reject(new Error("not used")) }, defaultEventLimits, createPiiGuard({ mode: "redact", sensitiveKeys: defaultSensitiveKeys }), observer);
const generic = (eventType: string, data: Record<string, string> = {}, eventId?: string) => create(LearningEventSchema, { event: { case: "generic", value: { eventType, data, eventId } } });

describe("event writer: what it refused or redacted, told to its observer", () => {
  it("tells refusals by code and redactions by event type", async () => {
    const { told, written, observer } = recording();
    const writer = writerOver(memoryStore(), observer);
    await writer.writeOne("revisionTrigger", { reason: "r" });
    await writer.writeBatch([generic("a"), generic("a"), generic(""), generic("b", { password: "x" }, CHOSEN)]);
    await writer.writeBatch([generic("b", {}, CHOSEN), generic("a")]);
    await assert.rejects(writer.writeOne("generic", { eventType: "", data: {} }), /event_type/);
    await writer.writeDraft({ eventType: "trust_data_exported", data: { filepath: "f.json" } });
    assert.deepEqual(told, ["rejected INVALID_ARGUMENT 1", "redacted b", "rejected INVALID_ARGUMENT 1"]);
    // Every append the store answered is told, in order, duplicates included (the store says which).
    assert.equal(written.length, 1 + 3 + 2 + 1);
  });

  it("tells whole batches refused, and leaves the store's refusals to the store", async () => {
    const { told, observer } = recording();
    const full = writerOver(memoryStore(new ServiceError(status.RESOURCE_EXHAUSTED, "queue full")), observer);
    await assert.rejects(full.writeBatch([generic("a"), generic("b"), generic("c")]), /queue full/);
    await assert.rejects(full.writeOne("revisionTrigger", { reason: "r" }), /queue full/);
    const writer = writerOver(memoryStore(), observer);
    await assert.rejects(writer.writeBatch(Array.from({ length: defaultEventLimits.batchEventsMax + 1 }, () => generic("a"))), /over the limit/);
    assert.deepEqual(told, [`rejected INVALID_ARGUMENT ${defaultEventLimits.batchEventsMax + 1}`]);
  });

  it("writes the same without an observer", async () => {
    const writer = writerOver(memoryStore());
    const { results, errors } = await writer.writeBatch([generic("a"), generic("")]);
    assert.equal(results.length, 1);
    assert.equal(errors.length, 1);
  });
});
