import assert from "node:assert/strict";
import { chmod, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { resolveConfig } from "../../src/config.js";
import { createClient } from "../../src/rpc/client.js";
import { PulseServer } from "../../src/server.js";
import { spawnServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const OLD = { name: "old-writer", role: "writer", token: "old-writer-token-0123456789" };
const KEPT = { name: "kept-writer", role: "writer", token: "kept-writer-token-0123456789" };
const NEW = { name: "new-writer", role: "writer", token: "new-writer-token-0123456789" };

/** Writes the tokens file as a deploy does: a complete temporary file renamed over it. */
async function writeTokens(path: string, entries: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, typeof entries === "string" ? entries : JSON.stringify(entries), { mode: 0o600 });
  await chmod(`${path}.tmp`, 0o600);
  await rename(`${path}.tmp`, path);
}

const auth = (token: string) => {
  const m = new grpc.Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
};
const codeOf = (p: Promise<unknown>) => p.then(() => grpc.status.OK, (err: { code: number }) => err.code);
const batch = (id: number) => ({ batchId: BigInt(id), events: [{ event: { case: "revisionTrigger" as const, value: { reason: `b${id}` } } }] });

/** Server log lines, kept in memory. */
function memoryLogger() {
  const lines: Array<{ msg: string; level: number } & Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l !== "") lines.push(JSON.parse(l) as (typeof lines)[number]);
      for (const w of waiters) w();
      done();
    },
  });
  const waitFor = (match: (l: (typeof lines)[number]) => boolean) =>
    new Promise<(typeof lines)[number]>((resolve) => {
      const check = () => {
        const found = lines.find(match);
        if (found === undefined) return;
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      check();
    });
  return { logger: pino({ level: "info" }, stream), lines, waitFor };
}

describe("tokens file reload: changes take effect without a restart, revocation at once", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let tokensPath: string;
  let server: PulseServer;
  let address: string;
  let log: ReturnType<typeof memoryLogger>;
  const clients: Array<{ close(): void }> = [];
  const client = () => {
    const c = createClient(LearningLogService, address);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    dir = await tempDir("pulse-token-reload-");
    tokensPath = join(dir.path, "tokens.json");
    await writeTokens(tokensPath, [OLD, KEPT]);
    log = memoryLogger();
    const config = resolveConfig(["--addr", "127.0.0.1:0", "--log-path", join(dir.path, "log", "l.jsonl"), "--tokens-file", tokensPath], {});
    server = await PulseServer.start(config, { logger: log.logger });
    address = `127.0.0.1:${server.port}`;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.shutdown();
    await dir.remove();
  });

  /** Opens an IngestEvents stream with `token` and has one batch answered on it. */
  async function openStream(token: string) {
    const call = client().ingestEvents({ metadata: auth(token) });
    const responses = call.responses[Symbol.asyncIterator]();
    await call.send(batch(1));
    const first = await responses.next();
    assert.equal(first.done, false);
    return { call, responses };
  }

  for (const trigger of ["file change", "SIGHUP"] as const) {
    it(`${trigger}: a removed token's open stream ends UNAUTHENTICATED with nothing more sent, its new calls are refused, an added token works, a kept one goes on`, async () => {
      const revoked = await openStream(OLD.token);
      const kept = await openStream(KEPT.token);
      const c = client();
      assert.equal(await codeOf(c.logRevisionTrigger({ reason: "before" }, { metadata: auth(NEW.token) })), grpc.status.UNAUTHENTICATED);

      await writeTokens(tokensPath, [KEPT, NEW]);
      if (trigger === "SIGHUP") await server.reloadTokens();
      // The open stream ends on its own, without sending anything more on it.
      await assert.rejects(revoked.responses.next(), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAUTHENTICATED);
        assert.match(err.details, /revoked/);
        return true;
      });
      const reload = await log.waitFor((l) => l.msg === "tokens file reloaded");
      assert.equal(reload.tokens, 2);
      assert.ok(!JSON.stringify(log.lines).includes(OLD.token) && !JSON.stringify(log.lines).includes(NEW.token), "no token in the server log");

      assert.equal(await codeOf(c.logRevisionTrigger({ reason: "old" }, { metadata: auth(OLD.token) })), grpc.status.UNAUTHENTICATED);
      assert.equal(await codeOf(c.logRevisionTrigger({ reason: "new" }, { metadata: auth(NEW.token) })), grpc.status.OK);
      // The kept token's stream goes on.
      await kept.call.send(batch(2));
      const second = await kept.responses.next();
      assert.equal(second.done, false);
      kept.call.close();
    });
  }

  it("a tokens file that does not parse keeps the old tokens and says why at error (naming no token)", async () => {
    await writeTokens(tokensPath, `[{"name": "x", "role": "writer", "token": "${NEW.token}"`);
    await server.reloadTokens();
    const failed = await log.waitFor((l) => l.msg.startsWith("tokens file not reloaded"));
    assert.equal(failed.level, 50, "logged at error");
    assert.match(String(failed.reason), /not valid JSON/);
    assert.ok(!JSON.stringify(log.lines).includes(NEW.token));
    const c = client();
    assert.equal(await codeOf(c.logRevisionTrigger({ reason: "still" }, { metadata: auth(OLD.token) })), grpc.status.OK);
    assert.equal(await codeOf(c.logRevisionTrigger({ reason: "not yet" }, { metadata: auth(NEW.token) })), grpc.status.UNAUTHENTICATED);
  });
});

