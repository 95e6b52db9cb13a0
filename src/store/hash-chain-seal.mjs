// @ts-check
/**
 * Sealing a commit's records into hash-chained lines: shared by the main
 * thread (small commits) and the hash chain's worker thread (large ones).
 * Plain JavaScript so that the worker starts without the TypeScript loader.
 */
import { hash } from "node:crypto";
import { HASH_OPEN_BYTES, HASH_TRAILER_BYTES, writeHashClose } from "../record/hash-trailer.mjs";

const NEWLINE = 0x0a;

/**
 * Seals prefixes into lines: each record's hash is SHA-256 over the previous
 * hash and the record's prefix bytes (the same as chainHash in hash-chain.ts).
 * `input` holds each record's prefix (`{"event_id":..,"seq":N`) followed by
 * "\n"; the lines go to `outputMemory`, or to larger shared memory when it
 * is too small (returned as `output`).
 *
 * The hash input is made contiguous where the lines are written, without a
 * scratch copy: each prefix is first copied right after the previous
 * record's hex digits, hashed together with them, then moved 3 bytes on to
 * make room for the `"}\n` that ends the previous line.
 * @param {Buffer} input
 * @param {SharedArrayBuffer} outputMemory
 * @param {string} tip the hash of the record before them ("" before the first hashed record)
 * @returns {{ output: SharedArrayBuffer, length: number, tip: string }}
 */
export function seal(input, outputMemory, tip) {
  let output = Buffer.from(outputMemory);
  // Where the previous hash is, in `output`: the given tip at 0 first, then
  // each record's own hex digits, written after its `,"hash":"`.
  let hexAt = 0;
  let hexLength = tip.length;
  if (output.length < hexLength) output = grow(output, 0, hexLength);
  output.write(tip, 0, "latin1");
  let first = true;
  let start = 0;
  while (start < input.length) {
    const end = input.indexOf(NEWLINE, start);
    const prefixLength = end - start;
    const prefixAt = hexAt + hexLength;
    if (output.length < prefixAt + 3 + prefixLength + HASH_TRAILER_BYTES) output = grow(output, prefixAt, prefixAt + 3 + prefixLength + HASH_TRAILER_BYTES);
    input.copy(output, prefixAt, start, end);
    tip = hash("sha256", output.subarray(hexAt, prefixAt + prefixLength), "hex");
    let lineAt;
    if (first) {
      // The given tip is hashed but not written: the first line starts at 0.
      if (prefixAt > 0) output.copyWithin(0, prefixAt, prefixAt + prefixLength);
      lineAt = 0;
      first = false;
    } else {
      // End the previous line: move this prefix on by 3 bytes for its `"}\n`.
      output.copyWithin(prefixAt + 3, prefixAt, prefixAt + prefixLength);
      lineAt = writeHashClose(output, prefixAt);
    }
    output.set(HASH_OPEN_BYTES, lineAt + prefixLength);
    hexAt = lineAt + prefixLength + HASH_OPEN_BYTES.length;
    hexLength = latin1Write(output, tip, hexAt);
    start = end + 1;
  }
  if (first) return { output: /** @type {SharedArrayBuffer} */ (output.buffer), length: 0, tip };
  const length = writeHashClose(output, hexAt + hexLength);
  return { output: /** @type {SharedArrayBuffer} */ (output.buffer), length, tip };
}

/**
 * Buffer#latin1Write: what Buffer#write(text, offset, "latin1") calls after
 * checking its arguments, which costs more than writing 64 hex digits.
 * @type {(buffer: Buffer, text: string, offset: number) => number}
 */
const latin1Write = (buffer, text, offset) => /** @type {any} */ (buffer).latin1Write(text, offset);

/**
 * A larger output, on shared memory (the main thread reads it without a move), with the first `keep` bytes of `output`.
 * @param {Buffer} output
 * @param {number} keep
 * @param {number} needed
 */
function grow(output, keep, needed) {
  const bigger = Buffer.from(new SharedArrayBuffer(Math.max(needed, output.length * 2, 64 * 1024)));
  output.copy(bigger, 0, 0, keep);
  return bigger;
}
