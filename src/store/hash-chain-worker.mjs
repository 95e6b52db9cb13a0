// @ts-check
/**
 * The hash chain's worker thread (driven by ChainSealer in hash-chain.ts):
 * seals large commits off the main thread. Plain JavaScript, so the thread
 * starts without the TypeScript loader.
 *
 * In:  { input, offset, length, output, tip }: prefixes on the SharedArrayBuffer
 *      `input`, where to write the lines (SharedArrayBuffer `output`), and the
 *      hash of the record before them.
 * Out: what seal() returns ({ output, length, tip }), or { error } when sealing failed.
 */
import { parentPort } from "node:worker_threads";
import { seal } from "./hash-chain-seal.mjs";

const port = parentPort;
if (port === null) throw new Error("hash-chain-worker.mjs runs as a worker thread");
port.on("message", (/** @type {{ input: SharedArrayBuffer, offset: number, length: number, output: SharedArrayBuffer, tip: string }} */ m) => {
  try {
    port.postMessage(seal(Buffer.from(m.input, m.offset, m.length), m.output, m.tip));
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
