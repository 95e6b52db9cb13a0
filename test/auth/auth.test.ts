import assert from "node:assert/strict";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { LogsService } from "../../gen/ts/opentelemetry/proto/collector/logs/v1/logs_service_pb.js";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { roleTable } from "../../src/auth/roles.js";
import { ConfigError, resolveConfig } from "../../src/config.js";
import { bearerCredentials, createClient } from "../../src/rpc/client.js";
import { PulseServer } from "../../src/server.js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { makeCertificates } from "../helpers/certificates.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const TOKENS = {
  writer: "writer-token-0123456789abcdef",
  reader: "reader-token-0123456789abcdef",
  admin: "admin-token-0123456789abcdefgh",
};
/** A trainer's token: it logs events and reads trust with one token. */
const TRAINER = { name: "trainer-7", roles: ["writer", "reader"], token: "trainer-token-0123456789abcdef" };

describe("TLS, mutual TLS and bearer tokens", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let server: PulseServer;
  let address: string;
  let ca: Buffer;
  let clientKey: Buffer;
  let clientCert: Buffer;

  before(async () => {
    dir = await tempDir();
    makeCertificates(dir.path);
    const tokensPath = join(dir.path, "tokens.json");
    await writeFile(tokensPath, JSON.stringify([...Object.entries(TOKENS).map(([role, token]) => ({ name: `${role}-1`, role, token })), TRAINER]));
    await chmod(tokensPath, 0o600);
    const config = resolveConfig(
      [
        "--addr", "127.0.0.1:0",
        "--log-path", join(dir.path, "log", "pulse_learning_log.jsonl"),
        "--tls-cert", join(dir.path, "server.pem"),
        "--tls-key", join(dir.path, "server.key"),
        "--tls-client-ca", join(dir.path, "ca.pem"),
        "--tokens-file", tokensPath,
      ],
      {},
    );
    server = await PulseServer.start(config, { logger: pino({ level: "silent" }) });
    address = `127.0.0.1:${server.port}`;
    [ca, clientKey, clientCert] = await Promise.all(["ca.pem", "client.key", "client.pem"].map((f) => readFile(join(dir.path, f))));
  });
  after(async () => {
    await server.shutdown();
    await dir.remove();
  });

  // Verify the server certificate by name (an IP as TLS server name is deprecated).
  const byName: grpc.ChannelOptions = { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" };
  const tls = () => grpc.credentials.createSsl(ca, clientKey, clientCert);
  const clientWith = (token?: string) => createClient(LearningLogService, address, token ? bearerCredentials(token, tls()) : tls(), byName);
  const trustWith = (token: string) => createClient(TrustService, address, bearerCredentials(token, tls()), byName);
  const codeOf = async (p: Promise<unknown>) => p.then(() => grpc.status.OK, (err: { code: number }) => err.code);

  it("lets a writer log events", async () => {
    const c = clientWith(TOKENS.writer);
    const { ack } = await c.logRevisionTrigger({ reason: "with token" });
    assert.equal(ack?.seq, 1n);
    c.close();
  });

  it("answers UNAUTHENTICATED without a token or with a wrong one", async () => {
    const none = clientWith();
    assert.equal(await codeOf(none.logRevisionTrigger({ reason: "x" })), grpc.status.UNAUTHENTICATED);
    none.close();
    const wrong = clientWith(TOKENS.writer.replace("w", "W"));
    assert.equal(await codeOf(wrong.logRevisionTrigger({ reason: "x" })), grpc.status.UNAUTHENTICATED);
    wrong.close();
  });

  it("answers PERMISSION_DENIED for a role that may not call the method", async () => {
    const reader = clientWith(TOKENS.reader);
    assert.equal(await codeOf(reader.logRevisionTrigger({ reason: "x" })), grpc.status.PERMISSION_DENIED);
    assert.equal(await codeOf(reader.exportTrustData({ filepath: "x.json" })), grpc.status.PERMISSION_DENIED);
    reader.close();
    const writer = clientWith(TOKENS.writer);
    assert.equal(await codeOf(writer.importTrustData({ filepath: "x.json" })), grpc.status.PERMISSION_DENIED);
    const replay = async () => {
      for await (const _ of writer.readEvents({})) break;
    };
    assert.equal(await codeOf(replay()), grpc.status.PERMISSION_DENIED);
    writer.close();
    const trustWriter = trustWith(TOKENS.writer);
    assert.equal(await codeOf(trustWriter.applyDecay({ factor: 0.5 })), grpc.status.PERMISSION_DENIED);
    trustWriter.close();
  });

  it("lets a reader read and an admin do everything", async () => {
    const reader = clientWith(TOKENS.reader);
    const read = async () => {
      for await (const _ of reader.readEvents({ limit: 1n })) break;
    };
    assert.equal(await codeOf(read()), grpc.status.OK);
    reader.close();
    const admin = clientWith(TOKENS.admin);
    assert.equal(await codeOf(admin.logRevisionTrigger({ reason: "admin" })), grpc.status.OK);
    admin.close();
  });

  it("lets a token with several roles do what each of them may, and no more", async () => {
    const trainer = clientWith(TRAINER.token);
    const { ack } = await trainer.logRevisionTrigger({ reason: "trainer writes" });
    assert.ok(ack !== undefined && ack.seq > 0n);
    const read = async () => {
      for await (const _ of trainer.readEvents({ limit: 1n })) break;
    };
    assert.equal(await codeOf(read()), grpc.status.OK);
    const trust = trustWith(TRAINER.token);
    await trust.update({ outcome: { key: "rule_multi", success: true } });
    const { metrics } = await trust.getMetrics({ keys: ["rule_multi"] });
    assert.equal(metrics[0]?.trust, 2 / 3);
    // Neither role covers admin methods.
    assert.equal(await codeOf(trust.applyDecay({ factor: 0.5 })), grpc.status.PERMISSION_DENIED);
    const denied = await trainer.importTrustData({ filepath: "x.json" }).then(
      () => assert.fail("an import is an admin call"),
      (err: grpc.ServiceError) => err,
    );
    assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
    assert.match(denied.details, /roles writer, reader may not call .*ImportTrustData \(needs admin\)/);
    trust.close();
    trainer.close();
  });

  it("refuses a client without a certificate (mutual TLS)", async () => {
    const c = createClient(LearningLogService, address, bearerCredentials(TOKENS.writer, grpc.credentials.createSsl(ca)), byName);
    assert.equal(await codeOf(c.logRevisionTrigger({ reason: "no cert" }, { deadline: 5000 })), grpc.status.UNAVAILABLE);
    c.close();
  });

  it("never writes a token to the server log", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "trace" }, { write: (l: string) => lines.push(l) });
    const tokensPath = join(dir.path, "tokens.json");
    const config = resolveConfig(["--addr", "127.0.0.1:0", "--log-path", join(dir.path, "log2", "l.jsonl"), "--tls-cert", join(dir.path, "server.pem"), "--tls-key", join(dir.path, "server.key"), "--tokens-file", tokensPath], {});
    const s = await PulseServer.start(config, { logger });
    const c = createClient(LearningLogService, `127.0.0.1:${s.port}`, bearerCredentials(TOKENS.reader, grpc.credentials.createSsl(ca)), byName);
    assert.equal(await codeOf(c.logRevisionTrigger({ reason: "x" })), grpc.status.PERMISSION_DENIED);
    c.close();
    await s.shutdown();
    const text = lines.join("");
    assert.match(text, /call refused/);
    for (const token of Object.values(TOKENS)) assert.ok(!text.includes(token), "a token appeared in the server log");
  });

  it("reaches a remote trust tracker that requires TLS and a token", async () => {
    const tokenFile = join(dir.path, "tracker-token");
    await writeFile(tokenFile, TOKENS.admin + "\n", { mode: 0o600 });
    const frontConfig = resolveConfig(
      ["--addr", "127.0.0.1:0", "--log-path", join(dir.path, "front", "l.jsonl"), "--trust-tracker", `localhost:${server.port}`, "--trust-tracker-ca", join(dir.path, "ca.pem"), "--trust-tracker-token-file", tokenFile],
      {},
    );
    // The tracker above requires client certificates too; use a tracker without mutual TLS here.
    const trackerConfig = resolveConfig(["--addr", "127.0.0.1:0", "--log-path", join(dir.path, "tracker", "l.jsonl"), "--tls-cert", join(dir.path, "server.pem"), "--tls-key", join(dir.path, "server.key"), "--tokens-file", join(dir.path, "tokens.json")], {});
    const tracker = await PulseServer.start(trackerConfig, { logger: pino({ level: "silent" }) });
    const front = await PulseServer.start({ ...frontConfig, trustTracker: `localhost:${tracker.port}` }, { logger: pino({ level: "silent" }) });
    const c = createClient(LearningLogService, `127.0.0.1:${front.port}`);
    const { metrics } = await c.logBayesianTrustMetrics({ key: "rule_tls" });
    assert.equal(metrics?.trust, 0.5);
    c.close();
    await front.shutdown();
    await tracker.shutdown();
  });

  it("refuses to listen beyond loopback without TLS and tokens unless --insecure", () => {
    assert.throws(() => resolveConfig(["--addr", "0.0.0.0:50051"], {}), ConfigError);
    assert.throws(() => resolveConfig(["--addr", "0.0.0.0:50051", "--tokens-file", "t.json"], {}), /without TLS and tokens/);
    assert.equal(resolveConfig(["--addr", "0.0.0.0:50051", "--insecure"], {}).address, "0.0.0.0:50051");
    assert.equal(resolveConfig(["--addr", "0.0.0.0:50051", "--tls-cert", "c", "--tls-key", "k", "--tokens-file", "t"], {}).address, "0.0.0.0:50051");
  });

  it("gives every method of every service a role", () => {
    const table = roleTable([LearningLogService, TrustService]);
    assert.ok(table.length >= LearningLogService.methods.length + TrustService.methods.length);
    for (const { path, role } of table) assert.ok(["writer", "reader", "admin"].includes(role), `${path} has role ${role}`);
    assert.equal(table.find((r) => r.path.endsWith("/ReadEvents"))?.role, "reader");
    assert.equal(table.find((r) => r.path.endsWith("/LogEvent"))?.role, "writer");
    assert.equal(table.find((r) => r.path.endsWith("/ImportTrust"))?.role, "admin");
    assert.deepEqual(roleTable([LogsService]), [{ path: "/opentelemetry.proto.collector.logs.v1.LogsService/Export", role: "writer" }]);
  });
});
