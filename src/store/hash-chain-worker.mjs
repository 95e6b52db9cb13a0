// @ts-check
/**
 * The hash chain's worker thread (driven by ChainSealer in hash-chain.ts):
 * seals a commit's record prefixes into complete lines, hashing each one off
 * the main thread. Plain JavaScript, so the thread starts without the
 * TypeScript loader.
 *
 * In:  { input, offset, length, output, tip }: `length` bytes of prefixes
 *      (`{"event_id":..,"seq":N`, each followed by "\n") on the SharedArrayBuffer
 *      `input`, where to write the lines (SharedArrayBuffer `output`), and the
 *      hash of the record before them ("" before the first hashed record).
 * Out: { output, length, tip }: the records, each ending `,"hash":"<hex>"}\n`,
 *      in `output` or, when it was too small, in a larger SharedArrayBuffer;
 *      and the last record's hash. Or { error } when sealing failed.
 */
import { hash } from "node:crypto";
import { parentPort } from "node:worker_threads";

const HASH_MEMBER = ',"hash":"';
const NEWLINE = 0x0a;
// Per record the trailer adds `,"hash":"` + 64 hex digits + `"}` (its newline replaces the prefix's).
const TRAILER_BYTES = HASH_MEMBER.length + 64 + 2;

/** Hash input: the previous hash, then the prefix (grown when a record is larger). */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Seals prefixes into lines: each record's hash is SHA-256 over the previous
 * hash and the record's prefix bytes (the same as chainHash in hash-chain.ts).
 * @param {Buffer} input
 * @param {SharedArrayBuffer} outputMemory
 * @param {string} tip
 */
function seal(input, outputMemory, tip) {
  let records = 0;
  for (let at = input.indexOf(NEWLINE); at !== -1; at = input.indexOf(NEWLINE, at + 1)) records++;
  const needed = input.length + records * TRAILER_BYTES;
  if (outputMemory.byteLength < needed) outputMemory = new SharedArrayBuffer(Math.ceil(needed * 1.5));
  const output = Buffer.from(outputMemory);
  let length = 0;
  let start = 0;
  while (start < input.length) {
    const end = input.indexOf(NEWLINE, start);
    const hashed = tip.length + end - start;
    if (hashed > scratch.length) scratch = Buffer.allocUnsafe(Math.max(hashed, scratch.length * 2));
    scratch.latin1Write(tip, 0);
    input.copy(scratch, tip.length, start, end);
    tip = hash("sha256", scratch.subarray(0, hashed), "hex");
    length += input.copy(output, length, start, end);
    length += output.latin1Write(`${HASH_MEMBER}${tip}"}\n`, length);
    start = end + 1;
  }
  return { output: outputMemory, length, tip };
}

const port = parentPort;
if (port === null) throw new Error("hash-chain-worker.mjs runs as a worker thread");
port.on("message", (/** @type {{ input: SharedArrayBuffer, offset: number, length: number, output: SharedArrayBuffer, tip: string }} */ m) => {
  try {
    port.postMessage(seal(Buffer.from(m.input, m.offset, m.length), m.output, m.tip));
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
