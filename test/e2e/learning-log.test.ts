import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { status } from "@grpc/grpc-js";
import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { v4 as uuidv4 } from "uuid";
import type { StreamEventsRequestSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { join } from "node:path";
import { pino } from "pino";
import { resolveConfig } from "../../src/config.js";
import { PulseServer } from "../../src/server.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

type Record_ = { event_id: string; timestamp: string; event_type: string; data: unknown; context?: unknown; seq: number };

async function readLog(path: string): Promise<Record_[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record_);
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("LearningLogService end to end", () => {
  let dir: TempDir;
  let t: TestServer;
  beforeEach(async () => {
    dir = await tempDir();
    t = await startServer(dir.path);
  });
  afterEach(async () => {
    await t.stop();
    await dir.remove();
  });

  it("writes every event of the catalog exactly as the original module did", async () => {
    const c = t.client;
    const acks = [
      (await c.logEvent({ eventType: "custom_event", data: { a: 1, nested: { b: [true, null, "x"] } }, context: { run: "r1" } })).ack!,
      (await c.logEvent({ eventType: "no_context", data: { a: 2 }, context: {} })).ack!,
      (await c.logVariableWeightChange({ variable: "temperature", oldWeight: 0.5, newWeight: 0.75 })).ack!,
      (await c.logSymbolicUpgrade({ plan: { add: ["rule_7"], weight: 2 } })).ack!,
      (await c.logRevisionTrigger({ reason: "drift detected" })).ack!,
      (await c.logArcRegret({ scores: { arc_a: 0.25, arc_b: 1.5 } })).ack!,
      (await c.logLearningSummary({ summary: { epochs: 3, loss: 0.125 } })).ack!,
      (await c.logRuleActivation({ ruleId: "R1", variableId: "v1", outcome: create(ValueSchema, { kind: { case: "stringValue", value: "fired" } }), forecastId: "F9", success: true })).ack!,
      (await c.logRuleActivation({ ruleId: "R2", variableId: "v2", outcome: create(ValueSchema, { kind: { case: "numberValue", value: 3 } }) })).ack!,
      (await c.logBayesianTrustMetrics({ key: "rule_x" })).ack!,
      (await c.logRuleEffectiveness({ ruleId: "R1", activationCount: 12n, successRate: 0.75, impactScore: 0.5 })).ack!,
    ];
    const records = await readLog(t.logPath);
    assert.equal(records.length, acks.length);
    records.forEach((r, i) => {
      assert.deepEqual(Object.keys(r), r.context === undefined ? ["event_id", "timestamp", "event_type", "data", "seq", "hash"] : ["event_id", "timestamp", "event_type", "data", "context", "seq", "hash"]);
      assert.equal(r.event_id, acks[i].eventId);
      assert.match(r.event_id, UUID);
      assert.equal(r.timestamp, acks[i].timestamp);
      assert.match(r.timestamp, TIMESTAMP);
      assert.equal(BigInt(r.seq), acks[i].seq);
      assert.equal(r.seq, i + 1);
    });
    const [generic, noContext, weight, upgrade, revision, regret, summary, activation, activation2, trust, effectiveness] = records;
    assert.equal(generic.event_type, "custom_event");
    assert.deepEqual(generic.data, { a: 1, nested: { b: [true, null, "x"] } });
    assert.deepEqual(generic.context, { run: "r1" });
    assert.equal(noContext.context, undefined, "empty context is not written");
    assert.deepEqual([weight.event_type, weight.data], ["variable_weight_update", { variable: "temperature", from: 0.5, to: 0.75 }]);
    assert.deepEqual([upgrade.event_type, upgrade.data], ["symbolic_upgrade_applied", { changes: { add: ["rule_7"], weight: 2 } }]);
    assert.deepEqual([revision.event_type, revision.data], ["symbolic_revision_triggered", { reason: "drift detected" }]);
    assert.deepEqual([regret.event_type, regret.data], ["symbolic_arc_regret", { regret_scores: { arc_a: 0.25, arc_b: 1.5 } }]);
    assert.deepEqual([summary.event_type, summary.data], ["meta_learning_summary", { epochs: 3, loss: 0.125 }]);
    assert.deepEqual([activation.event_type, activation.data], ["rule_activation", { rule_id: "R1", variable_id: "v1", outcome: "fired", forecast_id: "F9", success: true }]);
    assert.deepEqual(activation2.data, { rule_id: "R2", variable_id: "v2", outcome: 3, forecast_id: null, success: null });
    assert.equal(trust.event_type, "bayesian_trust_metrics");
    assert.deepEqual(trust.data, { key: "rule_x", kind: "variable", trust: 0.5, confidence_interval: [0, 1], confidence_strength: 1 / (1 + Math.exp(1)), sample_size: 0 });
    assert.equal(effectiveness.event_type, "rule_effectiveness");
    const eff = effectiveness.data as Record<string, unknown>;
    assert.deepEqual(Object.keys(eff), ["rule_id", "activation_count", "success_rate", "impact_score", "timestamp"]);
    assert.deepEqual([eff.rule_id, eff.activation_count, eff.success_rate, eff.impact_score], ["R1", 12, 0.75, 0.5]);
    assert.match(eff.timestamp as string, TIMESTAMP);
    assert.equal((await stat(t.logPath)).mode & 0o777, 0o600);
  });

  it("escapes line breaks so every record stays on one line", async () => {
    await t.client.logEvent({ eventType: "text", data: { s: "a\nb\r\u2028c\u2029d\u0085e\u0000" } });
    const text = await readFile(t.logPath, "utf8");
    assert.equal(text.split("\n").length, 2);
    assert.ok(!/[\u2028\u2029\u0085]/.test(text));
    assert.equal((JSON.parse(text) as Record_ & { data: { s: string } }).data.s, "a\nb\r\u2028c\u2029d\u0085e\u0000");
  });

  describe("rejects bad input with INVALID_ARGUMENT naming the field, writing nothing", () => {
    const cases: Array<[string, (t: TestServer) => Promise<unknown>, RegExp]> = [
      ["empty event_type", (t) => t.client.logEvent({ eventType: "" }), /^event_type: /],
      ["over-long event_type", (t) => t.client.logEvent({ eventType: "x".repeat(129) }), /^event_type: .*128/],
      ["newline in event_type", (t) => t.client.logEvent({ eventType: "a\nb" }), /^event_type: .*control/],
      ["NaN in data", (t) => t.client.logEvent({ eventType: "x", data: { deep: { v: Number.NaN } } as unknown as JsonObject }), /^data\.deep\.v: NaN/],
      ["Infinity weight", (t) => t.client.logVariableWeightChange({ variable: "v", oldWeight: Infinity, newWeight: 1 }), /^old_weight: Infinity/],
      ["NaN score", (t) => t.client.logArcRegret({ scores: { a: Number.NaN } }), /^scores\.a: /],
      ["non-finite outcome", (t) => t.client.logRuleActivation({ ruleId: "r", variableId: "v", outcome: create(ValueSchema, { kind: { case: "numberValue", value: -Infinity } }) }), /^outcome: /],
      ["bad event_id", (t) => t.client.logRevisionTrigger({ reason: "r", eventId: "not-a-uuid" }), /^event_id: .*UUID/],
      ["record over the size limit", (t) => t.client.logRevisionTrigger({ reason: "r".repeat(1024 * 1024 + 1) }), /over the limit/],
      [
        "nesting deeper than the limit",
        (t) => {
          let data: JsonObject = { leaf: 1 };
          for (let i = 0; i < 40; i++) data = { d: data };
          return t.client.logEvent({ eventType: "deep", data });
        },
        /^data(\.d)+: nested deeper than 32/,
      ],
    ];
    for (const [name, call, message] of cases) {
      it(name, async () => {
        await assert.rejects(call(t), (err: { code: number; details: string }) => {
          assert.equal(err.code, status.INVALID_ARGUMENT, err.details);
          assert.match(err.details, message);
          return true;
        });
        assert.equal(await readFile(t.logPath, "utf8"), "");
      });
    }
  });

  it("answers a retry with the same event_id with the original ack", async () => {
    const eventId = uuidv4();
    const first = (await t.client.logRevisionTrigger({ reason: "r", eventId })).ack!;
    const again = (await t.client.logRevisionTrigger({ reason: "r", eventId })).ack!;
    assert.equal(again.seq, first.seq);
    assert.equal(again.timestamp, first.timestamp);
    assert.equal(again.duplicate, true);
    assert.equal(first.duplicate, false);
    assert.equal((await readLog(t.logPath)).length, 1);
  });

  it("LogBatch writes the valid events and reports the others (partial success)", async () => {
    const res = await t.client.logBatch({
      events: [
        { event: { case: "revisionTrigger", value: { reason: "ok1" } } },
        { event: { case: "variableWeightChange", value: { variable: "v", oldWeight: Number.NaN, newWeight: 1 } } },
        { event: { case: "revisionTrigger", value: { reason: "ok2" } } },
        { event: { case: undefined } },
      ],
    });
    assert.equal(res.acks.length, 2);
    assert.deepEqual(
      res.errors.map((e) => [e.index, e.code]),
      [
        [1, status.INVALID_ARGUMENT],
        [3, status.INVALID_ARGUMENT],
      ],
    );
    assert.match(res.errors[0].message, /^events\[1\]\.variable_weight_change\.old_weight: /);
    assert.equal(res.partialSuccess?.rejectedEvents, 2);
    const records = await readLog(t.logPath);
    assert.deepEqual(records.map((r) => (r.data as { reason: string }).reason), ["ok1", "ok2"]);
    assert.deepEqual(records.map((r) => BigInt(r.seq)), res.acks.map((a) => a.seq));
  });

  it("IngestEvents answers every batch in order once durable, also after half-close", async () => {
    const call = t.client.ingestEvents();
    const batches = 20;
    for (let b = 0; b < batches; b++) {
      await call.send({
        batchId: BigInt(b + 100),
        events: Array.from({ length: 50 }, (_, i) => ({ event: { case: "variableWeightChange" as const, value: { variable: `v${i}`, oldWeight: b, newWeight: i } } })),
      });
    }
    call.close();
    const answers = [];
    for await (const res of call.responses) answers.push(res);
    assert.deepEqual(answers.map((a) => a.batchId), Array.from({ length: batches }, (_, b) => BigInt(b + 100)));
    answers.forEach((a, b) => {
      assert.equal(a.count, 50);
      assert.equal(a.firstSeq, BigInt(b * 50 + 1));
      assert.equal(a.lastSeq, BigInt(b * 50 + 50));
    });
    assert.equal((await readLog(t.logPath)).length, batches * 50);
  });

  it("StreamEvents answers once with the summary of the whole stream", async () => {
    const requests: Array<MessageInitShape<typeof StreamEventsRequestSchema>> = Array.from({ length: 30 }, (_, i) => ({ events: [{ event: { case: "revisionTrigger" as const, value: { reason: `r${i}` } } }] }));
    requests.push({ events: [{ event: { case: "revisionTrigger" as const, value: { reason: "", eventId: "bad" } } }] });
    const res = await t.client.streamEvents(requests);
    assert.equal(res.count, 30n);
    assert.equal(res.firstSeq, 1n);
    assert.equal(res.lastSeq, 30n);
    assert.deepEqual(res.errors.map((e) => e.index), [30]);
    assert.equal((await readLog(t.logPath)).length, 30);
  });

  it("releases the log when it cannot bind (address in use), so a retry can take it", async () => {
    const other = join(dir.path, "other", "pulse_learning_log.jsonl");
    const busy = resolveConfig(["--addr", t.address, "--log-path", other], {});
    await assert.rejects(PulseServer.start(busy, { logger: pino({ level: "silent" }) }));
    const free = await PulseServer.start(resolveConfig(["--addr", "127.0.0.1:0", "--log-path", other], {}), { logger: pino({ level: "silent" }) });
    await free.shutdown();
  });

  it("continues seq after a restart", async () => {
    await t.client.logRevisionTrigger({ reason: "before" });
    await t.stop();
    t = await startServer(dir.path);
    const ack = (await t.client.logRevisionTrigger({ reason: "after" })).ack!;
    assert.equal(ack.seq, 2n);
  });

  describe("PII guard", () => {
    it("redacts by default and says which fields in the ack", async () => {
      const { ack } = await t.client.logEvent({ eventType: "signup", data: { user: "u1", email: "ada@example.org", note: "card 4111-1111-1111-1111" } });
      assert.deepEqual(ack?.redactedFields, ["data.email", "data.note"]);
      // What matched, for the clients' warnings: the key "email", and a card number in the note's value.
      assert.deepEqual(
        ack?.redactions.map((r) => [r.field, r.matched]),
        [
          ["data.email", "key"],
          ["data.note", "value"],
        ],
      );
      assert.match(ack!.redactions[0].rule, /the key "email" ends with a sensitive term/);
      assert.match(ack!.redactions[1].rule, /card number/);
      const [record] = await readLog(t.logPath);
      assert.deepEqual(record.data, { user: "u1", email: "[REDACTED]", note: "card [REDACTED]" });
      assert.ok(!(await readFile(t.logPath, "utf8")).includes("ada@example.org"));
    });

    it("rejects naming the field path in reject mode, writing nothing", async () => {
      await t.stop();
      t = await startServer(dir.path, ["--pii-mode", "reject"]);
      await assert.rejects(t.client.logSymbolicUpgrade({ plan: { steps: [{ api_key: "k-123" }] } }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /^data\.changes\.steps\[0\]\.api_key: sensitive key/);
        return true;
      });
      assert.equal(await readFile(t.logPath, "utf8"), "");
    });

    it("writes values unchanged when off", async () => {
      await t.stop();
      t = await startServer(dir.path, ["--pii-mode", "off"]);
      const { ack } = await t.client.logEvent({ eventType: "signup", data: { email: "ada@example.org" } });
      assert.deepEqual(ack?.redactedFields, []);
      assert.deepEqual((await readLog(t.logPath))[0].data, { email: "ada@example.org" });
    });
  });
});
