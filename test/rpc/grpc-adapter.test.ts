import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../../src/errors.js";
import { addReflection } from "../../src/ops/reflection.js";
import { createClient, type Client } from "../../src/rpc/client.js";
import { adaptImplementation, createServiceDefinition, toStatus } from "../../src/rpc/grpc-adapter.js";
import { rawCall } from "../faults/raw-call.js";

const PREFIX = "/pulse.learninglog.v1.LearningLogService";

/** A sink that keeps what it is told. */
function recordingSink() {
  const seen: Array<{ err: unknown; path: string }> = [];
  return { seen, sink: (err: unknown, path: string) => void seen.push({ err, path }) };
}

describe("gRPC adapter: every INTERNAL sent has its cause logged", () => {
  describe("toStatus", () => {
    it("gives the sink the cause of an INTERNAL ServiceError, with the method path", () => {
      const { seen, sink } = recordingSink();
      const cause = new Error("JetStream consumer create timed out");
      const s = toStatus(new ServiceError(grpc.status.INTERNAL, "internal error", { cause }), `${PREFIX}/ReadEvents`, sink);
      assert.deepEqual(s, { code: grpc.status.INTERNAL, details: "internal error" });
      assert.equal(seen.length, 1);
      assert.equal(seen[0].err, cause);
      assert.equal(seen[0].path, `${PREFIX}/ReadEvents`);
    });

    it("gives the sink anything thrown that is not a ServiceError (ServiceError.from's INTERNAL), and an INTERNAL without a cause itself", () => {
      const { seen, sink } = recordingSink();
      const thrown = new TypeError("x is undefined");
      assert.equal(toStatus(thrown, "/a/B", sink).code, grpc.status.INTERNAL);
      assert.equal(toStatus(ServiceError.from(thrown), "/a/C", sink).code, grpc.status.INTERNAL);
      const bare = new ServiceError(grpc.status.INTERNAL, "request does not decode");
      toStatus(bare, "/a/D", sink);
      assert.deepEqual(seen.map((s) => [s.err, s.path]), [[thrown, "/a/B"], [thrown, "/a/C"], [bare, "/a/D"]]);
    });

    it("does not log answers: the client's mistakes and passing unavailability", () => {
      const { seen, sink } = recordingSink();
      for (const code of [grpc.status.INVALID_ARGUMENT, grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED, grpc.status.CANCELLED, grpc.status.NOT_FOUND] as const) {
        assert.equal(toStatus(new ServiceError(code, "no", { cause: new Error("why") }), "/a/B", sink).code, code);
      }
      assert.equal(seen.length, 0);
    });
  });

  describe("through a real server", () => {
    let server: grpc.Server;
    let client: Client<typeof LearningLogService.method>;
    let raw: grpc.Client;
    const { seen, sink } = recordingSink();
    const boom = new Error("the store's request timed out");

    before(async () => {
      // Every method of the service, failing in its own way.
      const impl = new Proxy({} as Record<string, unknown>, {
        get: (_, name: string) => {
          switch (name) {
            case "logRevisionTrigger":
              return async () => {
                throw new ServiceError(grpc.status.INTERNAL, "internal error", { cause: boom });
              };
            case "logArcRegret":
              return async () => {
                throw ServiceError.invalid("arc_id", "must not be empty");
              };
            case "logRuleActivation":
              // A response that does not encode (uint64 out of range): a bug of ours, logged, not a silent INTERNAL from grpc-js.
              return async () => ({ ack: { seq: 2n ** 64n } });
            case "readEvents":
              return async function* () {
                yield { records: [] };
                throw new ServiceError(grpc.status.INTERNAL, "internal error", { cause: boom });
              };
            default:
              return async () => ({});
          }
        },
      });
      server = new grpc.Server();
      server.addService(createServiceDefinition(LearningLogService), adaptImplementation(LearningLogService, impl as never, sink));
      addReflection(server, [LearningLogService], {}, sink);
      const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
      client = createClient(LearningLogService, `127.0.0.1:${port}`);
      raw = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    });
    after(() => {
      client?.close();
      raw?.close();
      server?.forceShutdown();
    });
    beforeEach(() => void seen.splice(0));

    it("unary: an INTERNAL ServiceError with a cause reaches the sink with the method path; the client sees only 'internal error'", async () => {
      await assert.rejects(client.logRevisionTrigger({ reason: "r" }), (err: grpc.ServiceError) => err.code === grpc.status.INTERNAL && err.details === "internal error");
      assert.deepEqual(seen, [{ err: boom, path: `${PREFIX}/LogRevisionTrigger` }]);
    });

    it("server streaming: an INTERNAL after a first message reaches the sink too", async () => {
      const messages: unknown[] = [];
      await assert.rejects(
        (async () => {
          for await (const m of client.readEvents({})) messages.push(m);
        })(),
        (err: grpc.ServiceError) => err.code === grpc.status.INTERNAL,
      );
      assert.equal(messages.length, 1);
      assert.deepEqual(seen, [{ err: boom, path: `${PREFIX}/ReadEvents` }]);
    });

    it("a response that does not encode is INTERNAL with the encoder's error logged", async () => {
      await assert.rejects(client.logRuleActivation({}), (err: grpc.ServiceError) => err.code === grpc.status.INTERNAL);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].path, `${PREFIX}/LogRuleActivation`);
      assert.ok(seen[0].err instanceof Error && !(seen[0].err instanceof ServiceError), `the encoder's own error, got ${String(seen[0].err)}`);
    });

    it("a request that does not decode is INTERNAL with the decoder's error logged, on our services and on reflection", async () => {
      // Field 1, length 5, one byte: protobuf-es refuses it; protobufjs (reflection's decoder) refuses a truncated varint tag.
      const ours = await rawCall(raw, `${PREFIX}/LogRevisionTrigger`, "unary", [Uint8Array.of(0x0a, 0x05, 0xff)], 10_000);
      assert.equal(ours.code, grpc.status.INTERNAL);
      const reflection = await rawCall(raw, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "bidi_streaming", [Uint8Array.of(0xff, 0xff)], 10_000);
      assert.equal(reflection.code, grpc.status.INTERNAL);
      assert.deepEqual(seen.map((s) => s.path), [`${PREFIX}/LogRevisionTrigger`, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"]);
      for (const s of seen) assert.ok(s.err instanceof Error && !(s.err instanceof ServiceError), `the decoder's own error, got ${String(s.err)}`);
    });

    it("answers INVALID_ARGUMENT without a log line", async () => {
      await assert.rejects(client.logArcRegret({}), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT);
      assert.deepEqual(seen, []);
    });
  });
});

