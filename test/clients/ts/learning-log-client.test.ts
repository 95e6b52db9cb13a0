import assert from "node:assert/strict";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import {
  InvalidArgument,
  LearningLogClient,
  LearningLogError,
  Unauthenticated,
  Unavailable,
  DeadlineExceeded,
  type Ack,
} from "../../../clients/ts/src/index.js";
import { resolveConfig } from "../../../src/config.js";
import { PulseServer } from "../../../src/server.js";
import { makeCertificates } from "../../helpers/certificates.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../../helpers/server.js";
import { committed, recordsOf } from "./log-records.js";
import { TcpProxy } from "./tcp-proxy.js";

async function failure(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (err) {
    return err;
  }
  assert.fail("the call succeeded");
}

describe("TypeScript client: LearningLogClient", () => {
  let dir: TempDir;
  let t: TestServer;
  let client: LearningLogClient;
  beforeEach(async () => {
    dir = await tempDir("pulse-ts-client-");
    t = await startServer(dir.path);
    client = new LearningLogClient({ address: t.address });
  });
  afterEach(async () => {
    client.close();
    await t.stop();
    await dir.remove();
  });

  it("writes the original module's record for each catalog event, acked once durable", async () => {
    const cases: Array<[Promise<Ack>, string, Record<string, unknown>, Record<string, unknown>?]> = [
      [client.logEvent("custom_event", { a: 1, nested: { b: [true, null, "x"] } }, { run: "r1" }), "custom_event", { a: 1, nested: { b: [true, null, "x"] } }, { run: "r1" }],
      [client.logVariableWeightChange("temperature", 0.5, 0.75), "variable_weight_update", { variable: "temperature", from: 0.5, to: 0.75 }],
      [client.logSymbolicUpgrade({ add: ["rule_7"], weight: 2 }), "symbolic_upgrade_applied", { changes: { add: ["rule_7"], weight: 2 } }],
      [client.logRevisionTrigger("drift detected"), "symbolic_revision_triggered", { reason: "drift detected" }],
      [client.logArcRegret({ arc_a: 0.25, arc_b: 1.5 }), "symbolic_arc_regret", { regret_scores: { arc_a: 0.25, arc_b: 1.5 } }],
      [client.logLearningSummary({ epochs: 3, loss: 0.125 }), "meta_learning_summary", { epochs: 3, loss: 0.125 }],
      [client.logRuleActivation("R1", "v1", "fired", { forecastId: "F9", success: true }), "rule_activation", { rule_id: "R1", variable_id: "v1", outcome: "fired", forecast_id: "F9", success: true }],
      [client.logRuleActivation("R2", "v2", { score: 3 }), "rule_activation", { rule_id: "R2", variable_id: "v2", outcome: { score: 3 }, forecast_id: null, success: null }],
    ];
    const acks: Ack[] = [];
    for (const [ack] of cases) acks.push(await ack);
    const metricsAck = await client.logBayesianTrustMetrics("rule_x", { kind: "rule" });
    const effectivenessAck = await client.logRuleEffectiveness("R1", 12, 0.75, 0.5);

    const records = await recordsOf(t.logPath);
    assert.equal(records.size, cases.length + 2);
    cases.forEach(([, eventType, data, context], i) => {
      const r = records.get(acks[i].eventId);
      assert.ok(r, `record of ${eventType}`);
      assert.equal(r.event_type, eventType);
      assert.deepEqual(r.data, data);
      assert.deepEqual(r.context, context);
      assert.equal(r.seq, acks[i].seq);
      assert.equal(r.timestamp, acks[i].timestamp);
      assert.equal(acks[i].duplicate, false);
    });
    const m = records.get(metricsAck.eventId)!;
    assert.equal(m.event_type, "bayesian_trust_metrics");
    assert.deepEqual(m.data, {
      key: "rule_x",
      kind: "rule",
      trust: metricsAck.metrics.trust,
      confidence_interval: [...metricsAck.metrics.confidenceInterval],
      confidence_strength: metricsAck.metrics.confidenceStrength,
      sample_size: 0,
    });
    assert.equal(metricsAck.metrics.trust, 0.5, "a key never updated has the prior");
    const e = records.get(effectivenessAck.eventId)!;
    assert.equal(e.event_type, "rule_effectiveness");
    assert.deepEqual({ ...e.data, timestamp: undefined }, { rule_id: "R1", activation_count: 12, success_rate: 0.75, impact_score: 0.5, timestamp: undefined });
    assert.ok(e.data.timestamp !== undefined, "the server adds the data's timestamp");
  });

  it("answers a resent event_id as a duplicate with the original seq, writing nothing", async () => {
    const first = await client.logRevisionTrigger("once", { eventId: "0b5c8a52-8f4e-4c1e-9a57-3f2b1e6d7c10" });
    const again = await client.logRevisionTrigger("once", { eventId: "0b5c8a52-8f4e-4c1e-9a57-3f2b1e6d7c10" });
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, first.seq);
    assert.equal((await recordsOf(t.logPath)).size, 1);
  });

  it("retries a call whose answer was lost with the same event_id: written once, answered as a duplicate", async () => {
    const proxy = await TcpProxy.start(t.address);
    const viaProxy = new LearningLogClient({ address: proxy.address, timeoutMs: 30_000 });
    try {
      await viaProxy.logRevisionTrigger("warm-up");
      proxy.holdAnswers(); // the server writes the event; its answer never arrives
      const call = viaProxy.logRevisionTrigger("answer lost");
      await committed(t, 2);
      proxy.cut(); // the call fails with UNAVAILABLE and is retried
      const ack = await call;
      assert.equal(ack.duplicate, true);
      const records = await recordsOf(t.logPath); // fails if the event was written twice
      assert.equal(records.get(ack.eventId)?.seq, ack.seq);
    } finally {
      viaProxy.close();
      await proxy.close();
    }
  });

  it("rejects a bad value with InvalidArgument naming the field, and writes nothing", async () => {
    const err = await failure(client.logVariableWeightChange("x", Number.NaN, 1));
    assert.ok(err instanceof InvalidArgument, String(err));
    assert.ok(err instanceof LearningLogError);
    assert.equal(err.retryable, false);
    assert.deepEqual(
      err.fieldViolations.map((v) => v.field),
      ["old_weight"],
    );
    assert.match(err.details, /^old_weight: /);
    assert.match(err.fieldViolations[0].description, /not a finite number/);
    assert.equal((await recordsOf(t.logPath)).size, 0);
  });

  it("refuses arguments of the wrong type before sending anything", async () => {
    await assert.rejects(client.logRevisionTrigger(42 as unknown as string), { name: "TypeError", message: /reason must be a string/ });
    await assert.rejects(client.logEvent("e", [] as never), { name: "TypeError", message: /data must be a JSON object/ });
  });

  it("serves the trust tracker: update, batch update, metrics, report, decay", async () => {
    const u = await client.trust.update("rule_a", true);
    assert.equal(u.stats.alpha, 2);
    assert.ok(u.seq > 0);
    const b = await client.trust.batchUpdate([
      { key: "rule_a", success: true, weight: 2 },
      { key: "rule_b", success: false },
    ]);
    assert.deepEqual(Object.keys(b.stats).sort(), ["rule_a", "rule_b"]);
    assert.equal(b.stats.rule_a.alpha, 4);
    const [a, never] = await client.trust.getMetrics(["rule_a", "never_seen"]);
    assert.equal(a.trust, 4 / 5);
    assert.equal(never.trust, 0.5);
    assert.equal(await client.trust.getTrust("rule_b"), 1 / 3);
    const report = await client.trust.generateReport({ minSamples: 1 });
    assert.equal(report.summary.reportedKeys, 2);
    const logged = await client.generateTrustReport({ minSamples: 1 });
    assert.equal(logged.report.summary.totalKeys, 2);
    const records = await recordsOf(t.logPath);
    assert.equal(records.get(logged.ack.eventId)?.event_type, "trust_report_generated");
    const decayed = await client.trust.applyDecay(undefined, 0.5);
    assert.equal(decayed.keysDecayed, 2);
    const exported = await client.trust.exportRecords();
    assert.deepEqual(
      exported.map((r) => r.key),
      ["rule_a", "rule_b"],
    );
  });

  it("replays the log with readEvents", async () => {
    const acks = [await client.logRevisionTrigger("one"), await client.logRevisionTrigger("two")];
    const seen = [];
    for await (const r of client.readEvents({ eventTypes: ["symbolic_revision_triggered"] })) seen.push(r);
    assert.deepEqual(
      seen.map((r) => r.eventId),
      acks.map((a) => a.eventId),
    );
    assert.equal(JSON.parse(seen[1].json).data.reason, "two");
  });

  it("fails with Unavailable (retryable) when no server listens, within the call's deadline", async () => {
    await t.stop();
    const err = await failure(client.logRevisionTrigger("nobody", { timeoutMs: 2_000 }));
    assert.ok(err instanceof Unavailable || err instanceof DeadlineExceeded, String(err));
    assert.equal((err as LearningLogError).retryable, true);
    t = await startServer(dir.path); // for afterEach
  });

  it("rejects calls after close", async () => {
    client.close();
    await assert.rejects(client.logRevisionTrigger("late"), { name: "TypeError", message: /closed/ });
  });
});

