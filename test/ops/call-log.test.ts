import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { LearningLogService, ReadEventsResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createAuthInterceptor } from "../../src/auth/interceptor.js";
import { createTokenVerifier } from "../../src/auth/tokens.js";
import { ServiceError } from "../../src/errors.js";
import { createCallLog, createInternalErrorSink, type CallLine } from "../../src/ops/call-log.js";
import { createClient, type Client } from "../../src/rpc/client.js";
import { repoRoot } from "../helpers/child-server.js";
import { adaptImplementation, combineCallObservers, createServiceDefinition, EncodedMessage, type CallObserver } from "../../src/rpc/grpc-adapter.js";

const TOKEN = "trainer-token-0123456789abcdef";
const LEARNING_LOG = "/pulse.learninglog.v1.LearningLogService";

interface Line extends Partial<CallLine> {
  level: number;
  msg: string;
  err?: { message?: string };
}

/** Answers every method; a few fail in their own way. */
function fakeImplementation(cause: Error): Record<string, unknown> {
  return new Proxy({} as Record<string, unknown>, {
    get: (_, name: string) => {
      switch (name) {
        case "logArcRegret":
          return async () => {
            throw ServiceError.invalid("regret_scores", "must not be empty");
          };
        case "logVariableWeightChange":
          return async () => {
            throw new ServiceError(grpc.status.INTERNAL, "internal error", { cause });
          };
        case "readEvents":
          return async function* () {
            const record = { seq: 1n, eventId: "e", timestamp: "t", eventType: "x", json: "{}" };
            yield { records: [record, record] };
            yield { records: [record] };
            // Records handed over as wire bytes, as the read handlers send them.
            const bytes = toBinary(ReadEventsResponseSchema, create(ReadEventsResponseSchema, { records: [record, record, record] }));
            yield new EncodedMessage(Buffer.from(bytes));
          };
        case "ingestEvents":
          return async function* (requests: AsyncIterable<{ batchId: bigint }>) {
            for await (const r of requests) yield { batchId: r.batchId };
          };
        case "getMetrics":
          return async () => ({ metrics: [] });
        default:
          return async () => ({});
      }
    },
  });
}

