/**
 * What handing batches to a worker thread would cost the main thread, in
 * one process: the ceiling of "decode, validate and encode on a pool of
 * worker threads, the main thread only assigning seqs and acking".
 *
 *   node --import tsx bench/worker-handoff.ts [--seconds 2] [--repeats 3]
 *
 * Each round sends an IngestEvents request of 1,000 seed-mix events (its
 * wire bytes, copied out of the socket's pooled buffer as a real hand-off
 * must) to a worker, which answers with a buffer of the size of the records'
 * bodies (transferred, not copied), and the main thread waits for it: the
 * hand-off alone, the worker doing no decoding. Several rounds are in flight
 * at once, as streams' batches would be. Reported per event: the main
 * thread's CPU (/proc/self/task/<pid>/stat) and the whole process's, beside
 * the request path's cost on one thread (bench/request-path-bench.ts) that a
 * pool would move off the main thread.
 */
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { toBinary } from "@bufbuild/protobuf";
import { IngestEventsRequestSchema } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { cpuSecondsOf, loadAverage1m } from "./cpu.js";
import { prebuiltBatches } from "./drivers/fixtures.js";
import { minMedianMax, textTable } from "./figures.js";

const { values: args } = parseArgs({ options: { seconds: { type: "string", default: "2" }, repeats: { type: "string", default: "3" } } });
const SECONDS = Number(args.seconds);
const REPEATS = Number(args.repeats);
if (!(SECONDS > 0) || !(REPEATS >= 1)) throw new Error("--seconds and --repeats must be positive numbers");
const EVENTS = 1000;
const IN_FLIGHT = 8;
/** Average record body of the seed mix, in bytes (bench/RESULTS.md: lines of 355 B). */
const BODY_BYTES = 280;

const request = Buffer.from(toBinary(IngestEventsRequestSchema, prebuiltBatches("seed", EVENTS, 1)[0]));

// The worker answers each request with a transferred buffer of the bodies' size, touching every byte as an encoder would.
const worker = new Worker(
  `const { parentPort } = require("node:worker_threads");
   parentPort.on("message", (bytes) => {
     const out = new Uint8Array(${EVENTS * BODY_BYTES});
     for (let i = 0; i < out.length; i++) out[i] = bytes[i % bytes.length];
     parentPort.postMessage(out, [out.buffer]);
   });`,
  { eval: true },
);

function roundTrip(): Promise<void> {
  return new Promise((resolve) => {
    worker.once("message", () => resolve());
    // A copy, as a request held in grpc-js's pooled buffer must be copied before it is transferred.
    const copy = new Uint8Array(request);
    worker.postMessage(copy, [copy.buffer]);
  });
}

async function measure(): Promise<{ mainUs: number; processUs: number }> {
  const end = performance.now() + SECONDS * 1000;
  const main0 = cpuSecondsOf(process.pid, process.pid)!;
  const all0 = cpuSecondsOf(process.pid)!;
  let rounds = 0;
  const lane = async () => {
    // One message at a time per lane keeps answers matched to requests (the worker answers in order).
    while (performance.now() < end) {
      await roundTrip();
      rounds++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const events = rounds * EVENTS;
  return { mainUs: ((cpuSecondsOf(process.pid, process.pid)! - main0) * 1e6) / events, processUs: ((cpuSecondsOf(process.pid)! - all0) * 1e6) / events };
}

await measure(); // warm-up
const main: number[] = [];
const all: number[] = [];
for (let r = 1; r <= REPEATS; r++) {
  const m = await measure();
  console.log(`repeat ${r}: main thread ${m.mainUs.toFixed(3)} us/event, process ${m.processUs.toFixed(3)} us/event, load ${loadAverage1m()}`);
  main.push(m.mainUs);
  all.push(m.processUs);
}
await worker.terminate();
console.log(`\nworker hand-off of seed-mix batches of ${EVENTS} (${request.length} request bytes, ${EVENTS * BODY_BYTES} answer bytes), ${IN_FLIGHT} in flight, node ${process.version}`);
console.log(
  textTable([
    ["CPU per event (us)", "min / median / max"],
    ["main thread", minMedianMax(main, 3)],
    ["whole process (main + worker)", minMedianMax(all, 3)],
  ]),
);
