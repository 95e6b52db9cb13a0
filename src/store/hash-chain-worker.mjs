// @ts-check
/**
 * The hash chain's worker thread (driven by ChainSealer in hash-chain.ts):
 * seals large commits off the main thread. Plain JavaScript, so the thread
 * starts without the TypeScript loader.
 *
 * In:  { input, length, ends, count, output, tip }: the prefixes (shared
 *      memory), where each ends (shared memory: `count` offsets), where to
 *      write the lines (shared memory), and the hash of the record before them.
 * Out: { output, length, tip }: the lines in `output` (larger shared memory
 *      when it was too small), the last record's hash; or { error } when
 *      sealing failed. Nothing is moved between the threads (a move detaches
 *      memory, which waits for V8's concurrent sweep of array buffers).
 */
import { parentPort } from "node:worker_threads";
import { seal } from "./hash-chain-seal.mjs";

const port = parentPort;
if (port === null) throw new Error("hash-chain-worker.mjs runs as a worker thread");
port.on("message", (/** @type {{ input: SharedArrayBuffer, length: number, ends: SharedArrayBuffer, count: number, output: SharedArrayBuffer, tip: string }} */ m) => {
  try {
    port.postMessage(seal(new Uint8Array(m.input, 0, m.length), new Uint32Array(m.ends, 0, m.count), m.output, m.tip));
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
