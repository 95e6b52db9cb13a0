import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, createFileRegistry, fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { healthDefinition } from "../../src/ops/health.js";
import { fileDescriptorSet, HEALTH_FILE } from "../../src/ops/reflection.js";
import { createClient } from "../../src/rpc/client.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

type HealthClient = grpc.Client & {
  check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

function healthClient(address: string): HealthClient {
  const Ctor = grpc.makeGenericClientConstructor(healthDefinition, "Health");
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
}

const check = (client: HealthClient, service: string) =>
  new Promise<string>((resolve, reject) => client.check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))));

/** A reflection client made from @grpc/reflection's own copy of the standard reflection.proto. */
interface ReflectionResponse {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

function reflectionClient(address: string): grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionResponse> } {
  const protoPath = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "..", "proto", "grpc", "reflection", "v1", "reflection.proto");
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { keepCase: false, longs: String, defaults: true, oneofs: true }));
  const Ctor = (pkg.grpc as grpc.GrpcObject & { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } }).reflection.v1.ServerReflection;
  return new Ctor(address, grpc.credentials.createInsecure()) as never;
}

async function reflect(address: string, request: object): Promise<ReflectionResponse> {
  const client = reflectionClient(address);
  try {
    const call = client.ServerReflectionInfo();
    const answer = new Promise<ReflectionResponse>((resolve, reject) => {
      call.once("data", resolve);
      call.once("error", reject);
    });
    call.write(request);
    call.end();
    return await answer;
  } finally {
    client.close();
  }
}

/** An interpreter with Debian's protobuf (the C++ descriptor pool); PYTHON overrides it. */
const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";
const STRICT_POOL = fileURLToPath(new URL("./strict-descriptors.py", import.meta.url));

/** The types a status detail of this server can hold, and google.rpc.Status itself. */
const STATUS_DETAIL_TYPES = ["google.rpc.Status", "google.rpc.BadRequest", "google.rpc.BadRequest.FieldViolation", "google.rpc.RetryInfo"];

/** The problems Python's descriptor pool finds loading `files` and resolving `symbols` (`service:`/`message:`/`enum:` + full name). */
function strictPoolProblems(files: Iterable<Uint8Array>, symbols: readonly string[]): string[] {
  // A FileDescriptorSet is `repeated FileDescriptorProto file = 1`: the files' bytes, each framed.
  const set = new BinaryWriter();
  for (const file of files) set.tag(1, WireType.LengthDelimited).bytes(file);
  const run = spawnSync(PYTHON, [STRICT_POOL, ...symbols], { input: set.finish(), encoding: "utf8" });
  if (run.error) throw run.error;
  if (run.status !== 0 && run.stdout.trim() === "") throw new Error(`${PYTHON} ${STRICT_POOL} failed: ${run.stderr}`);
  return run.stdout.split("\n").filter((l) => l !== "");
}

