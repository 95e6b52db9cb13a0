import assert from "node:assert/strict";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { LearningEventSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { systemClock } from "../../src/clock.js";
import { ServiceError } from "../../src/errors.js";
import { EventWriter } from "../../src/events/event-writer.js";
import { defaultEventLimits } from "../../src/guard/limits.js";
import { EventMetrics, eventTypeOfBody, rejectReason } from "../../src/ops/event-metrics.js";
import { Appender } from "../../src/store/file/appender.js";
import type { LogStore } from "../../src/store/store.js";
import { sample } from "../helpers/metrics.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const CLIENT_ID = "0b9ad3f6-53c5-4c6f-9d1e-6c8f2a1b7e10";

describe("operations: events by outcome", () => {
  let dir: TempDir;
  let appender: Appender;
  let registry: Registry;
  let metrics: EventMetrics;
  beforeEach(async () => {
    dir = await tempDir();
    ({ appender } = await Appender.open({ path: join(dir.path, "log.jsonl") }));
    registry = new Registry();
    metrics = new EventMetrics([registry]);
  });
  afterEach(async () => {
    await appender.close();
    await dir.remove();
  });

  const writerOver = (store: LogStore) =>
    new EventWriter(store, { limits: defaultEventLimits, clock: systemClock, trustMetrics: () => Promise.reject(new Error("not used")) }, defaultEventLimits);
  const generic = (eventType: string, eventId?: string) => create(LearningEventSchema, { event: { case: "generic", value: { eventType, data: {}, eventId } } });

  it("counts durable writes by event type at the store, and duplicates apart", async () => {
    const writer = writerOver(metrics.observe(appender));
    await writer.writeOne("revisionTrigger", { reason: "a" });
    await writer.writeOne("revisionTrigger", { reason: "b" });
    const first = await writer.writeBatch([generic("custom.a", CLIENT_ID), generic("custom.a"), generic('with "quotes"'), generic("custom.b")]);
    assert.equal(first.errors.length, 0);
    // The same client-chosen event_id again: answered from the log, nothing written.
    const again = await writer.writeBatch([generic("custom.a", CLIENT_ID), generic("custom.a")]);
    assert.deepEqual(again.results.map((r) => r.duplicate), [true, false]);

    const text = await registry.metrics();
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "symbolic_revision_triggered" }), 2);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "custom.a" }), 3);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "custom.b" }), 1);
    assert.match(text, /^pulse_events_written_total\{event_type="with \\"quotes\\""\} 1$/m);
    assert.equal(sample(text, "pulse_events_duplicate_total", { event_type: "custom.a" }), 1);
    // Written events are the log's records, one for one.
    const written = [...text.matchAll(/^pulse_events_written_total\{.*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    assert.equal(written, appender.lastSeq);
  });

  it("counts appends the store refuses, by reason, and writes nothing for them", async () => {
    const refusing: LogStore = Object.assign(Object.create(appender) as LogStore, {
      append: () => Promise.reject(new ServiceError(status.RESOURCE_EXHAUSTED, "the write queue is full")),
    });
    await assert.rejects(writerOver(metrics.observe(refusing)).writeBatch([generic("x"), generic("y"), generic("z")]), /queue is full/);
    await appender.close();
    await assert.rejects(writerOver(metrics.observe(appender)).writeOne("revisionTrigger", { reason: "after close" }), (err: ServiceError) => err.code === status.UNAVAILABLE);
    const text = await registry.metrics();
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "resource_exhausted" }), 3);
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "unavailable" }), 1);
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "invalid_argument" }), 0);
    assert.doesNotMatch(text, /^pulse_events_written_total\{/m);
  });

  it("leaves the rest of the store as it is", async () => {
    const observed = metrics.observe(appender);
    const seen: number[] = [];
    const stop = observed.onCommit((seq) => seen.push(seq));
    await writerOver(observed).writeOne("revisionTrigger", { reason: "a" });
    stop();
    assert.equal(observed.lastSeq, 1);
    assert.deepEqual(seen, [1]);
    assert.equal(observed.integrity, appender.integrity);
    assert.equal(observed.records, appender.records);
  });

  it("gives at most eventTypesMax event types a label of their own; the rest count as _other", async () => {
    metrics = new EventMetrics([(registry = new Registry())], { eventTypesMax: 2 });
    await writerOver(metrics.observe(appender)).writeBatch([generic("t1"), generic("t2"), generic("t3"), generic("t4"), generic("t1")]);
    metrics.writer.redacted("t2");
    metrics.writer.redacted("t5");
    const text = await registry.metrics();
    assert.equal(sample(text, "pulse_events_redacted_total", { event_type: "t2" }), 1);
    assert.equal(sample(text, "pulse_events_redacted_total", { event_type: "_other" }), 1);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "t1" }), 2);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "t2" }), 1);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "_other" }), 2);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "t3" }), undefined);
    assert.throws(() => new EventMetrics([new Registry()], { eventTypesMax: 0 }), RangeError);
  });

  it("counts the event writer's refusals by reason and its redactions by event type (EventMetrics.writer)", async () => {
    let text = await registry.metrics();
    for (const reason of ["invalid_argument", "resource_exhausted", "unavailable", "internal"]) assert.equal(sample(text, "pulse_events_rejected_total", { reason }), 0);
    metrics.writer.rejected(status.INVALID_ARGUMENT, 2);
    metrics.writer.rejected(status.INTERNAL, 1);
    metrics.writer.redacted("rule_activation");
    text = await registry.metrics();
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "invalid_argument" }), 2);
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "internal" }), 1);
    assert.equal(sample(text, "pulse_events_redacted_total", { event_type: "rule_activation" }), 1);
    assert.equal(rejectReason(status.DEADLINE_EXCEEDED), "internal");
  });

  it("reads the event type at the start of an entry's body, escapes and all", () => {
    assert.equal(eventTypeOfBody('"event_type":"rule_activation","data":{}'), "rule_activation");
    assert.equal(eventTypeOfBody('"event_type":"a\\"b\\\\","data":{}'), 'a"b\\');
    assert.equal(eventTypeOfBody('"event_type":"caf\\u00e9","data":{}'), "café");
    assert.equal(eventTypeOfBody('"data":{}'), "_other");
    assert.equal(eventTypeOfBody('"event_type":"unterminated'), "_other");
    assert.equal(eventTypeOfBody('"event_type":"back\\\\slash","data":{}'), "back\\slash");
  });
});
