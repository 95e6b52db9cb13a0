import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import type { LearningEventSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** Batches of what Pulse sends, with refused and redacted events, client-chosen ids on some, runs on some. */
function batches() {
  return Array.from({ length: 6 }, (_, b) => ({
    batchId: BigInt(b),
    events: (
      [
      { event: { case: "variableWeightChange" as const, value: { variable: `w${b}`, oldWeight: 0.5, newWeight: 0.25, eventId: ID(b * 10 + 1) } } },
      { event: { case: "ruleActivation" as const, value: { ruleId: "r", variableId: "v", outcome: { kind: { case: "structValue" as const, value: { fields: { delta: { kind: { case: "numberValue" as const, value: 0.1 } }, applied: { kind: { case: "boolValue" as const, value: true } } } } } }, eventId: ID(b * 10 + 2) } } },
      { event: { case: "generic" as const, value: { eventType: "contact", data: { email: "x@example.com", n: b, deep: { list: [1, "two", null] } }, context: { run: "ctx" }, eventId: ID(b * 10 + 3) } }, run: "run-b" },
      { event: { case: "generic" as const, value: { eventType: "", data: {} } } },
      { event: { case: "variableWeightChange" as const, value: { variable: "nan", oldWeight: Number.NaN, newWeight: 1 } } },
      { event: { case: "revisionTrigger" as const, value: { reason: `because ${b} \u2028 ü`, eventId: ID(b * 10 + 4) } } },
      { event: { case: "ruleEffectiveness" as const, value: { ruleId: "r", activationCount: 2n, successRate: 0.5, impactScore: 1, eventId: ID(b * 10 + 5) } } },
      ] as Array<MessageInitShape<typeof LearningEventSchema>>
    ).filter((_, i) => b % 2 === 0 || i !== 6),
  }));
}

/** The log's records without what differs between two servers (timestamps, the data's time of a rule_effectiveness). */
async function records(path: string): Promise<unknown[]> {
  return (await readFile(path, "utf8"))
    .split("\n")
    .filter((l) => l)
    .map((l) => {
      const r = JSON.parse(l) as Record<string, unknown> & { data: Record<string, unknown> };
      delete r.timestamp;
      delete r.hash;
      if (r.event_type === "rule_effectiveness") delete r.data.timestamp;
      return r;
    });
}

describe("ingest workers end to end", function () {
  // Workers start from TypeScript sources through tsx: slow on a loaded machine.
  this.timeout(180_000);
  let dirs: TempDir[] = [];
  let servers: TestServer[] = [];
  afterEach(async () => {
    for (const s of servers) await s.stop();
    for (const d of dirs) await d.remove();
    servers = [];
    dirs = [];
  });

  it("writes the same records and answers the same acks, errors and redactions as the main thread alone", async () => {
    const answers: unknown[][] = [];
    const logs: unknown[][] = [];
    for (const workers of ["0", "2"]) {
      const dir = await tempDir();
      dirs.push(dir);
      const t = await startServer(dir.path, ["--ingest-workers", workers]);
      servers.push(t);
      const metadata = new Metadata();
      metadata.set("pulse-run", "call-run");
      const call = t.client.ingestEvents({ metadata });
      for (const b of batches()) await call.send(b);
      call.close();
      const got: unknown[] = [];
      for await (const a of call.responses) got.push({ ...a, timestamp: undefined, firstSeq: a.firstSeq, lastSeq: a.lastSeq });
      got.push(await t.client.streamEvents(batches().map((b) => ({ events: b.events }))));
      const lone = await t.client.logBatch({ events: batches()[1].events });
      got.push({ ...lone, acks: lone.acks.map((a) => ({ ...a, timestamp: undefined, eventId: a.eventId.startsWith("00000000-") ? a.eventId : "server-chosen" })) });
      answers.push(got);
      logs.push(await records(t.logPath));
    }
    // The batches hold what must match: refusals, redactions, runs, duplicates (the stream resends the ids).
    assert.ok(JSON.stringify(answers[0], (_, v: unknown) => (typeof v === "bigint" ? String(v) : v)).includes("redact"));
    assert.deepEqual(answers[1], answers[0]);
    const serverIds = (rs: unknown[]) => rs.map((r) => ({ ...(r as object), event_id: String((r as { event_id: string }).event_id).startsWith("00000000-") ? (r as { event_id: string }).event_id : "server-chosen" }));
    assert.deepEqual(serverIds(logs[1]), serverIds(logs[0]));
  });
});
