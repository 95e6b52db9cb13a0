// @ts-check
/**
 * The hash chain's worker thread (driven by ChainSealer in hash-chain.ts):
 * seals large commits off the main thread. Plain JavaScript, so the thread
 * starts without the TypeScript loader.
 *
 * In:  { input, length, output, tip }: the prefixes (ArrayBuffer, transferred),
 *      where to write the lines (ArrayBuffer, transferred), and the hash of
 *      the record before them.
 * Out: { input, output, length, tip }: both memories transferred back, the
 *      lines in `output` (a larger one when it was too small), the last
 *      record's hash; or { error } when sealing failed.
 */
import { parentPort } from "node:worker_threads";
import { seal } from "./hash-chain-seal.mjs";

const port = parentPort;
if (port === null) throw new Error("hash-chain-worker.mjs runs as a worker thread");
port.on("message", (/** @type {{ input: ArrayBuffer, length: number, output: ArrayBuffer, tip: string }} */ m) => {
  try {
    const sealed = seal(Buffer.from(m.input, 0, m.length), m.output, m.tip);
    const transfer = sealed.output === m.input ? [m.input] : [m.input, sealed.output];
    port.postMessage({ input: m.input, ...sealed }, transfer);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