/** A real server on a loopback port answering the learning log service with `impl` (every method it names), and a client of it. */
async function serving(impl: object): Promise<{ server: grpc.Server; client: Client<typeof LearningLogService.method> }> {
  const server = new grpc.Server();
  server.addService(createServiceDefinition(LearningLogService), adaptImplementation(LearningLogService, impl as never, () => undefined));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, client: createClient(LearningLogService, `127.0.0.1:${port}`) };
}

describe("gRPC adapter: a failed bidi stream always sends its status", () => {
  let server: grpc.Server;
  let client: Client<typeof LearningLogService.method>;
  const failure = new ServiceError(grpc.status.UNAVAILABLE, "log storage failed (EIO); nothing was written");

  before(async () => {
    // The shape of IngestEvents when a commit fails: a read waits for the
    // client's next batch (the client holds it back until it is answered),
    // an answer is on its way, and the handler throws.
    const ingestEvents = async function* (requests: AsyncIterable<unknown>) {
      const reading = requests[Symbol.asyncIterator]();
      await reading.next();
      void reading.next().catch(() => undefined);
      yield { batchId: 1n };
      throw failure;
    };
    // The other methods are not called.
    ({ server, client } = await serving(new Proxy({}, { get: (_, name: string) => (name === "ingestEvents" ? ingestEvents : async () => ({})) })));
  });
  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  it("the handler's error arrives while a read waits for the client and an answer is being written: the client gets the answer, then the status (50 calls)", async () => {
    // Node's stream iterator destroyed the call when its "error" came during a
    // read, before grpc-js could send the status: the client then waited forever
    // (here, until its deadline: DEADLINE_EXCEEDED instead of UNAVAILABLE).
    for (let i = 0; i < 50; i++) {
      const call = client.ingestEvents({ deadline: 20_000 });
      await call.send({ batchId: 1n, events: [] });
      const answers: bigint[] = [];
      const code = await (async () => {
        try {
          for await (const res of call.responses) answers.push(res.batchId);
          return grpc.status.OK;
        } catch (err) {
          return (err as grpc.ServiceError).code;
        }
      })();
      assert.deepEqual({ call: i, answers, code: grpc.status[code] }, { call: i, answers: [1n], code: "UNAVAILABLE" });
    }
  });
});

describe("gRPC adapter: the call context", () => {
  let server: grpc.Server;
  let client: Client<typeof LearningLogService.method>;
  const deadlines: Array<number | undefined> = [];

  before(async () => {
    const impl = new Proxy(
      {},
      {
        get: () => async (_request: unknown, ctx: { deadline?: number }) => {
          deadlines.push(ctx.deadline);
          return {};
        },
      },
    );
    ({ server, client } = await serving(impl));
  });
  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  it("tells the handler the client's deadline (what a read retrying a store bounds itself by), and none when the client set none", async () => {
    const deadline = Date.now() + 30_000;
    await client.logRevisionTrigger({ reason: "r" }, { deadline: new Date(deadline) });
    await client.logRevisionTrigger({ reason: "r" });
    assert.equal(deadlines.length, 2);
    const [told, none] = deadlines;
    // The deadline travels as a timeout from when the call was sent (grpc-timeout): the server's is no later than the client's.
    assert.ok(told !== undefined && told <= deadline + 5 && told > deadline - 30_000, `${told} vs ${deadline}`);
    assert.equal(none, undefined);
  });
});
