import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { EventMetrics, rejectReason } from "../../src/ops/event-metrics.js";
import { sample } from "../helpers/metrics.js";

describe("operations: events by outcome", () => {
  let registry: Registry;
  let metrics: EventMetrics;
  beforeEach(() => {
    registry = new Registry();
    metrics = new EventMetrics([registry]);
  });

  it("counts events written and duplicate by event type", async () => {
    metrics.writer.written("symbolic_revision_triggered", 2);
    metrics.writer.written("custom.a", 3);
    metrics.writer.written('with "quotes"', 1);
    metrics.writer.duplicate("custom.a");
    const text = await registry.metrics();
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "symbolic_revision_triggered" }), 2);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "custom.a" }), 3);
    assert.match(text, /^pulse_events_written_total\{event_type="with \\"quotes\\""\} 1$/m);
    assert.equal(sample(text, "pulse_events_duplicate_total", { event_type: "custom.a" }), 1);
  });

  it("counts refusals by reason (every reason's series starts at zero) and redactions by event type", async () => {
    let text = await registry.metrics();
    for (const reason of ["invalid_argument", "resource_exhausted", "unavailable", "internal"]) assert.equal(sample(text, "pulse_events_rejected_total", { reason }), 0);
    metrics.writer.rejected(status.INVALID_ARGUMENT, 2);
    metrics.writer.rejected(status.RESOURCE_EXHAUSTED, 1000);
    metrics.writer.rejected(status.UNAVAILABLE, 1);
    metrics.writer.rejected(status.INTERNAL, 1);
    metrics.writer.redacted("rule_activation");
    text = await registry.metrics();
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "invalid_argument" }), 2);
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "resource_exhausted" }), 1000);
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "unavailable" }), 1);
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "internal" }), 1);
    assert.equal(sample(text, "pulse_events_redacted_total", { event_type: "rule_activation" }), 1);
    assert.equal(rejectReason(status.DEADLINE_EXCEEDED), "internal");
  });

  it("gives at most eventTypesMax event types a label of their own; the rest count as _other", async () => {
    metrics = new EventMetrics([(registry = new Registry())], { eventTypesMax: 2 });
    for (const type of ["t1", "t2", "t3", "t4", "t1"]) metrics.writer.written(type, 1);
    metrics.writer.duplicate("t5");
    metrics.writer.redacted("t2");
    const text = await registry.metrics();
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "t1" }), 2);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "t2" }), 1);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "_other" }), 2);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "t3" }), undefined);
    assert.equal(sample(text, "pulse_events_duplicate_total", { event_type: "_other" }), 1);
    assert.equal(sample(text, "pulse_events_redacted_total", { event_type: "t2" }), 1);
    assert.throws(() => new EventMetrics([new Registry()], { eventTypesMax: 0 }), RangeError);
  });
});
