/**
 * Peak RSS of the server with many IngestEvents streams open on a slow disk:
 * the real server runs under strace, which delays every write of the log file
 * (pwrite64) by `writeDelayMs`; `streams` clients send seed-mix batches as fast
 * as the server takes them for `seconds`; the server's peak RSS (VmHWM) is read
 * at the end. Run: `npx tsx bench/many-streams-rss.ts [streams] [seconds] [batchEvents]`
 * (root, strace installed; SERVER_NODE_OPTIONS, e.g. --max-old-space-size=300,
 * goes to the server's node). test/faults/many-streams-memory.test.ts asserts
 * the bound with it.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { spawnServer } from "../test/helpers/child-server.js";
import { prebuiltBatches } from "./drivers/fixtures.js";
import { readMemory } from "./rss.js";

/** Options of {@link runManyStreams}. */
export interface ManyStreamsOptions {
  /** IngestEvents streams held open at once. Default 500. */
  streams?: number;
  /** Events per batch. Default 200. */
  batchEvents?: number;
  /** How long the streams send, in seconds. Default 10. */
  seconds?: number;
  /** Delay added to every write of the log file, in ms. Default 200. */
  writeDelayMs?: number;
  /** The server's --queue-bytes-max. Default 1,000,000 (as in the measurement). */
  queueBytesMax?: number;
  /** Extra flags for the server's node (e.g. a heap limit), through NODE_OPTIONS. Default none. */
  serverNodeOptions?: string;
  /** Streams per client connection. Default 50. */
  streamsPerConnection?: number;
}

/** What a run measured. */
export interface ManyStreamsResult {
  streams: number;
  /** The server's peak resident set size (VmHWM), in bytes. */
  peakRssBytes: number;
  /** Batches answered over all streams. */
  answered: number;
  /** Streams that ended with an error (none expected). */
  failedStreams: number;
  /** Batches the clients handed to their streams (written, or buffered by the client's HTTP/2 stream). */
  sent: number;
}

/** The node process under the strace wrapper: strace's only child. */
function serverPid(wrapperPid: number): number {
  const children = readFileSync(`/proc/${wrapperPid}/task/${wrapperPid}/children`, "utf8").trim().split(/\s+/).map(Number);
  if (children.length !== 1 || !Number.isInteger(children[0])) throw new Error(`expected one child of strace, found: ${children.join(" ")}`);
  return children[0];
}

/** Runs the scenario once; see the file's comment. */
export async function runManyStreams(options: ManyStreamsOptions = {}): Promise<ManyStreamsResult> {
  const streams = options.streams ?? 500;
  const perConnection = options.streamsPerConnection ?? 50;
  const dir = await mkdtemp(join(tmpdir(), "pulse-many-streams-"));
  const logPath = join(dir, "log", "pulse_learning_log.jsonl");
  const delayUs = (options.writeDelayMs ?? 200) * 1000;
  const server = await spawnServer({
    logPath,
    flags: ["--queue-bytes-max", String(options.queueBytesMax ?? 1_000_000)],
    env: options.serverNodeOptions === undefined ? undefined : { NODE_OPTIONS: options.serverNodeOptions },
    wrapper: ["strace", "-f", "--seccomp-bpf", "-o", "/dev/null", "-P", logPath, "-e", "trace=pwrite64", "-e", `inject=pwrite64:delay_exit=${delayUs}`],
  });
  const clients = Array.from({ length: Math.ceil(streams / perConnection) }, (_, i) => createClient(LearningLogService, server.address, undefined, { "pulse.bench.connection": i }));
  const batches = prebuiltBatches("seed", options.batchEvents ?? 200);
  let answered = 0;
  let failedStreams = 0;
  let sent = 0;
  const until = performance.now() + (options.seconds ?? 10) * 1000;
  try {
    const pid = serverPid(server.pid);
    await Promise.all(
      Array.from({ length: streams }, async (_, s) => {
        const call = clients[Math.floor(s / perConnection)].ingestEvents();
        const reading = (async () => {
          for await (const _answer of call.responses) answered++;
        })();
        try {
          for (let b = 0; performance.now() < until; b++) {
            await call.send(batches[b % batches.length]);
            sent++;
          }
          call.close();
          await reading;
        } catch {
          failedStreams++;
          call.cancel();
          await reading.catch(() => undefined);
        }
      }),
    );
    const memory = readMemory(pid);
    if (memory === undefined) throw new Error(`the server is gone; its output:\n${server.output()}`);
    return { streams, peakRssBytes: memory.peakBytes, answered, failedStreams, sent };
  } finally {
    for (const c of clients) c.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [streams, seconds, batchEvents] = process.argv.slice(2).map(Number);
  const result = await runManyStreams({ streams: streams || undefined, seconds: seconds || undefined, batchEvents: batchEvents || undefined, serverNodeOptions: process.env.SERVER_NODE_OPTIONS });
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMiB: Math.round(result.peakRssBytes / 2 ** 20) })}\n`);
}
