import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { stat } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/ts/google/rpc/status_pb.js";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { resolveConfig } from "../../src/config.js";
import { healthDefinition } from "../../src/ops/health.js";
import { StartGate } from "../../src/ops/start-gate.js";
import { createClient } from "../../src/rpc/client.js";
import { STATUS_DETAILS_KEY } from "../../src/rpc/status-details.js";
import { PulseServer, type ServerSeams } from "../../src/server.js";
import type { LogStore, StoreDeps } from "../../src/store/store.js";
import { openStore } from "../../src/store/open-store.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { startNats, type NatsCluster } from "../store/jetstream/nats-servers.js";

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

/** The server log as parsed lines, and a wait for the first line that matches. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n")) {
        if (text === "") continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        for (const w of waiters.splice(0)) {
          if (w.match(line)) w.resolve(line);
          else waiters.push(w);
        }
      }
      done();
    },
  });
  return {
    logger: pino({ level: "info" }, sink),
    lines,
    waitFor(match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

/** A store opener that waits for `release()` before opening the real store, and notes the phases the open tells. */
function heldOpener() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const phases: string[] = [];
  const open = async (config: Parameters<typeof openStore>[0], deps: StoreDeps): Promise<LogStore> => {
    await released;
    return openStore(config, { ...deps, onOpening: (doing) => (phases.push(doing), deps.onOpening?.(doing)) });
  };
  return { open, release, phases };
}

/** The google.rpc.RetryInfo delay (ms) in a status's trailers; undefined when there is none. */
function retryDelayMs(err: grpc.ServiceError): number | undefined {
  const [bytes] = err.metadata.get(STATUS_DETAILS_KEY);
  if (!(bytes instanceof Buffer)) return undefined;
  const info = fromBinary(StatusSchema, bytes).details.map((d) => anyUnpack(d, RetryInfoSchema)).find((r) => r !== undefined);
  return info === undefined ? undefined : Number(info.retryDelay?.seconds ?? 0n) * 1000 + (info.retryDelay?.nanos ?? 0) / 1e6;
}

/** True when a TCP listener can bind 127.0.0.1:port now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ host: "127.0.0.1", port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** Starts a server whose store open is held; resolves once it is bound (its "bound" line), with its port. */
async function startHeld(dir: string, flags: string[], seams: Partial<ServerSeams> = {}) {
  const log = capturedLogger();
  const held = heldOpener();
  const config = resolveConfig(["--addr", "127.0.0.1:0", "--log-path", join(dir, "pulse_learning_log.jsonl"), ...flags], {});
  const starting = PulseServer.start(config, { logger: log.logger, openStore: held.open, ...seams });
  // A start that fails before its bind would leave the wait below hanging: fail with it instead.
  const bound = await Promise.race([log.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("bound")), starting.then(() => assert.fail("started without holding"))]);
  return { log, held, starting, port: Number(bound.port), address: `127.0.0.1:${Number(bound.port)}` };
}