describe("SIGHUP never stops the server", function () {
  this.timeout(90_000);
  let dir: TempDir;
  beforeEach(async () => (dir = await tempDir("pulse-sighup-")));
  afterEach(() => dir.remove());

  it("with a stream open: the server reloads its tokens, the stream of a kept token goes on, and SIGTERM still drains (exit 0)", async () => {
    const tokensPath = join(dir.path, "tokens.json");
    await writeTokens(tokensPath, [OLD, KEPT]);
    const server = await spawnServer({ logPath: join(dir.path, "log", "l.jsonl"), flags: ["--tokens-file", tokensPath] });
    const c = createClient(LearningLogService, server.address);
    try {
      const call = c.ingestEvents({ metadata: auth(KEPT.token) });
      const responses = call.responses[Symbol.asyncIterator]();
      await call.send(batch(1));
      assert.equal((await responses.next()).done, false);
      await writeTokens(tokensPath, [KEPT, NEW]);
      server.kill("SIGHUP");
      await server.waitForLog((l) => l.msg === "tokens file reloaded" && l.trigger === "SIGHUP");
      await call.send(batch(2));
      const second = await responses.next();
      assert.equal(second.done, false, "the stream goes on after SIGHUP");
      assert.equal(await codeOf(c.logRevisionTrigger({ reason: "new" }, { metadata: auth(NEW.token) })), grpc.status.OK);
      call.close();
      for (;;) if ((await responses.next()).done) break;
    } finally {
      c.close();
      assert.equal(await server.stop(), 0, server.output());
    }
    assert.ok(server.logs.some((l) => l.msg === "stopped"), "drained and stopped by SIGTERM");
  });

  it("without a tokens file: SIGHUP is logged and the server serves on", async () => {
    const server = await spawnServer({ logPath: join(dir.path, "log", "l.jsonl") });
    const c = createClient(LearningLogService, server.address);
    try {
      server.kill("SIGHUP");
      await server.waitForLog((l) => l.msg.startsWith("SIGHUP: no tokens file to reload"));
      assert.equal(await codeOf(c.logRevisionTrigger({ reason: "after hup" })), grpc.status.OK);
    } finally {
      c.close();
      assert.equal(await server.stop(), 0, server.output());
    }
  });
});