describe("TypeScript client: TLS, mutual TLS and a bearer token", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let server: PulseServer;
  let address: string;
  let ca: Buffer;
  let key: Buffer;
  let cert: Buffer;
  const TOKEN = "trainer-token-0123456789abcdef";
  // Verify the server certificate by name (an IP as TLS server name is deprecated).
  const byName = { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" };

  before(async () => {
    dir = await tempDir("pulse-ts-tls-");
    makeCertificates(dir.path);
    const tokensPath = join(dir.path, "tokens.json");
    await writeFile(tokensPath, JSON.stringify([{ name: "trainer", roles: ["writer", "reader"], token: TOKEN }]));
    await chmod(tokensPath, 0o600);
    const logPath = join(dir.path, "log", "pulse_learning_log.jsonl");
    const config = resolveConfig(
      ["--addr", "127.0.0.1:0", "--log-path", logPath, "--tls-cert", join(dir.path, "server.pem"), "--tls-key", join(dir.path, "server.key"), "--tls-client-ca", join(dir.path, "ca.pem"), "--tokens-file", tokensPath],
      {},
    );
    server = await PulseServer.start(config, { logger: pino({ level: "silent" }) });
    address = `127.0.0.1:${server.port}`;
    [ca, key, cert] = await Promise.all(["ca.pem", "client.key", "client.pem"].map((f) => readFile(join(dir.path, f))));
  });
  after(async () => {
    await server.shutdown();
    await dir.remove();
  });

  it("logs and reads trust with one token over mutual TLS", async () => {
    const client = new LearningLogClient({ address, tls: { ca, cert, key }, token: TOKEN, channelOptions: byName });
    try {
      const ack = await client.logRevisionTrigger("over mTLS");
      assert.equal(ack.seq, 1);
      assert.equal(await client.trust.getTrust("k"), 0.5);
    } finally {
      client.close();
    }
  });

  it("answers Unauthenticated (not retried) to a wrong token", async () => {
    const client = new LearningLogClient({ address, tls: { ca, cert, key }, token: `${TOKEN}x`, channelOptions: byName });
    try {
      const err = await failure(client.logRevisionTrigger("refused"));
      assert.ok(err instanceof Unauthenticated, String(err));
      assert.equal(err.retryable, false);
    } finally {
      client.close();
    }
  });

  it("refuses a token with spaces or control characters before sending it", () => {
    assert.throws(() => new LearningLogClient({ address, token: "two words" }), TypeError);
  });
});
