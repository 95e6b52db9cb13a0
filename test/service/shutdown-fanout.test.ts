import assert from "node:assert/strict";
import { shutdownFanout } from "../../src/service/shutdown-fanout.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

describe("shutdown fan-out", () => {
  it("wakes every waiter once on abort, none it released, and at once after the abort", () => {
    const controller = new AbortController();
    const fanout = shutdownFanout(controller.signal);
    const woken: number[] = [];
    const releases = [0, 1, 2].map((i) => fanout.onShutdown(() => woken.push(i)));
    releases[1]();
    controller.abort();
    controller.abort();
    assert.deepEqual(woken, [0, 2]);
    fanout.onShutdown(() => woken.push(3));
    assert.deepEqual(woken, [0, 2, 3]);
  });

  describe("many open streams on one server", () => {
    let dir: TempDir;
    let t: TestServer | undefined;
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    beforeEach(async () => {
      dir = await tempDir();
      process.on("warning", onWarning);
    });
    afterEach(async () => {
      process.off("warning", onWarning);
      await t?.stop().catch(() => undefined);
      t = undefined;
      await dir.remove();
    });

    it("30 followers and 30 ingest streams add no listener per stream to the shutdown signal, and shutdown still ends each", async () => {
      t = await startServer(dir.path);
      const client = t.client;
      await client.logEvent({ eventType: "seed", data: {} });
      // Every stream reports its first answer; shutdown waits until all 60 are open and answered.
      let open = 0;
      let allOpen!: () => void;
      const allOpened = new Promise<void>((resolve) => (allOpen = resolve));
      const opened = () => ++open === 60 && allOpen();
      const followers = Array.from({ length: 30 }, async () => {
        const seen: bigint[] = [];
        try {
          for await (const m of client.readEvents({ follow: true })) {
            if (seen.length === 0) opened();
            for (const r of m.records) seen.push(r.seq);
          }
          return { seen, code: 0 };
        } catch (err) {
          return { seen, code: (err as { code: number }).code };
        }
      });
      const ingests = Array.from({ length: 30 }, async (_, i) => {
        const call = client.ingestEvents();
        await call.send({ batchId: 1n, events: [{ event: { case: "revisionTrigger", value: { reason: `s${i}` } } }] });
        let answers = 0;
        try {
          for await (const _ of call.responses) if (answers++ === 0) opened();
          return { answers, code: 0 };
        } catch (err) {
          return { answers, code: (err as { code: number }).code };
        }
      });
      await allOpened;
      await t.server.shutdown();
      const ended = await Promise.all([...followers, ...ingests]);
      assert.equal(ended.length, 60, "every stream ended");
      assert.ok(ended.every((e) => e.code === 14 /* UNAVAILABLE: shutting down */), JSON.stringify(ended.map((e) => e.code)));
      assert.deepEqual(
        warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message),
        [],
      );
    });
  });
});
