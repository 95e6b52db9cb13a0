import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { LogRuleActivationRequestSchema, LogRuleEffectivenessRequestSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { defaultEventLimits } from "../../src/guard/limits.js";
import { buildEvent, eventBuilders, eventSchemas, type CatalogDeps } from "../../src/events/catalog.js";
import { EVENT_SHAPES } from "../../src/events/event-shapes.js";

describe("the event catalog", () => {
  const deps: CatalogDeps = {
    limits: defaultEventLimits,
    clock: { nowMicros: () => 1_700_000_000_000_000 },
    trustMetrics: () => Promise.reject(new Error("not asked")),
  };

  it("has a builder for every case of the LearningEvent oneof, and a shape row for every fixed-shape case", () => {
    for (const c of eventSchemas.keys()) assert.equal(typeof eventBuilders[c], "function", c);
    const byHand = [...eventSchemas.keys()].filter((c) => EVENT_SHAPES[c] === undefined).sort();
    assert.deepEqual(byHand, ["bayesianTrustMetrics", "generic"]);
  });

  it("builds a fixed-shape event's draft from its shape row: members in order, absent optionals as null, the call's time", async () => {
    const rule = await buildEvent({ case: "ruleActivation", value: create(LogRuleActivationRequestSchema, { ruleId: "r", variableId: "v", outcome: { kind: { case: "stringValue", value: "up" } } }) }, deps);
    assert.equal(rule.eventType, "rule_activation");
    assert.equal(JSON.stringify(rule.data), '{"rule_id":"r","variable_id":"v","outcome":"up","forecast_id":null,"success":null}');
    const effectiveness = await buildEvent({ case: "ruleEffectiveness", value: create(LogRuleEffectivenessRequestSchema, { ruleId: "r", activationCount: 3n, successRate: 0.5, impactScore: 1 }) }, deps);
    assert.equal(JSON.stringify(effectiveness.data), '{"rule_id":"r","activation_count":3,"success_rate":0.5,"impact_score":1,"timestamp":"2023-11-14T22:13:20.000000+00:00"}');
  });
});