describe("operations: per-call log lines", () => {
  const lines: Line[] = [];
  const logger = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });
  const cause = new Error("the disk said EIO");
  let server: grpc.Server;
  let client: Client<typeof LearningLogService.method>;
  let trust: Client<typeof TrustService.method>;
  let port: number;
  const metadata = () => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    return { metadata: md };
  };
  /** The lines of calls to one method, waited for: the line is written as the call ends on the server, which may be after the client saw the answer. */
  const linesOf = async (method: string, count = 1): Promise<Line[]> => {
    for (;;) {
      const found = lines.filter((l) => l.method === method);
      if (found.length >= count) return found;
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  before(async () => {
    const tokens = createTokenVerifier([{ name: "trainer-7", roles: ["writer", "reader"], token: TOKEN }]);
    server = new grpc.Server({ interceptors: [createAuthInterceptor(tokens, () => undefined)] });
    const sink = createInternalErrorSink(logger);
    const observer = createCallLog(logger);
    assert.ok(observer, "installed at debug level");
    server.addService(createServiceDefinition(LearningLogService), adaptImplementation(LearningLogService, fakeImplementation(cause) as never, sink, observer));
    server.addService(createServiceDefinition(TrustService), adaptImplementation(TrustService, fakeImplementation(cause) as never, sink, observer));
    port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    client = createClient(LearningLogService, `127.0.0.1:${port}`);
    trust = createClient(TrustService, `127.0.0.1:${port}`);
  });
  after(() => {
    client.close();
    trust.close();
    server.forceShutdown();
  });

  it("writes one debug line per call: method, peer, principal, events, outcome, ms", async () => {
    await client.logRevisionTrigger({ reason: "x" }, metadata());
    const [line] = await linesOf(`${LEARNING_LOG}/LogRevisionTrigger`);
    assert.equal(line.level, 20);
    assert.equal(line.msg, "call");
    assert.match(line.peer!, /^127\.0\.0\.1:\d+$/);
    assert.equal(line.principal, "trainer-7");
    assert.equal(line.events, 1);
    assert.equal(line.outcome, "OK");
    assert.equal(typeof line.ms, "number");
    assert.ok(line.ms! >= 0);
    assert.equal(line.reason, undefined);
  });

  it("counts the events of batches and streams, and the records a read sent", async () => {
    const event = { event: { case: "revisionTrigger" as const, value: { reason: "r" } } };
    await client.logBatch({ events: [event, event, event] }, metadata());
    assert.equal((await linesOf(`${LEARNING_LOG}/LogBatch`))[0].events, 3);

    const call = client.ingestEvents(metadata());
    await call.send({ batchId: 1n, events: [event, event] });
    await call.send({ batchId: 2n, events: [event, event, event] });
    call.close();
    for await (const _ of call.responses);
    assert.equal((await linesOf(`${LEARNING_LOG}/IngestEvents`))[0].events, 5);

    for await (const _ of client.readEvents({}, metadata()));
    const [read] = await linesOf(`${LEARNING_LOG}/ReadEvents`);
    assert.equal(read.events, 6);
    assert.equal(read.outcome, "OK");

    // Calls about no events say nothing of events.
    await trust.getMetrics({ keys: ["k"] }, metadata());
    const [metrics] = await linesOf("/pulse.trust.v1.TrustService/GetMetrics");
    assert.equal("events" in metrics, false);
  });

  it("gives a refused call's outcome and reason at debug level: a client's mistake is no server error", async () => {
    await assert.rejects(client.logArcRegret({}, metadata()), /INVALID_ARGUMENT/);
    const [line] = await linesOf(`${LEARNING_LOG}/LogArcRegret`);
    assert.equal(line.level, 20);
    assert.equal(line.outcome, "InvalidArgument");
    assert.equal(line.reason, "regret_scores: must not be empty");
    assert.ok(!lines.some((l) => l.level >= 50 && l.method === `${LEARNING_LOG}/LogArcRegret`));
  });

  it("logs a failure of the server at error level with its cause, the method, peer and principal", async () => {
    await assert.rejects(client.logVariableWeightChange({ variable: "v", oldWeight: 0.1, newWeight: 0.2 }, metadata()), /INTERNAL: internal error/);
    const found = await linesOf(`${LEARNING_LOG}/LogVariableWeightChange`, 2);
    const error = found.find((l) => l.level === 50)!;
    assert.equal(error.msg, "internal error");
    assert.equal(error.err?.message, "the disk said EIO");
    assert.match(error.peer!, /^127\.0\.0\.1:\d+$/);
    assert.equal(error.principal, "trainer-7");
    const call = found.find((l) => l.msg === "call")!;
    assert.equal(call.outcome, "Internal");
    assert.equal(call.reason, "internal error");
  });

  it("logs a client that exits with a stream open as the client's cancel, at debug: no internal error", async () => {
    // A process that opens IngestEvents (as a BatchWriter's shared stream does), gets one answer
    // and exits normally with the stream still open: its socket closes under the call.
    const script = `
      const grpc = require("@grpc/grpc-js");
      const client = new grpc.Client(process.argv[1], grpc.credentials.createInsecure());
      const md = new grpc.Metadata();
      md.set("authorization", "Bearer ${TOKEN}");
      const call = client.makeBidiStreamRequest("${LEARNING_LOG}/IngestEvents", (b) => b, (b) => b, md);
      call.once("data", () => process.exit(0));
      call.write(Buffer.from([8, 1])); // batch_id 1
    `;
    const linesBefore = lines.length;
    const ingestCallsBefore = lines.filter((l) => l.method === `${LEARNING_LOG}/IngestEvents`).length;
    const child = spawn(process.execPath, ["-e", script, `127.0.0.1:${port}`], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 0);
    const [line] = await linesOf(`${LEARNING_LOG}/IngestEvents`, ingestCallsBefore + 1).then((found) => found.slice(ingestCallsBefore));
    assert.equal(line.level, 20);
    assert.equal(line.outcome, "Canceled");
    assert.equal(line.reason, "cancelled by the client (it cancelled the call or went away)");
    assert.deepEqual(
      lines.slice(linesBefore).filter((l) => l.level >= 40),
      [],
      "nothing at warn or error level",
    );
  });

  it("costs nothing above debug level: no observer is made", () => {
    assert.equal(createCallLog(pino({ level: "info" })), undefined);
    const one: CallObserver = { method: () => () => ({ received: () => undefined, sent: () => undefined, ended: () => undefined }) };
    assert.equal(combineCallObservers(undefined, undefined), undefined);
    assert.equal(combineCallObservers(one, undefined), one);
  });
});
