import assert from "node:assert/strict";
import { DedupWindow } from "../../src/store/dedup-window.js";
import { KnownIds } from "../../src/store/known-ids.js";

describe("KnownIds", () => {
  const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
  const client = (n: number) => ({ eventId: id(n), clientChosenId: true, body: "" });
  const server = (n: number) => ({ eventId: id(n), body: "" });

  it("answers an id the window remembers with its record, one in flight with what was held, and nothing else", () => {
    const window = new DedupWindow(10);
    window.addCommit("t1", [id(1)], [7]);
    const known = new KnownIds<string>(window);
    assert.deepEqual(known.lookup(client(1)), { stored: { seq: 7, timestamp: "t1" } });
    assert.equal(known.lookup(client(2)), undefined);
    known.hold(client(2), "slot 2");
    assert.deepEqual(known.lookup(client(2)), { inFlight: "slot 2" });
    // The window wins over what is in flight: a stored record is final.
    known.hold(client(1), "slot 1");
    assert.deepEqual(known.lookup(client(1)), { stored: { seq: 7, timestamp: "t1" } });
  });

  it("never looks up or holds an id the server made up (it cannot be a retry)", () => {
    const window = new DedupWindow(10);
    window.addCommit("t1", [id(1)], [7]);
    const known = new KnownIds<string>(window);
    assert.equal(known.lookup(server(1)), undefined);
    known.hold(server(3), "slot 3");
    assert.equal(known.inFlightOf(id(3)), undefined);
  });

  it("releases an id only while the given value still holds it, and everything at once", () => {
    const known = new KnownIds<string>(new DedupWindow(10));
    known.hold(client(4), "first");
    known.hold(client(4), "promoted");
    known.release(id(4), "first");
    assert.equal(known.inFlightOf(id(4)), "promoted");
    known.release(id(4), "promoted");
    assert.equal(known.lookup(client(4)), undefined);
    known.hold(client(5), "a");
    known.hold(client(6), "b");
    known.releaseAll();
    assert.equal(known.lookup(client(5)), undefined);
    assert.equal(known.lookup(client(6)), undefined);
    known.hold(client(7), "c");
    known.release(id(7));
    assert.equal(known.lookup(client(7)), undefined);
  });
});
