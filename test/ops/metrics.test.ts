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

  it("count events and bytes written, batch sizes, durable write latency and records sent to readers", async () => {
    ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0"]);
    const url = `http://127.0.0.1:${ts.server.metricsPort}/metrics`;
    for (let i = 0; i < 5; i++) await ts.client.logRevisionTrigger({ reason: `r${i}` });
    await ts.client.logBatch({ events: Array.from({ length: 100 }, (_, i) => ({ event: { case: "revisionTrigger" as const, value: { reason: `b${i}` } } })) });
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
    assert.equal(sample(text, "pulse_read_records_sent_total"), 105);

    assert.equal((await fetch(`http://127.0.0.1:${ts.server.metricsPort}/other`)).status, 404);
  });

  it("serve the default process and Node metrics under their standard names, without a prefix", async () => {
    ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0"]);
    const text = await scrape(ts.server.metricsPort!);
    for (const name of ["process_cpu_seconds_total", "process_cpu_user_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds", "nodejs_heap_size_used_bytes"]) {
      assert.ok(sample(text, name)! > 0, `${name} is served`);
    }
    // A lag can be 0 on an idle server: it must be there, as a number.
    for (const name of ["nodejs_eventloop_lag_seconds", "nodejs_eventloop_lag_p99_seconds"]) assert.ok(sample(text, name)! >= 0, `${name} is served`);
    assert.doesNotMatch(text, /^pulse_(process|nodejs)_/m, "no renamed copies");
  });

  describe("per-RPC gRPC server metrics, named as grpc-ecosystem servers name them", () => {
    const service = "pulse.learninglog.v1.LearningLogService";
    const of = (grpc_method: string, grpc_type: string, more: Record<string, string> = {}) => ({ grpc_type, grpc_service: service, grpc_method, ...more });

    it("count unary calls started and handled by grpc_code, with their handling time", async () => {
      ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0"]);
      for (let i = 0; i < 3; i++) await ts.client.logRevisionTrigger({ reason: `r${i}` });
      await assert.rejects(ts.client.logEvent({ eventType: "", data: {} }), /INVALID_ARGUMENT/);
      const text = await scrape(ts.server.metricsPort!);
      assert.equal(sample(text, "grpc_server_started_total", of("LogRevisionTrigger", "unary")), 3);
      assert.equal(sample(text, "grpc_server_handled_total", of("LogRevisionTrigger", "unary", { grpc_code: "OK" })), 3);
      assert.equal(sample(text, "grpc_server_msg_received_total", of("LogRevisionTrigger", "unary")), 3);
      assert.equal(sample(text, "grpc_server_msg_sent_total", of("LogRevisionTrigger", "unary")), 3);
      assert.equal(sample(text, "grpc_server_handling_seconds_count", of("LogRevisionTrigger", "unary")), 3);
      assert.ok(sample(text, "grpc_server_handling_seconds_sum", of("LogRevisionTrigger", "unary"))! > 0);
      assert.equal(sample(text, "grpc_server_handling_seconds_bucket", of("LogRevisionTrigger", "unary", { le: "+Inf" })), 3);
      // A failed unary call received its message and sent none (as go-grpc-prometheus counts).
      assert.equal(sample(text, "grpc_server_handled_total", of("LogEvent", "unary", { grpc_code: "InvalidArgument" })), 1);
      assert.equal(sample(text, "grpc_server_msg_received_total", of("LogEvent", "unary")), 1);
      assert.equal(sample(text, "grpc_server_msg_sent_total", of("LogEvent", "unary")), 0);
      // Every method's series start at zero, so rates over them are 0 rather than absent.
      assert.equal(sample(text, "grpc_server_started_total", of("LogArcRegret", "unary")), 0);
      assert.equal(sample(text, "grpc_server_handled_total", of("LogArcRegret", "unary", { grpc_code: "OK" })), 0);
      assert.equal(sample(text, "grpc_server_started_total", { grpc_type: "unary", grpc_service: "pulse.trust.v1.TrustService", grpc_method: "GetMetrics" }), 0);
    });

    it("count each message of a stream, in both directions", async () => {
      ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0"]);
      const call = ts.client.ingestEvents();
      const answers = (async () => {
        let n = 0;
        for await (const _ of call.responses) n++;
        return n;
      })();
      for (let b = 1; b <= 3; b++) await call.send({ batchId: BigInt(b), events: [{ event: { case: "revisionTrigger", value: { reason: `batch ${b}` } } }] });
      call.close();
      assert.equal(await answers, 3);
      await ts.client.streamEvents(Array.from({ length: 4 }, (_, i) => ({ events: [{ event: { case: "revisionTrigger" as const, value: { reason: `s${i}` } } }] })));
      let messages = 0;
      for await (const _ of ts.client.readEvents({})) messages++;
      assert.ok(messages >= 1);
      const text = await scrape(ts.server.metricsPort!);
      assert.equal(sample(text, "grpc_server_started_total", of("IngestEvents", "bidi_stream")), 1);
      assert.equal(sample(text, "grpc_server_msg_received_total", of("IngestEvents", "bidi_stream")), 3);
      assert.equal(sample(text, "grpc_server_msg_sent_total", of("IngestEvents", "bidi_stream")), 3);
      assert.equal(sample(text, "grpc_server_handled_total", of("IngestEvents", "bidi_stream", { grpc_code: "OK" })), 1);
      assert.equal(sample(text, "grpc_server_msg_received_total", of("StreamEvents", "client_stream")), 4);
      assert.equal(sample(text, "grpc_server_msg_sent_total", of("StreamEvents", "client_stream")), 1);
      assert.equal(sample(text, "grpc_server_msg_received_total", of("ReadEvents", "server_stream")), 1);
      assert.equal(sample(text, "grpc_server_msg_sent_total", of("ReadEvents", "server_stream")), messages);
      assert.equal(sample(text, "grpc_server_handled_total", of("ReadEvents", "server_stream", { grpc_code: "OK" })), 1);
    });

    it("count a stream its client cancelled as Canceled", async () => {
      ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0"]);
      await ts.client.logRevisionTrigger({ reason: "one record to follow from" });
      // A follower: the server keeps the stream open until the client cancels it.
      const stream = ts.client.readEvents({ follow: true });
      const iterator = stream[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.records.length, 1);
      (stream as unknown as { cancel(): void }).cancel();
      await assert.rejects(iterator.next(), /CANCELLED/);
      const canceled = of("ReadEvents", "server_stream", { grpc_code: "Canceled" });
      // The server learns of the cancel on its own time: wait for the count, within the test's timeout.
      let text = await scrape(ts.server.metricsPort!);
      while (sample(text, "grpc_server_handled_total", canceled) !== 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        text = await scrape(ts.server.metricsPort!);
      }
      assert.equal(sample(text, "grpc_server_started_total", of("ReadEvents", "server_stream")), 1);
      assert.equal(sample(text, "grpc_server_handled_total", of("ReadEvents", "server_stream", { grpc_code: "OK" })), 0);
    });
  });

  it("listen on loopback only unless --insecure", () => {
    assert.throws(() => resolveConfig(["--metrics-addr", "0.0.0.0:9464"], {}), ConfigError);
    assert.equal(resolveConfig(["--metrics-addr", "0.0.0.0:9464", "--insecure"], {}).metricsAddress, "0.0.0.0:9464");
    assert.throws(() => resolveConfig(["--metrics-addr", "nonsense"], {}), ConfigError);
  });
});
