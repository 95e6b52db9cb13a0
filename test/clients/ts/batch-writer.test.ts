import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chmod, writeFile } from "node:fs/promises";
import { status } from "@grpc/grpc-js";
import { BatchWriter, BufferFull, DeadlineExceeded, FailedPrecondition, Unauthenticated, type BatchAck, type Rejection } from "../../../clients/ts/src/index.js";
import { spawnServer, type ChildServer } from "../../helpers/child-server.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../../helpers/server.js";
import { committed, recordsOf } from "./log-records.js";
import { SilentIngestRelay } from "./silent-ingest-relay.js";
import { TcpProxy } from "./tcp-proxy.js";

/** Tracks whether a promise has settled, without awaiting it. */
function settled(p: Promise<unknown>): { readonly done: boolean } {
  const state = { done: false };
  p.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
}

const quietLogger = { error: () => {} };
/**
 * For writers whose answers a test holds back after a warm-up: a stream left
 * idle is half-closed after 1 s, and on a loaded machine a warm-up's answer can
 * take longer, so the stream would be ending as the answers are held; its end
 * would never arrive and nothing more would be sent on it. Kept open, the held
 * batches go out on it.
 */
const keepStreamOpen = { streamIdleTimeoutMs: 600_000 };
const run = promisify(execFile);

