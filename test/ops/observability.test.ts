import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { Observability } from "../../src/ops/observability.js";
import { createClient } from "../../src/rpc/client.js";
import { adaptImplementation, createServiceDefinition } from "../../src/rpc/grpc-adapter.js";
import type { LogStore } from "../../src/store/store.js";
import { sample } from "../helpers/metrics.js";

interface Line {
  level: number;
  msg: string;
  method?: string;
  path?: string;
  outcome?: string;
}

function recordingLogger(level: string) {
  const lines: Line[] = [];
  return { lines, logger: pino({ level }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) }) };
}

const store = {} as LogStore;
const refused = { path: "/pulse.learninglog.v1.LearningLogService/LogEvent", type: "unary", peer: "127.0.0.1:1", outcome: "unauthenticated" } as const;

describe("operations: what the server installs to be observed", () => {
  it("installs nothing per call or per event without metrics above debug level", () => {
    const { lines, logger } = recordingLogger("info");
    const o = new Observability({ logger });
    assert.equal(o.metrics, undefined);
    assert.equal(o.calls, undefined);
    assert.equal(o.eventOutcomes, undefined);
    assert.equal(o.observeStore(store), store);
    o.refusedCalls(refused);
    assert.deepEqual(lines.map((l) => [l.level, l.msg, l.path]), [[40, "call refused", refused.path]]);
  });

  it("with metrics: counts calls and refusals, wraps the store, observes the event writer", async () => {
    const { logger } = recordingLogger("info");
    const o = new Observability({ logger, metrics: {} });
    assert.ok(o.metrics);
    assert.equal(o.calls, o.metrics.calls, "only the metrics observe calls at info level");
    assert.equal(o.eventOutcomes, o.metrics.events.writer);
    assert.notEqual(o.observeStore(store), store);
    o.refusedCalls(refused);
    const text = await o.metrics.registry.metrics();
    assert.equal(sample(text, "grpc_server_handled_total", { grpc_method: "LogEvent", grpc_code: "Unauthenticated" }), 1);
  });

  it("with metrics at debug level: each call is counted and logged", async () => {
    const { lines, logger } = recordingLogger("debug");
    const o = new Observability({ logger, metrics: {} });
    const server = new grpc.Server();
    server.addService(createServiceDefinition(LearningLogService), adaptImplementation(LearningLogService, new Proxy({}, { get: () => async () => ({}) }) as never, o.internalErrors, o.calls));
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const client = createClient(LearningLogService, `127.0.0.1:${port}`);
    try {
      await client.logRevisionTrigger({ reason: "x" });
      const method = "/pulse.learninglog.v1.LearningLogService/LogRevisionTrigger";
      while (!lines.some((l) => l.msg === "call" && l.method === method)) await new Promise((resolve) => setImmediate(resolve));
      const text = await o.metrics!.registry.metrics();
      assert.equal(sample(text, "grpc_server_handled_total", { grpc_method: "LogRevisionTrigger", grpc_code: "OK" }), 1);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