describe("Start-up: bound at once, NOT_SERVING and UNAVAILABLE until the log is open", function () {
  this.timeout(60_000);
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("while the store open is held: health NOT_SERVING for every service, every kind of RPC UNAVAILABLE saying the server is starting; then SERVING and the RPC works", async () => {
    const { held, starting, address, log } = await startHeld(dir.path, []);
    const health = healthClient(address);
    const client = createClient(LearningLogService, address);
    const trust = createClient(TrustService, address);
    let server: PulseServer | undefined;
    try {
      for (const service of ["", LearningLogService.typeName, TrustService.typeName, "opentelemetry.proto.collector.logs.v1.LogsService"]) {
        assert.equal(await check(health, service), "NOT_SERVING", `health of "${service}" while starting`);
      }
      const watch = health.watch({ service: "" });
      const statuses: string[] = [];
      const servingSeen = new Promise<void>((resolve, reject) => {
        watch.on("data", (m: { status: string }) => {
          statuses.push(m.status);
          if (m.status === "SERVING") resolve();
        });
        watch.on("error", reject);
      });

      const starting_ = (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAVAILABLE);
        assert.match(err.details, /^the server is starting \(opening the log\)/);
        assert.equal(retryDelayMs(err), 1000, "RetryInfo, as every UNAVAILABLE");
        return true;
      };
      // Unary, server streaming, client streaming, bidi streaming, and another service.
      await assert.rejects(client.logEvent({ eventType: "early", data: { a: 1 } }), starting_);
      await assert.rejects(
        (async () => {
          for await (const m of client.readEvents({})) void m;
        })(),
        starting_,
      );
      await assert.rejects(client.streamEvents([{ events: [{ event: { case: "revisionTrigger", value: { reason: "early" } } }] }]), starting_);
      const stream = client.ingestEvents();
      await assert.rejects(
        (async () => {
          for await (const m of stream.responses) void m;
        })(),
        starting_,
      );
      await assert.rejects(trust.getMetrics({ keys: ["k"] }), starting_);
      // Nothing was opened meanwhile: no log file yet, and no "listening" line.
      await assert.rejects(stat(join(dir.path, "pulse_learning_log.jsonl")), { code: "ENOENT" });
      assert.equal(log.lines.some((l) => l.msg === "listening"), false);

      held.release();
      server = await starting;
      await servingSeen;
      assert.deepEqual(statuses, ["NOT_SERVING", "SERVING"]);
      watch.cancel();
      assert.equal(await check(health, ""), "SERVING");
      const ack = (await client.logEvent({ eventType: "after_start", data: { a: 2 } })).ack!;
      assert.equal(ack.seq, 1n);
      assert.ok(log.lines.some((l) => l.msg === "listening" && l.port === server!.port));
    } finally {
      health.close();
      client.close();
      trust.close();
      held.release();
      await (server ?? (await starting.catch(() => undefined)))?.shutdown();
    }
  });

  it("a store open that fails after the bind: the start fails with its error, and the port is free again", async () => {
    const log = capturedLogger();
    const config = resolveConfig(["--addr", "127.0.0.1:0", "--log-path", join(dir.path, "pulse_learning_log.jsonl")], {});
    const broken = new Error("the store cannot be opened");
    let fail!: () => void;
    const failing = new Promise<never>((_, reject) => (fail = () => reject(broken)));
    const starting = PulseServer.start(config, { logger: log.logger, openStore: () => failing });
    const bound = await log.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("bound"));
    const port = Number(bound.port);
    assert.equal(await canListen(port), false, "bound while the store opens");
    fail();
    await assert.rejects(starting, (err) => err === broken);
    assert.equal(await canListen(port), true, "the port is free after the failed start");
  });

  it("the refusal names what the start does at that moment", () => {
    const gate = new StartGate("opening the log");
    assert.match(gate.error.message, /opening the log/);
    gate.starting("rebuilding the dedup window of JetStream stream S from its last 100,000 records, and its tail");
    assert.equal(gate.error.code, grpc.status.UNAVAILABLE);
    assert.match(gate.error.message, /^the server is starting \(rebuilding the dedup window of JetStream stream S/);
  });

  const natsInstalled = spawnSync("nats-server", ["--version"]).status === 0;
  (natsInstalled ? describe : describe.skip)("on a real JetStream store (nats-server installed)", () => {
    let natsDir: TempDir;
    let nats: NatsCluster;
    before(async () => {
      natsDir = await tempDir("pulse-nats-");
      nats = await startNats(natsDir.path, 1);
    });
    after(async () => {
      await nats?.stop();
      await natsDir?.remove();
    });

    it("the health watch goes NOT_SERVING -> SERVING around the stream's open, which tells its rebuild; the records written before are there after", async () => {
      const flags = ["--store", nats.storeUrl, "--nats-stream", "START_GATE", "--nats-subject", "start-gate.events"];
      // A first front end writes records, so that the second's open has a dedup window to rebuild.
      const firstDir = await tempDir();
      const first = await startHeld(firstDir.path, flags);
      first.held.release();
      const firstServer = await first.starting;
      const firstClient = createClient(LearningLogService, first.address);
      try {
        for (let i = 0; i < 5; i++) await firstClient.logEvent({ eventType: "before", data: { i }, eventId: `00000000-0000-4000-8000-00000000000${i}` });
      } finally {
        firstClient.close();
        await firstServer.shutdown();
        await firstDir.remove();
      }

      const { held, starting, address, log } = await startHeld(dir.path, flags);
      const health = healthClient(address);
      const client = createClient(LearningLogService, address);
      let server: PulseServer | undefined;
      try {
        const statuses: string[] = [];
        const watch = health.watch({ service: LearningLogService.typeName });
        const servingSeen = new Promise<void>((resolve, reject) => {
          watch.on("data", (m: { status: string }) => {
            statuses.push(m.status);
            if (m.status === "SERVING") resolve();
          });
          watch.on("error", reject);
        });
        await new Promise<void>((resolve) => watch.once("data", () => resolve()));
        assert.deepEqual(statuses, ["NOT_SERVING"]);
        await assert.rejects(client.logEvent({ eventType: "early" }), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE && /^the server is starting/.test(err.details));

        held.release();
        server = await starting;
        await servingSeen;
        watch.cancel();
        assert.deepEqual(statuses, ["NOT_SERVING", "SERVING"]);
        assert.ok(held.phases.some((p) => p.startsWith("rebuilding the dedup window of JetStream stream START_GATE")), `phases told: ${held.phases.join("; ")}`);
        // The rebuild is logged at info with its duration and the records it read.
        const opened = log.lines.find((l) => l.msg === "JetStream log opened");
        assert.equal(opened?.windowRecords, 5);
        assert.equal(typeof opened?.rebuildMs, "number");
        // The window was rebuilt: a retry of an event written before is answered with its first seq.
        const again = (await client.logEvent({ eventType: "before", data: { i: 2 }, eventId: "00000000-0000-4000-8000-000000000002" })).ack!;
        assert.equal(again.seq, 3n);
        assert.equal((await client.logEvent({ eventType: "after" })).ack!.seq, 6n);
      } finally {
        health.close();
        client.close();
        held.release();
        await (server ?? (await starting.catch(() => undefined)))?.shutdown();
      }
    });
  });
});
