import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { runManyStreams } from "../../bench/many-streams-rss.js";

describe("memory has one bound, not one per stream", function () {
  this.timeout(240_000);
  before(function () {
    if (spawnSync("strace", ["-f", "-o", "/dev/null", "true"]).status !== 0) {
      console.log("      SKIPPED: the slow disk is made with strace (apt-get install strace; as root).");
      this.skip();
    }
  });

  it("500 IngestEvents streams on a disk slowed to 200 ms per write: peak RSS under 250 MB, every batch answered", async () => {
    // Each stream may hold one batch in flight; read-ahead beyond it comes from one budget shared by all streams.
    const r = await runManyStreams({ streams: 500, batchEvents: 10, seconds: 8, writeDelayMs: 200, queueBytesMax: 1_000_000 });
    assert.equal(r.failedStreams, 0);
    assert.equal(r.answered, r.sent, "every batch sent was answered");
    assert.ok(r.peakRssBytes < 250 * 2 ** 20, `peak RSS ${Math.round(r.peakRssBytes / 2 ** 20)} MiB`);
  });
});
