import assert from "node:assert/strict";
import { hedged, isPassing, retrying } from "../../../src/store/jetstream/retry.js";

const named = (name: string, message = name) => Object.assign(new Error(message), { name });
const never = <T>() => new Promise<T>(() => undefined);

describe("JetStream retries", () => {
  it("knows the passing failures: timeouts, no responders, JetStream unavailable; not the others", () => {
    for (const err of [named("TimeoutError", "timeout"), named("NoResponders", "no responders"), named("Error", "503 no responders available")]) assert.ok(isPassing(err), err.message);
    for (const err of [named("TypeError", "x is undefined"), named("InvalidArgumentError", "bad subject"), undefined]) assert.ok(!isPassing(err), String(err));
  });

  it("retrying: tries again on a passing failure, and throws any other at once", async () => {
    let calls = 0;
    assert.equal(await retrying(async () => (++calls < 3 ? Promise.reject(named("TimeoutError")) : "ok"), { ms: 60_000 }), "ok");
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(retrying(async () => (calls++, Promise.reject(named("TypeError"))), { ms: 60_000 }), /TypeError/);
    assert.equal(calls, 1);
  });

  it("hedged: tries at least once with no time left, and throws that failure", async () => {
    await assert.rejects(hedged(() => Promise.reject(named("TimeoutError", "timeout")), { ms: 0, hedgeMs: 10, inFlightMax: 3 }), /timeout/);
  });

  it("hedged: the first answer wins while earlier attempts still wait; never more than inFlightMax wait at once", async () => {
    let calls = 0;
    let hedges = 0;
    const value = await hedged(() => (++calls < 3 ? never<string>() : Promise.resolve(`answer ${calls}`)), { ms: 60_000, hedgeMs: 5, inFlightMax: 3, onRetry: () => void hedges++ });
    assert.equal(value, "answer 3");
    assert.equal(hedges, 2, "each extra attempt is told");
    calls = 0;
    const stuck = hedged(() => (calls++, never<string>()), { ms: 60_000, hedgeMs: 1, inFlightMax: 2, signal: AbortSignal.timeout(200) });
    await assert.rejects(stuck);
    assert.equal(calls, 2);
  });

  it("hedged: a failure that is not passing ends it at once", async () => {
    await assert.rejects(hedged(() => Promise.reject(named("TypeError", "bug")), { ms: 60_000, hedgeMs: 10, inFlightMax: 3 }), /bug/);
  });
});