describe("operations: health checking and reflection", () => {
  let dir: TempDir;
  let ts: TestServer | undefined;
  beforeEach(async () => {
    dir = await tempDir();
    ts = await startServer(dir.path);
  });
  afterEach(async () => {
    await ts?.stop();
    await dir.remove();
  });

  it("serves grpc.health.v1.Health: SERVING for the server and each service, NOT_FOUND for others", async () => {
    const client = healthClient(ts!.address);
    try {
      for (const service of ["", "pulse.learninglog.v1.LearningLogService", "pulse.trust.v1.TrustService", "opentelemetry.proto.collector.logs.v1.LogsService"]) {
        assert.equal(await check(client, service), "SERVING", service);
      }
      await assert.rejects(check(client, "no.such.Service"), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it("tells watchers NOT_SERVING when shutdown starts, and ends their streams so shutdown is not held up", async () => {
    const client = healthClient(ts!.address);
    try {
      const watch = client.watch({ service: "" });
      const statuses: string[] = [];
      const ended = new Promise<string>((resolve) => {
        watch.on("data", (m: { status: string }) => statuses.push(m.status));
        watch.on("end", () => resolve("end"));
        watch.on("error", (err: Error) => resolve(`error: ${err.message}`));
      });
      await new Promise<void>((resolve) => watch.once("data", () => resolve()));
      assert.deepEqual(statuses, ["SERVING"]);
      await ts!.stop();
      ts = undefined;
      // The server ended the Watch itself, after NOT_SERVING: an open Watch that held the
      // shutdown until its deadline would be cut off instead (an error, no NOT_SERVING).
      assert.equal(await ended, "end");
      assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
    } finally {
      client.close();
    }
  });

  it("answers server reflection: lists the services and gives their descriptors, enough to call them generically", async () => {
    const list = await reflect(ts!.address, { listServices: "*" });
    const names = list.listServicesResponse!.service.map((s) => s.name).sort();
    assert.deepEqual(names, ["grpc.health.v1.Health", "opentelemetry.proto.collector.logs.v1.LogsService", "pulse.learninglog.v1.LearningLogService", "pulse.trust.v1.TrustService"]);

    const files = await reflect(ts!.address, { fileContainingSymbol: "pulse.learninglog.v1.LearningLogService" });
    const protos = files.fileDescriptorResponse!.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    const byName = new Map(protos.map((p) => [p.name, p]));
    const main = byName.get("pulse/learninglog/v1/learning_log.proto")!;
    assert.ok(main, [...byName.keys()].join(", "));
    assert.ok(main.service[0].method.some((m) => m.name === "ReadEvents" && m.serverStreaming));
    // Its imports come along, so a tool can resolve every type.
    for (const dep of main.dependency) assert.ok(byName.has(dep), `dependency ${dep} returned`);

    // Build a client from nothing but the reflected descriptors, and call the service.
    // (Reflection returns files in any order; a registry wants dependencies first.)
    const ordered: typeof protos = [];
    const visit = (name: string) => {
      const f = byName.get(name)!;
      if (ordered.includes(f)) return;
      f.dependency.forEach(visit);
      ordered.push(f);
    };
    protos.forEach((p) => visit(p.name));
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
    const service = registry.getService("pulse.learninglog.v1.LearningLogService") as DescService;
    const dynamic = createClient(service as typeof LearningLogService, ts!.address);
    try {
      const res = (await (dynamic as unknown as Record<string, (r: object) => Promise<{ ack: { seq: bigint } }>>).logRevisionTrigger({ reason: "via reflection" }));
      assert.equal(res.ack.seq, 1n);
    } finally {
      dynamic.close();
    }

    const missing = await reflect(ts!.address, { fileContainingSymbol: "no.such.Symbol" });
    assert.equal(missing.errorResponse!.errorCode, grpc.status.NOT_FOUND);
  });

  it("serves descriptors a strict descriptor pool accepts: every service, and every type a status detail can hold", function () {
    const probe = spawnSync(PYTHON, ["-c", "import google.protobuf.descriptor_pool"], { encoding: "utf8" });
    if (probe.status !== 0) this.skip(); // no protobuf for ${PYTHON}: set PYTHON to one with it (Debian: python3-protobuf)
    return (async () => {
      const services = (await reflect(ts!.address, { listServices: "*" })).listServicesResponse!.service.map((s) => s.name);
      const files = new Map<string, Uint8Array>();
      for (const symbol of [...services, ...STATUS_DETAIL_TYPES]) {
        const answer = await reflect(ts!.address, { fileContainingSymbol: symbol });
        assert.ok(answer.fileDescriptorResponse, `${symbol}: ${JSON.stringify(answer.errorResponse)}`);
        for (const bytes of answer.fileDescriptorResponse.fileDescriptorProto) files.set(fromBinary(FileDescriptorProtoSchema, bytes).name, bytes);
      }
      assert.ok(files.has("grpc/health/v1/health.proto"), [...files.keys()].join(", "));
      const problems = strictPoolProblems(files.values(), [...services.map((s) => `service:${s}`), ...STATUS_DETAIL_TYPES.map((t) => `message:${t}`), "message:grpc.health.v1.HealthListResponse", "enum:grpc.health.v1.HealthCheckResponse.ServingStatus"]);
      assert.deepEqual(problems, []);
    })();
  });

  it("the strict pool check fails on the map entry @grpc/proto-loader makes of the health service (what it guards against)", function () {
    const probe = spawnSync(PYTHON, ["-c", "import google.protobuf.descriptor_pool"], { encoding: "utf8" });
    if (probe.status !== 0) this.skip();
    const loaderMade = (healthDefinition.Check as unknown as { requestType: { fileDescriptorProtos: Buffer[] } }).requestType.fileDescriptorProtos;
    const problems = strictPoolProblems(loaderMade, ["service:grpc.health.v1.Health"]);
    assert.ok(problems.some((p) => /map_entry should not be set explicitly/.test(p)), problems.join("\n"));
    // The standard one builds, and resolves as a protobuf-es registry too.
    assert.deepEqual(strictPoolProblems([toBinary(FileDescriptorProtoSchema, HEALTH_FILE)], ["service:grpc.health.v1.Health", "message:grpc.health.v1.HealthListResponse.StatusesEntry"]), []);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [HEALTH_FILE] }));
    assert.equal(registry.getService("grpc.health.v1.Health")?.methods.map((m) => m.name).join(","), "Check,Watch,List");
    assert.equal(registry.getMessage("grpc.health.v1.HealthListResponse")?.fields[0].fieldKind, "map");
  });

  it("builds a FileDescriptorSet (for grpcurl -protoset) with every file the services need, dependencies first", () => {
    const set = fromBinary(FileDescriptorSetSchema, fileDescriptorSet([LearningLogService, TrustService]));
    const names = set.file.map((f) => f.name);
    // error_details (batch errors' field violations) brings duration (RetryInfo's delay).
    assert.deepEqual(
      new Set(names),
      new Set(["google/protobuf/struct.proto", "google/protobuf/duration.proto", "google/rpc/error_details.proto", "pulse/trust/v1/trust.proto", "pulse/learninglog/v1/learning_log.proto"]),
    );
    for (const [i, f] of set.file.entries()) for (const dep of f.dependency) assert.ok(names.indexOf(dep) < i, `${dep} before ${f.name}`);
  });
});
