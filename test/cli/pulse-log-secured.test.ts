import assert from "node:assert/strict";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { bearerCredentials, createClient } from "../../src/rpc/client.js";
import { makeCertificates } from "../helpers/certificates.js";
import { cli } from "../helpers/cli.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

const WRITER = "writer-token-0123456789abcdef";
const READER = "reader-token-0123456789abcdef";

describe("pulse-log against a server with TLS, mutual TLS and tokens", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let secured: TestServer;
  let plain: TestServer;
  /** The secured server by name: its certificate is for localhost. */
  let address: string;
  /** The secured server's log lines. */
  const serverLog: Array<{ level: number; msg: string; peer?: string }> = [];
  const file = (name: string) => join(dir.path, name);
  const tlsFlags = () => ["--ca", file("ca.pem"), "--cert", file("client.pem"), "--key", file("client.key")];

  before(async () => {
    dir = await tempDir();
    makeCertificates(dir.path);
    await writeFile(file("tokens.json"), JSON.stringify([{ name: "w", role: "writer", token: WRITER }, { name: "r", role: "reader", token: READER }]));
    await writeFile(file("reader.token"), `${READER}\n`);
    await writeFile(file("wrong.token"), "not-a-token-of-this-server\n");
    await chmod(file("tokens.json"), 0o600);
    secured = await startServer(join(dir.path, "secured"), ["--tls-cert", file("server.pem"), "--tls-key", file("server.key"), "--tls-client-ca", file("ca.pem"), "--tokens-file", file("tokens.json")], {
      logger: pino({ level: "debug" }, { write: (l: string) => void serverLog.push(JSON.parse(l) as { level: number; msg: string; peer?: string }) }),
    });
    address = `localhost:${secured.server.port}`;
    plain = await startServer(join(dir.path, "plain"));
    // Two records to read back.
    const [ca, key, cert] = await Promise.all(["ca.pem", "client.key", "client.pem"].map((f) => readFile(file(f))));
    const client = createClient(LearningLogService, address, bearerCredentials(WRITER, grpc.credentials.createSsl(ca, key, cert)));
    await client.logEvent({ eventType: "secured_a", data: { n: 1 } });
    await client.logEvent({ eventType: "secured_b", data: { n: 2 } });
    client.close();
  });
  after(async () => {
    await secured?.stop();
    await plain?.stop();
    await dir?.remove();
  });

  it("reads through TLS, a client certificate and a token from a file or the environment", async () => {
    const replay = await cli(["replay", "--addr", address, ...tlsFlags(), "--token-file", file("reader.token"), "--json"], dir.path);
    assert.equal(replay.code, 0, replay.stderr);
    assert.deepEqual(replay.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { event_type: string }).event_type), ["secured_a", "secured_b"]);
    const fromEnv = await cli(["tail", "-n", "1", "--server", address, ...tlsFlags(), "--json"], dir.path, { PULSE_LEARNING_LOG_TOKEN_FILE: file("reader.token") });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal((JSON.parse(fromEnv.stdout) as { event_type: string }).event_type, "secured_b");
    const stats = await cli(["stats", "--addr", address, ...tlsFlags(), "--token-file", file("reader.token"), "--json"], dir.path);
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal((JSON.parse(stats.stdout) as { records: number }).records, 2);
    const report = await cli(["trust", "report", "--addr", address, ...tlsFlags(), "--token-file", file("reader.token"), "--json"], dir.path);
    assert.equal(report.code, 0, report.stderr);
  });

  it("says in words when the client speaks plaintext to a TLS server, or TLS to a plaintext one", async () => {
    const plaintext = await cli(["tail", "--addr", address], dir.path);
    assert.equal(plaintext.code, 3);
    assert.equal(plaintext.stderr, `pulse-log: server ${address} serves TLS and this call was plaintext: add --ca with the CA that signed its certificate (and --cert/--key if it asks for client certificates)\n`);
    const tlsToPlain = await cli(["tail", "--addr", `localhost:${plain.server.port}`, "--ca", file("ca.pem")], dir.path);
    assert.equal(tlsToPlain.code, 3);
    assert.match(tlsToPlain.stderr, /^pulse-log: TLS handshake with localhost:\d+ failed \(wrong version number\): is the server serving TLS/);
  });

  it("reaches a server by its IP address with no warning (no IP address as the TLS server name: Node's DEP0123)", async () => {
    const byIp = await cli(["tail", "-n", "1", "--addr", `127.0.0.1:${secured.server.port}`, ...tlsFlags(), "--token-file", file("reader.token"), "--json"], dir.path);
    assert.equal(byIp.code, 0, byIp.stderr);
    assert.equal((JSON.parse(byIp.stdout) as { event_type: string }).event_type, "secured_b");
    assert.equal(byIp.stderr, "");
  });

  it("says a client certificate is missing when the server asks for one (mutual TLS)", async () => {
    const noCert = await cli(["tail", "--addr", address, "--ca", file("ca.pem"), "--token-file", file("reader.token")], dir.path);
    assert.equal(noCert.code, 3);
    assert.equal(noCert.stderr, `pulse-log: server ${address} asks for a client certificate (mutual TLS) and this call gave none: add --cert and --key (a certificate signed by the CA the server trusts)\n`);
    // The server's log says so too, at warn, naming the client's address.
    const said = serverLog.filter((l) => l.msg.startsWith("a client connected without a client certificate"));
    assert.ok(said.length >= 1, JSON.stringify(serverLog.filter((l) => l.level >= 40)));
    assert.equal(said[0].level, 40);
    assert.match(said[0].peer!, /^127\.0\.0\.1:\d+$/);
    assert.equal(said[0].msg, "a client connected without a client certificate; this server asks for one (mutual TLS, --tls-client-ca): the client must give --cert and --key (or its SDK's equivalent)");
  });

  it("names a missing or refused token, and missing files", async () => {
    const noToken = await cli(["tail", "--addr", address, ...tlsFlags()], dir.path);
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /asks for a token.*--token-file/);
    const wrong = await cli(["tail", "--addr", address, ...tlsFlags(), "--token-file", file("wrong.token")], dir.path);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /asks for a token/);
    const missing = await cli(["tail", "--addr", address, "--ca", file("nope.pem")], dir.path);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /--ca .*nope\.pem: no such file/);
  });

  it("refuses to send a token in the clear beyond loopback, and half a client certificate", async () => {
    const clear = await cli(["tail", "--addr", "192.0.2.1:50051", "--token-file", file("reader.token")], dir.path);
    assert.equal(clear.code, 2);
    assert.match(clear.stderr, /only sent to 192\.0\.2\.1:50051 over TLS; add --ca/);
    const half = await cli(["tail", "--addr", address, "--ca", file("ca.pem"), "--cert", file("client.pem")], dir.path);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--cert and --key go together/);
    const both = await cli(["tail", "--addr", address, "--server", `localhost:${plain.server.port}`], dir.path);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--addr and --server are the same flag/);
  });
});