describe("TypeScript client: BatchWriter", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let t: TestServer;
  let proxy: TcpProxy;
  beforeEach(async () => {
    dir = await tempDir("pulse-ts-writer-");
    t = await startServer(dir.path);
    proxy = await TcpProxy.start(t.address);
  });
  afterEach(async () => {
    await proxy.close();
    await t.stop();
    await dir.remove();
  });

  it("writes every catalog event, and flush resolves once they are in the log", async () => {
    const writer = new BatchWriter({ address: t.address, flushIntervalMs: 10_000 });
    const ids = [
      await writer.logEvent("custom", { a: 1 }, { run: "r" }),
      await writer.logVariableWeightChange("x", 0.5, 0.75),
      await writer.logSymbolicUpgrade({ add: ["r7"] }),
      await writer.logRevisionTrigger("drift"),
      await writer.logArcRegret({ arc: 0.25 }),
      await writer.logLearningSummary({ epochs: 3 }),
      await writer.logRuleActivation("R1", "v1", true, { forecastId: "F1", success: false }),
      await writer.logBayesianTrustMetrics("rule_x"),
      await writer.logRuleEffectiveness("R1", 12, 0.75, 0.5),
    ];
    for (let i = 0; i < 991; i++) ids.push(await writer.logVariableWeightChange(`v${i}`, i, i + 1));
    // The flush interval is long: only flush sends the last partial batch.
    await writer.flush();
    const records = await recordsOf(t.logPath); // read at once: flush means durable
    assert.equal(records.size, 1000);
    assert.deepEqual(
      ids.slice(0, 9).map((id) => records.get(id)?.event_type),
      [
        "custom",
        "variable_weight_update",
        "symbolic_upgrade_applied",
        "symbolic_revision_triggered",
        "symbolic_arc_regret",
        "meta_learning_summary",
        "rule_activation",
        "bayesian_trust_metrics",
        "rule_effectiveness",
      ],
    );
    assert.deepEqual(records.get(ids[0])?.context, { run: "r" });
    assert.deepEqual(records.get(ids[6])?.data, { rule_id: "R1", variable_id: "v1", outcome: true, forecast_id: "F1", success: false });
    assert.deepEqual(records.get(ids[999])?.data, { variable: "v990", from: 990, to: 991 });
    assert.deepEqual(writer.stats(), { logged: 1000, written: 1000, duplicates: 0, rejected: 0, dropped: 0, buffered: 0, batches: 1, retries: 0 });
    await writer.close();
    await assert.rejects(writer.logRevisionTrigger("late"), FailedPrecondition);
  });

  it("closes itself at the end of an await using block, making its events durable", async () => {
    let id: string;
    {
      await using writer = new BatchWriter({ address: t.address, flushIntervalMs: 10_000 });
      id = await writer.logRevisionTrigger("disposed");
    }
    assert.equal((await recordsOf(t.logPath)).get(id)?.event_type, "symbolic_revision_triggered");
  });

  it("lets a program that never closes it end on its own, its events durable first", async () => {
    const script = fileURLToPath(new URL("fixtures/left-open-writer.ts", import.meta.url));
    const { stdout } = await run(process.execPath, ["--import", "tsx", script, t.address], { timeout: 60_000 });
    assert.equal((await recordsOf(t.logPath)).get(stdout.trim())?.event_type, "symbolic_revision_triggered");
  });

  it("resends the batches of a stream broken mid-flight; every event is in the log exactly once", async () => {
    const acked: BatchAck[] = [];
    const writer = new BatchWriter({ ...keepStreamOpen, address: proxy.address, batchEventsMax: 50, flushIntervalMs: 5, onBatchAcked: (a) => acked.push(a), logger: quietLogger });
    const ids = [await writer.logRevisionTrigger("warm-up")];
    await writer.flush();

    proxy.holdAnswers(); // the server writes the batches; their answers never arrive
    for (let i = 0; i < 300; i++) ids.push(await writer.logVariableWeightChange(`v${i}`, i, i + 1));
    const flushed = writer.flush();
    const flush = settled(flushed);
    await committed(t, ids.length);
    assert.equal(flush.done, false, "flush waits for the answers, not for the server's writes");
    assert.equal(writer.buffered, 300, "unanswered events stay buffered");

    proxy.cut(); // the stream breaks; the writer reconnects and resends
    await flushed;
    const records = await recordsOf(t.logPath);
    assert.equal(records.size, ids.length, "nothing written twice");
    assert.deepEqual([...records.keys()].sort(), [...ids].sort(), "nothing lost");
    const stats = writer.stats();
    assert.equal(stats.duplicates, 300, "every resent event was answered as a duplicate (their first answers were lost)");
    assert.equal(stats.written, 1, "written counts the answers that said new: only the warm-up's");
    assert.ok(stats.retries >= 1);
    assert.equal(
      acked.reduce((n, a) => n + a.duplicates, 0),
      300,
    );
    await writer.close();
  });

  it("reports each event the server refuses to onRejected and writes the others", async () => {
    const rejections: Rejection[] = [];
    const writer = new BatchWriter({ address: t.address, onRejected: (r) => rejections.push(r), logger: quietLogger });
    const good = await writer.logRevisionTrigger("fine");
    const bad = await writer.logEvent("", { a: 1 });
    const alsoGood = await writer.logRevisionTrigger("fine too");
    await writer.flush();
    assert.equal(rejections.length, 1);
    const [r] = rejections;
    assert.equal(r.eventId, bad);
    assert.equal(r.code, status.INVALID_ARGUMENT);
    assert.match(r.message, /event_type/);
    assert.equal(r.event.event.case, "generic");
    assert.deepEqual(writer.rejected, rejections);
    const records = await recordsOf(t.logPath);
    assert.deepEqual([...records.keys()].sort(), [good, alsoGood].sort());
    assert.equal(writer.stats().rejected, 1);
    await writer.close();
  });

  it('rejects a log call with BufferFull at once when the buffer is full and onFull is "raise"', async () => {
    const writer = new BatchWriter({ ...keepStreamOpen, address: proxy.address, onFull: "raise", bufferEventsMax: 3, flushIntervalMs: 1, logger: quietLogger });
    await writer.logRevisionTrigger("warm-up");
    await writer.flush();
    proxy.holdAnswers();
    const ids = [await writer.logRevisionTrigger("1"), await writer.logRevisionTrigger("2"), await writer.logRevisionTrigger("3")];
    await assert.rejects(writer.logRevisionTrigger("4"), (err) => err instanceof BufferFull && err.code === status.RESOURCE_EXHAUSTED);
    assert.equal(writer.stats().logged, 4, "the refused event was not buffered");
    await committed(t, 4);
    proxy.cut();
    await writer.flush();
    ids.push(await writer.logRevisionTrigger("4 again"));
    await writer.close();
    const records = await recordsOf(t.logPath);
    assert.equal(records.size, 5);
    for (const id of ids) assert.ok(records.has(id));
  });

  it('makes a log call wait for room with onFull "block", up to blockTimeoutMs', async () => {
    const writer = new BatchWriter({ ...keepStreamOpen, address: proxy.address, bufferEventsMax: 2, flushIntervalMs: 1, logger: quietLogger });
    await writer.logRevisionTrigger("warm-up");
    await writer.flush();
    proxy.holdAnswers();
    await writer.logRevisionTrigger("1");
    await writer.logRevisionTrigger("2");
    const third = writer.logRevisionTrigger("3");
    const thirdState = settled(third);
    await committed(t, 3);
    assert.equal(thirdState.done, false, "waits while the buffer is full");
    proxy.cut();
    const thirdId = await third;
    await writer.close();
    assert.ok((await recordsOf(t.logPath)).has(thirdId));

    // Nothing listens there: the first event stays buffered, the second finds no room.
    const dropped: Rejection[] = [];
    const timed = new BatchWriter({ address: "127.0.0.1:1", bufferEventsMax: 1, blockTimeoutMs: 50, onDropped: (r) => dropped.push(r), logger: quietLogger });
    const first = await timed.logRevisionTrigger("buffered, never sent");
    await assert.rejects(timed.logRevisionTrigger("no room"), BufferFull);
    await timed.abort();
    assert.equal(timed.stats().dropped, 1);
    assert.deepEqual(
      dropped.map((d) => d.eventId),
      [first],
    );
    assert.equal(dropped[0].code, status.CANCELLED);
  });

  it("resends a batch unanswered after ackTimeoutMs, and gives up after retryTimeoutMs with DeadlineExceeded", async () => {
    // The server writes every batch; no answer ever comes back, so only the ack timeout ends a call.
    const relay = await SilentIngestRelay.start(t.address);
    try {
      const dropped: Rejection[] = [];
      const writer = new BatchWriter({ address: relay.address, flushIntervalMs: 1, ackTimeoutMs: 1_000, retryTimeoutMs: 2_000, onDropped: (r) => dropped.push(r), logger: quietLogger });
      const id = await writer.logRevisionTrigger("never answered");
      await assert.rejects(writer.flush(), (err) => err instanceof DeadlineExceeded);
      assert.ok(writer.stats().retries >= 1, "the batch was resent after each ack timeout");
      assert.ok(relay.calls >= 2 && relay.relayed >= 2, `the batch was sent on a new call after the ack timeout (calls ${relay.calls}, batches ${relay.relayed})`);
      assert.deepEqual(
        dropped.map((d) => d.eventId),
        [id],
      );
      assert.equal(dropped[0].code, status.DEADLINE_EXCEEDED);
      await relay.settled(); // the server has handled every copy it was sent
      const records = await recordsOf(t.logPath); // fails if any resend was written twice
      assert.ok(records.has(id), "the server wrote it once");
      assert.equal(records.size, 1);
      await assert.rejects(writer.close(), DeadlineExceeded);
    } finally {
      relay.close();
    }
  });

  it("closeOrAbort gives up what is still unanswered after its timeout, and resolves", async () => {
    const dropped: Rejection[] = [];
    const writer = new BatchWriter({ ...keepStreamOpen, address: proxy.address, flushIntervalMs: 1, onDropped: (r) => dropped.push(r), logger: quietLogger });
    await writer.logRevisionTrigger("warm-up");
    await writer.flush();
    proxy.holdAnswers();
    const id = await writer.logRevisionTrigger("never answered");
    await writer.closeOrAbort(200);
    assert.deepEqual(
      dropped.map((d) => d.eventId),
      [id],
    );
    assert.equal(writer.stats().dropped, 1);
    assert.equal(writer.error?.code, status.CANCELLED);
  });

  it("gives up on a fatal status: flush rejects with it and onDropped gets every unanswered event", async () => {
    const tokensPath = join(dir.path, "tokens.json");
    await writeFile(tokensPath, JSON.stringify([{ name: "w", role: "writer", token: "writer-token-0123456789abcdef" }]));
    await chmod(tokensPath, 0o600);
    const securedDir = await tempDir("pulse-ts-writer-auth-");
    const secured = await startServer(securedDir.path, ["--tokens-file", tokensPath]);
    try {
      const dropped: Rejection[] = [];
      const writer = new BatchWriter({ address: secured.address, token: "wrong-token-0123456789abcdef", onDropped: (r) => dropped.push(r), logger: quietLogger });
      const id = await writer.logRevisionTrigger("refused");
      await assert.rejects(writer.flush(), Unauthenticated);
      assert.ok(writer.error instanceof Unauthenticated);
      assert.deepEqual(
        dropped.map((d) => d.eventId),
        [id],
      );
      assert.equal(dropped[0].code, status.UNAUTHENTICATED);
      await assert.rejects(writer.logRevisionTrigger("after"), Unauthenticated);
      await assert.rejects(writer.close(), Unauthenticated);
    } finally {
      await secured.stop();
      await securedDir.remove();
    }
  });
});

