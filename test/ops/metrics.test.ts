import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { ConfigError, resolveConfig } from "../../src/config.js";
import { pino } from "pino";
import { sample, scrape } from "../helpers/metrics.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

describe("operations: Prometheus metrics", () => {
  let dir: TempDir;
  let ts: TestServer;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await ts?.stop();
    await dir.remove();
  });

  it("a rejection nobody handled is logged and counted, and the server goes on serving", async () => {
    const lines: Array<{ level: number; msg: string; err?: { message?: string } }> = [];
    const logger = pino({ level: "error" }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0"], { logger });
    ts.server.reportUnhandledRejection(new Error("a promise nobody awaited"));
    assert.equal(sample(await scrape(ts.server.metricsPort!), "pulse_unhandled_rejections_total"), 1);
    assert.ok(lines.some((l) => l.level === 50 && /unhandled promise rejection/.test(l.msg) && l.err?.message === "a promise nobody awaited"));
    const { ack } = await ts.client.logRevisionTrigger({ reason: "still serving" });
    assert.equal(ack?.seq, 1n);
  });

  it("are off by default", async () => {
    ts = await startServer(dir.path);
    assert.equal(ts.server.metricsPort, undefined);
  });

  it("count events and bytes written, batch sizes, durable write latency, RPCs by status code and streams", async () => {
    ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0"]);
    const url = `http://127.0.0.1:${ts.server.metricsPort}/metrics`;
    for (let i = 0; i < 5; i++) await ts.client.logRevisionTrigger({ reason: `r${i}` });
    await ts.client.logBatch({ events: Array.from({ length: 100 }, (_, i) => ({ event: { case: "revisionTrigger" as const, value: { reason: `b${i}` } } })) });
    await assert.rejects(ts.client.logEvent({ eventType: "", data: {} }));
    let read = 0;
    for await (const m of ts.client.readEvents({})) read += m.records.length;
    assert.equal(read, 105);

    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await res.text();
    const { size } = await stat(ts.logPath);
    assert.equal(sample(text, "pulse_log_events_written_total"), 105);
    assert.equal(sample(text, "pulse_log_bytes_written_total"), size);
    assert.equal(sample(text, "pulse_log_last_seq"), 105);
    // Six commits: five single events and one batch of 100.
    assert.equal(sample(text, "pulse_log_commit_batch_events_count"), 6);
    assert.equal(sample(text, "pulse_log_commit_batch_events_sum"), 105);
    assert.equal(sample(text, "pulse_log_commit_batch_events_bucket", { le: "1" }), 5);
    assert.equal(sample(text, "pulse_log_durable_write_seconds_count"), 6);
    assert.ok(sample(text, "pulse_log_durable_write_seconds_sum")! > 0);
    const service = "pulse.learninglog.v1.LearningLogService";
    assert.equal(sample(text, "pulse_rpc_handled_total", { service, method: "LogRevisionTrigger", code: "OK" }), 5);
    assert.equal(sample(text, "pulse_rpc_handled_total", { service, method: "LogEvent", code: "INVALID_ARGUMENT" }), 1);
    assert.equal(sample(text, "pulse_rpc_handled_total", { service, method: "ReadEvents", code: "OK" }), 1);
    assert.equal(sample(text, "pulse_rpc_streams_started_total", { service, method: "ReadEvents" }), 1);
    assert.equal(sample(text, "pulse_rpc_streams_active", { service, method: "ReadEvents" }), 0);
    assert.equal(sample(text, "pulse_read_records_sent_total"), 105);
    assert.ok(sample(text, "pulse_process_resident_memory_bytes")! > 0, "process metrics are there");

    assert.equal((await fetch(`http://127.0.0.1:${ts.server.metricsPort}/other`)).status, 404);
  });

  it("listen on loopback only unless --insecure", () => {
    assert.throws(() => resolveConfig(["--metrics-addr", "0.0.0.0:9464"], {}), ConfigError);
    assert.equal(resolveConfig(["--metrics-addr", "0.0.0.0:9464", "--insecure"], {}).metricsAddress, "0.0.0.0:9464");
    assert.throws(() => resolveConfig(["--metrics-addr", "nonsense"], {}), ConfigError);
  });
});
