import assert from "node:assert/strict";
import { SummaryBuilder } from "../../src/summary/aggregate.js";
import { summaryText, widest } from "../../src/summary/text.js";

describe("summaryText", () => {
  it("renders a log holding more event types than a function call takes arguments (250,000)", () => {
    const b = new SummaryBuilder();
    const types = 250_000;
    for (let seq = 1; seq <= types; seq++) {
      const eventType = `type_${seq}${seq === types ? "_longest_of_all" : ""}`;
      b.add({ seq, timestamp: "2026-11-24T12:00:00.000000+00:00", eventType, json: JSON.stringify({ event_id: `e${seq}`, timestamp: "", event_type: eventType, data: {}, seq }) });
    }
    const text = summaryText(b.build());
    const longest = `type_${types}_longest_of_all`;
    // Every type's count is aligned to the longest name.
    assert.match(text, new RegExp(`\\n  type_1 {${longest.length - "type_1".length}}  +1\\n`));
    assert.match(text, new RegExp(`\\n  ${longest}  +1\\n`));
  });
});

describe("widest", () => {
  it("measures more names than a function call takes arguments, and keeps its floor", () => {
    const names = Array.from({ length: 300_000 }, (_, i) => `t${i}`);
    assert.equal(widest(names), "t299999".length);
    assert.equal(widest(names, 10), 10);
    assert.equal(widest([]), 0);
  });
});