describe("TypeScript client: BatchWriter across a server kill -9 and restart", function () {
  this.timeout(120_000);
  let dir: TempDir;
  let server: ChildServer | undefined;
  beforeEach(async () => {
    dir = await tempDir("pulse-ts-writer-restart-");
  });
  afterEach(async () => {
    server?.kill("SIGKILL");
    await server?.stopped;
    server = undefined;
    await dir.remove();
  });

  it("keeps logging through the restart; every event is in the log exactly once", async () => {
    const logPath = join(dir.path, "pulse_learning_log.jsonl");
    server = await spawnServer({ logPath });
    const port = server.port;
    const writer = new BatchWriter({ address: server.address, batchEventsMax: 100, flushIntervalMs: 2, logger: quietLogger });
    const ids: string[] = [];
    for (let i = 0; i < 2_000; i++) ids.push(await writer.logVariableWeightChange(`before${i}`, i, i + 1));
    server.kill("SIGKILL"); // batches in flight: written or not, unanswered
    await server.stopped;
    for (let i = 0; i < 2_000; i++) ids.push(await writer.logVariableWeightChange(`during${i}`, i, i + 1));
    server = await spawnServer({ logPath, port });
    for (let i = 0; i < 1_000; i++) ids.push(await writer.logVariableWeightChange(`after${i}`, i, i + 1));
    await writer.close();
    assert.equal(await server.stop(), 0);
    server = undefined;
    const records = await recordsOf(logPath);
    assert.equal(records.size, ids.length, "nothing written twice");
    assert.deepEqual([...records.keys()].sort(), [...ids].sort(), "nothing lost");
    const stats = writer.stats();
    assert.equal(stats.written + stats.duplicates, ids.length);
    assert.ok(stats.retries >= 1);
  });
});
