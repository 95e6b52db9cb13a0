// What the BatchWriter costs over a bare IngestEvents stream, in one run.
//
// For each repeat, a fresh server (this repository's, `node --import tsx
// src/main.ts`, run from the repository root) receives N variable weight
// changes twice: from a bare grpc-js IngestEvents call sending batches of
// 1,000 built with protobuf-es, each event with a random UUID as its
// event_id as the writer gives it (8 in flight), the floor; and from a BatchWriter with the
// same batch size and in-flight bound, one awaited log call per event. It
// prints, per run: server CPU per durable event (utime + stime of the server
// from /proc/<pid>/stat), this process's CPU per event, events per second,
// and the writer/bare ratios, with the 1-minute load average.
//
// Run from the repository root (not shipped with the package):
//   node --import tsx clients/ts/bench/writer-overhead.ts [events=200000] [repeats=3]
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { create } from "@bufbuild/protobuf";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { IngestEventsRequestSchema, LearningLogService, type IngestEventsResponse } from "../gen/pulse/learninglog/v1/learning_log_pb.js";
import { BatchWriter } from "../src/batch-writer.js";
import { Connection } from "../src/connection.js";

const EVENTS = Number(process.argv[2] ?? 200_000);
const REPEATS = Number(process.argv[3] ?? 3);
const BATCH = 1_000;
const IN_FLIGHT = 8;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
}

function clientCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function startServer(dir: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--addr", "127.0.0.1:0", "--log-path", join(dir, "log.jsonl")], { stdio: ["ignore", "pipe", "inherit"] });
  for await (const line of createInterface({ input: child.stdout! })) {
    const parsed = JSON.parse(line) as { msg?: string; port?: number };
    if (parsed.msg === "listening") {
      child.stdout!.resume();
      return { child, address: `127.0.0.1:${parsed.port}` };
    }
  }
  throw new Error("the server exited before listening");
}

async function bare(address: string): Promise<void> {
  const connection = new Connection({ address });
  const client = connection.client(LearningLogService) as unknown as { ingestEvents(m: unknown, o: unknown): ClientDuplexStream<unknown, IngestEventsResponse> };
  const call = client.ingestEvents(connection.metadata(), {});
  let answered = 0;
  const done = new Promise<void>((resolve, reject) => {
    call.on("data", () => {
      answered += 1;
      call.emit("answered");
      if (answered * BATCH >= EVENTS) resolve();
    });
    call.on("error", reject);
  });
  for (let b = 0; b * BATCH < EVENTS; b++) {
    while (b - answered >= IN_FLIGHT) await once(call, "answered");
    const events = Array.from({ length: BATCH }, (_, i) => {
      const n = b * BATCH + i;
      return { event: { case: "variableWeightChange" as const, value: { variable: `v${n % 1000}`, oldWeight: n, newWeight: n + 1, eventId: randomUUID() } } };
    });
    if (!call.write(create(IngestEventsRequestSchema, { batchId: BigInt(b + 1), events }))) await once(call, "drain");
  }
  await done;
  call.end();
  connection.close();
}

async function writer(address: string): Promise<void> {
  const w = new BatchWriter({ address, batchEventsMax: BATCH, batchesInFlightMax: IN_FLIGHT });
  for (let n = 0; n < EVENTS; n++) await w.logVariableWeightChange(`v${n % 1000}`, n, n + 1);
  await w.close();
}

interface Figures {
  serverUsPerEvent: number;
  clientUsPerEvent: number;
  eventsPerSecond: number;
}

async function measure(send: (address: string) => Promise<void>): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), "pulse-writer-bench-"));
  const { child, address } = await startServer(dir);
  try {
    const server0 = await cpuSecondsOf(child.pid!);
    const client0 = clientCpuSeconds();
    const t0 = performance.now();
    await send(address);
    const seconds = (performance.now() - t0) / 1000;
    const server = (await cpuSecondsOf(child.pid!)) - server0;
    const client = clientCpuSeconds() - client0;
    return { serverUsPerEvent: (server / EVENTS) * 1e6, clientUsPerEvent: (client / EVENTS) * 1e6, eventsPerSecond: EVENTS / seconds };
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
    await rm(dir, { recursive: true, force: true });
  }
}

const fmt = (f: Figures) => `server ${f.serverUsPerEvent.toFixed(2)} us/event, client ${f.clientUsPerEvent.toFixed(2)} us/event, ${Math.round(f.eventsPerSecond)} events/s`;
console.log(`${EVENTS} weight changes per run, batches of ${BATCH}, ${IN_FLIGHT} in flight, ${REPEATS} repeats`);
const ratios: Array<{ server: number; client: number; rate: number }> = [];
for (let r = 1; r <= REPEATS; r++) {
  const load = loadavg()[0].toFixed(2);
  const b = await measure(bare);
  const w = await measure(writer);
  ratios.push({ server: w.serverUsPerEvent / b.serverUsPerEvent, client: w.clientUsPerEvent / b.clientUsPerEvent, rate: w.eventsPerSecond / b.eventsPerSecond });
  console.log(`run ${r} (load ${load}): bare: ${fmt(b)} | writer: ${fmt(w)}`);
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0].toFixed(2)} / ${s[Math.floor(s.length / 2)].toFixed(2)} / ${s[s.length - 1].toFixed(2)}`;
};
console.log(`writer / bare, min / median / max: server CPU per event ${stats(ratios.map((x) => x.server))}; client CPU per event ${stats(ratios.map((x) => x.client))}; events/s ${stats(ratios.map((x) => x.rate))}`);
