import assert from "node:assert/strict";
import { bodyInRun, bodyOf, bodyOpen, bodyOpenOf, eventTypeOfBody, recordBody, runMember } from "../../src/record/body.js";

describe("the record body", () => {
  it("writes the members in the contract's order, leaving out an absent or empty context", () => {
    assert.equal(recordBody(bodyOpen('"t"'), '{"a":1}'), '"event_type":"t","data":{"a":1}');
    assert.equal(recordBody(bodyOpen('"t"'), "null", "{}"), '"event_type":"t","data":null');
    assert.equal(recordBody(bodyOpenOf("t"), "{}", '{"k":"v"}'), '"event_type":"t","data":{},"context":{"k":"v"}');
    assert.equal(bodyOf("t", { x: "\u2028" }, {}), '"event_type":"t","data":{"x":"\\u2028"}');
    assert.equal(bodyOf('q"t', [1], { run: "r" }), '"event_type":"q\\"t","data":[1],"context":{"run":"r"}');
  });

  it("closes with the run's member, and reads the event type back", () => {
    assert.equal(bodyInRun('"event_type":"t","data":{}', "exp-42"), `"event_type":"t","data":{}${runMember("exp-42")}`);
    assert.equal(runMember("exp-42"), ',"run":"exp-42"');
    assert.equal(bodyInRun('"event_type":"t","data":{}', undefined), '"event_type":"t","data":{}');
    for (const type of ["rule_activation", 'a"b\\', "café"]) assert.equal(eventTypeOfBody(recordBody(bodyOpenOf(type), "{}")), type);
    assert.equal(eventTypeOfBody('"event_type":"caf\\u00e9","data":{}'), "café");
    assert.equal(eventTypeOfBody('"data":{}'), undefined);
    assert.equal(eventTypeOfBody('"event_type":"a\\"b'), undefined);
  });
});
