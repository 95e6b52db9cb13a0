import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createAuthInterceptor } from "../../src/auth/interceptor.js";
import { createTokenVerifier } from "../../src/auth/tokens.js";
import { GRPC_CODE_NAMES, grpcCodeName } from "../../src/ops/grpc-server-metrics.js";
import { ServerMetrics } from "../../src/ops/metrics.js";
import { createClient } from "../../src/rpc/client.js";
import { adaptImplementation, createServiceDefinition } from "../../src/rpc/grpc-adapter.js";
import { sample } from "../helpers/metrics.js";

const READER = "reader-token-0123456789abcdef";

describe("operations: gRPC server metrics", () => {
  it("spell grpc_code as grpc-go does, for every code", () => {
    assert.equal(GRPC_CODE_NAMES.length, 17);
    for (const [name, value] of Object.entries(grpc.status)) {
      if (typeof value !== "number") continue;
      // grpc-js says CANCELLED, grpc-go Canceled: the only spelling that differs beyond case and underscores.
      const expected = name === "CANCELLED" ? "Canceled" : name.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase()).replace(/^Ok$/, "OK");
      assert.equal(grpcCodeName(value), expected);
    }
    assert.equal(grpcCodeName(99), "99");
  });

  it("start every method's handled series at 0 for every code, as go-grpc-prometheus's InitializeMetrics does", async () => {
    const metrics = new ServerMetrics();
    adaptImplementation(LearningLogService, new Proxy({}, { get: () => async () => ({}) }) as never, () => undefined, metrics.calls);
    const text = await metrics.registry.metrics();
    for (const method of LearningLogService.methods) {
      const labels = { grpc_service: "pulse.learninglog.v1.LearningLogService", grpc_method: method.name };
      for (const code of GRPC_CODE_NAMES) {
        const line = text.split("\n").find((l) => l.startsWith("grpc_server_handled_total{") && l.includes(`grpc_method="${labels.grpc_method}"`) && l.includes(`grpc_code="${code}"`));
        assert.equal(line?.split(" ").pop(), "0", `${method.name} ${code}`);
      }
    }
  });

  it("count calls the auth interceptor refused, which no handler saw, by their code", async () => {
    const metrics = new ServerMetrics();
    const tokens = createTokenVerifier([{ name: "dashboard", roles: ["reader"], token: READER }]);
    const server = new grpc.Server({ interceptors: [createAuthInterceptor(tokens, metrics.callRefused)] });
    server.addService(createServiceDefinition(LearningLogService), adaptImplementation(LearningLogService, new Proxy({}, { get: () => async () => ({}) }) as never, () => undefined, metrics.calls));
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const client = createClient(LearningLogService, `127.0.0.1:${port}`);
    try {
      await assert.rejects(client.logRevisionTrigger({ reason: "no token" }), /UNAUTHENTICATED/);
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${READER}`);
      await assert.rejects(client.logRevisionTrigger({ reason: "a reader" }, { metadata: md }), /PERMISSION_DENIED/);
      const denied = async () => {
        for await (const _ of client.ingestEvents({ metadata: new grpc.Metadata() }).responses);
      };
      await assert.rejects(denied(), /UNAUTHENTICATED/);
      const text = await metrics.registry.metrics();
      const labels = { grpc_type: "unary", grpc_service: "pulse.learninglog.v1.LearningLogService", grpc_method: "LogRevisionTrigger" };
      assert.equal(sample(text, "grpc_server_started_total", labels), 2);
      assert.equal(sample(text, "grpc_server_handled_total", { ...labels, grpc_code: "Unauthenticated" }), 1);
      assert.equal(sample(text, "grpc_server_handled_total", { ...labels, grpc_code: "PermissionDenied" }), 1);
      assert.equal(sample(text, "grpc_server_handled_total", { ...labels, grpc_code: "OK" }), 0);
      const ingest = { grpc_type: "bidi_stream", grpc_service: "pulse.learninglog.v1.LearningLogService", grpc_method: "IngestEvents" };
      assert.equal(sample(text, "grpc_server_handled_total", { ...ingest, grpc_code: "Unauthenticated" }), 1);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
