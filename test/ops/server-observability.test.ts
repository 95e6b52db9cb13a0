import assert from "node:assert/strict";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { LearningEventSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient } from "../../src/rpc/client.js";
import { sample, scrape } from "../helpers/metrics.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

const CLIENT_ID = "6f1c2b9e-0d4a-4e3b-8f7a-2c5d9e1b3a40";
const TOKEN = "trainer-token-0123456789abcdef";

interface Line {
  level: number;
  msg: string;
  method?: string;
  principal?: string;
  events?: number;
  outcome?: string;
}

describe("operations: a running server's metrics and per-call log lines", () => {
  let dir: TempDir;
  let ts: TestServer;
  const lines: Line[] = [];
  const generic = (eventType: string, data: Record<string, string> = {}, eventId?: string) => create(LearningEventSchema, { event: { case: "generic", value: { eventType, data, eventId } } });
  const auth = () => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${TOKEN}`);
    return { metadata };
  };

  before(async () => {
    dir = await tempDir();
    const tokens = join(dir.path, "tokens.json");
    await writeFile(tokens, JSON.stringify([{ name: "trainer-7", roles: ["writer", "reader"], token: TOKEN }]));
    await chmod(tokens, 0o600);
    const logger = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });
    ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0", "--tokens-file", tokens], { logger });
  });
  after(async () => {
    await ts?.stop();
    await dir?.remove();
  });

  it("count events written by type, rejected by reason, redacted and duplicate", async () => {
    await ts.client.logRevisionTrigger({ reason: "one" }, auth());
    await ts.client.logRevisionTrigger({ reason: "two" }, auth());
    await assert.rejects(ts.client.logEvent({ eventType: "", data: {} }, auth()), /INVALID_ARGUMENT/);
    const batch = await ts.client.logBatch({ events: [generic("custom"), generic(""), generic("custom", { api_key: "s3cret" }, CLIENT_ID)] }, auth());
    assert.equal(batch.errors.length, 1);
    const again = await ts.client.logBatch({ events: [generic("custom", { api_key: "s3cret" }, CLIENT_ID)] }, auth());
    assert.equal(again.acks[0].duplicate, true);
    const trust = createClient(TrustService, ts.address);
    await trust.update({ outcome: { key: "rule_a", success: true } }, auth());
    trust.close();

    const text = await scrape(ts.server.metricsPort!);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "symbolic_revision_triggered" }), 2);
    assert.equal(sample(text, "pulse_events_written_total", { event_type: "custom" }), 2);
    assert.equal(sample(text, "pulse_events_duplicate_total", { event_type: "custom" }), 1);
    assert.equal(sample(text, "pulse_events_rejected_total", { reason: "invalid_argument" }), 2);
    // The PII guard redacted api_key in both copies of the retried event.
    assert.equal(sample(text, "pulse_events_redacted_total", { event_type: "custom" }), 2);
    // Every record in the log is counted under its type, the tracker's audit records too.
    const inLog = new Map<string, number>();
    for (const line of (await readFile(ts.logPath, "utf8")).split("\n").filter(Boolean)) {
      const type = (JSON.parse(line) as { event_type: string }).event_type;
      inLog.set(type, (inLog.get(type) ?? 0) + 1);
    }
    assert.equal(inLog.get("trust_updated"), 1);
    const counted = new Map([...text.matchAll(/^pulse_events_written_total\{event_type="(.*)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    assert.deepEqual(counted, inLog);
  });

  it("count calls refused by the auth interceptor, and log each call at debug level with its principal", async () => {
    await assert.rejects(ts.client.logRevisionTrigger({ reason: "no token" }), /UNAUTHENTICATED/);
    const text = await scrape(ts.server.metricsPort!);
    assert.equal(sample(text, "grpc_server_handled_total", { grpc_method: "LogRevisionTrigger", grpc_code: "Unauthenticated" }), 1);
    assert.equal(sample(text, "grpc_server_handled_total", { grpc_method: "LogRevisionTrigger", grpc_code: "OK" }), 2);
    const batchLines = lines.filter((l) => l.msg === "call" && l.method === "/pulse.learninglog.v1.LearningLogService/LogBatch");
    assert.deepEqual(batchLines.map((l) => [l.principal, l.events, l.outcome]), [["trainer-7", 3, "OK"], ["trainer-7", 1, "OK"]]);
    assert.ok(lines.some((l) => l.level === 40 && l.msg === "call refused"));
    let records = 0;
    for await (const m of ts.client.readEvents({}, auth())) records += m.records.length;
    const method = "/pulse.learninglog.v1.LearningLogService/ReadEvents";
    // The line is written as the call ends on the server, which may be after the client read the last message.
    while (!lines.some((l) => l.msg === "call" && l.method === method)) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.find((l) => l.msg === "call" && l.method === method)?.events, records);
  });
});
