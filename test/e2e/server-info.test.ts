import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { BatchWriter, DEFAULT_SERVER_LIMITS } from "../../clients/ts/src/index.js";
import { Connection } from "../../clients/ts/src/connection.js";
import { createClient } from "../../src/rpc/client.js";
import { repoRoot, spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";

/** Limits unlike the defaults, so that a client that assumed the defaults would be refused. */
const LIMITS = { messageBytesMax: 64 * 1024, batchEventsMax: 50, recordBytesMax: 16 * 1024 };
const FLAGS = ["--message-bytes-max", String(LIMITS.messageBytesMax), "--batch-events-max", String(LIMITS.batchEventsMax), "--record-bytes-max", String(LIMITS.recordBytesMax)];

/** A Python BatchWriter (default batch_events_max 1,000) logging 230 events at once, then its batch sizes and stats as JSON. */
const PYTHON_WRITER = `
import json, sys
from pulse_learning_log import BatchWriter
from pulse_learning_log.connection import Connection
sizes = []
with BatchWriter(sys.argv[1], on_batch_acked=lambda ack: sizes.append(ack.size)) as writer:
    for i in range(230):
        writer.log_variable_weight_change("w%d" % (i % 5), i, i + 1)
    writer.flush()
    stats = writer.stats()
print(json.dumps({"sizes": sizes, "written": stats["written"], "limits": list(Connection(sys.argv[2]).server_limits() or [])}))
`;

async function python(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(PYTHON, ["-c", PYTHON_WRITER, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", PYTHONPATH: `${join(repoRoot, "gen/python")}:${join(repoRoot, "clients/python")}`, PULSE_LEARNING_LOG_EXIT_ON_LOSS: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

/** A gRPC server with no services: every method is UNIMPLEMENTED, as GetServerInfo is on a server older than it. */
async function serverWithoutTheMethod(): Promise<{ address: string; stop: () => void }> {
  const server = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

describe("GetServerInfo: the server tells clients its limits and they size their batches to them", function () {
  this.timeout(120_000);
  let dir: TempDir;
  let server: ChildServer;
  let older: { address: string; stop: () => void };
  before(async () => {
    dir = await tempDir();
    server = await spawnServer({ logPath: join(dir.path, "log.jsonl"), flags: FLAGS });
    older = await serverWithoutTheMethod();
  });
  after(async () => {
    older?.stop();
    await server?.stop();
    await dir?.remove();
  });

  it("answers the limits the server was started with", async () => {
    const client = createClient(LearningLogService, server.address);
    try {
      const info = await client.getServerInfo({});
      assert.deepEqual(
        { messageBytesMax: info.messageBytesMax, batchEventsMax: info.batchEventsMax, recordBytesMax: info.recordBytesMax },
        { messageBytesMax: BigInt(LIMITS.messageBytesMax), batchEventsMax: LIMITS.batchEventsMax, recordBytesMax: BigInt(LIMITS.recordBytesMax) },
      );
    } finally {
      client.close();
    }
  });

  it("TypeScript: a connection asks once, and falls back to the defaults against a server without the method", async () => {
    const connection = new Connection({ address: server.address });
    const fallback = new Connection({ address: older.address });
    try {
      const first = connection.serverLimits();
      assert.equal(connection.serverLimits(), first, "one question per connection");
      assert.deepEqual(await first, LIMITS);
      assert.deepEqual(await fallback.serverLimits(), DEFAULT_SERVER_LIMITS);
    } finally {
      connection.close();
      fallback.close();
    }
  });

  it("TypeScript: a BatchWriter cuts batches at the server's limit, not at its own larger default", async () => {
    const sizes: number[] = [];
    const writer = new BatchWriter({ address: server.address, onBatchAcked: (ack) => sizes.push(ack.size) });
    const logged = Array.from({ length: 230 }, (_, i) => writer.logVariableWeightChange(`w${i % 5}`, i, i + 1));
    await writer.close();
    await Promise.all(logged);
    assert.equal(writer.stats().written, 230);
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      230,
    );
    assert.ok(Math.max(...sizes) <= LIMITS.batchEventsMax, `batch sizes ${sizes.join(",")}`);
  });

  it("Python: a BatchWriter cuts batches at the server's limit; a connection to a server without the method keeps the defaults", async () => {
    const res = await python(server.address, older.address);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { sizes: number[]; written: number; limits: number[] };
    assert.equal(out.written, 230, res.stderr);
    assert.ok(Math.max(...out.sizes) <= LIMITS.batchEventsMax, `batch sizes ${out.sizes.join(",")}`);
    assert.deepEqual(out.limits, [DEFAULT_SERVER_LIMITS.messageBytesMax, DEFAULT_SERVER_LIMITS.batchEventsMax, DEFAULT_SERVER_LIMITS.recordBytesMax]);
  });
});
