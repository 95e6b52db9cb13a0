// @ts-check
/**
 * Sealing a commit's records into hash-chained lines: shared by the main
 * thread (small commits) and the hash chain's worker thread (large ones).
 * Plain JavaScript so that the worker starts without the TypeScript loader.
 */
import { hash } from "node:crypto";
import { HASH_OPEN_BYTES, HASH_TRAILER_BYTES, writeHashClose } from "../record/hash-trailer.mjs";

/**
 * Seals prefixes into lines: each record's hash is SHA-256 over the previous
 * hash and the record's prefix bytes (the same as chainHash in hash-chain.ts).
 * `input` holds each record's prefix (`{"event_id":..,"seq":N`) followed by
 * "\n", and `ends` the offset of each of those newlines (RecordBuffer keeps
 * them: no search through the bytes); the lines go to `outputMemory`, or to
 * larger shared memory when it is too small (returned as `output`).
 *
 * The hash input is made contiguous where the lines are written, without a
 * scratch copy: each prefix is first copied right after the previous
 * record's hex digits, hashed together with them, then moved 3 bytes on to
 * make room for the `"}\n` that ends the previous line. The bytes are
 * reached through plain Uint8Array views: a Buffer's methods (subarray,
 * copy, set) check their arguments and make objects per call, which cost
 * more than the copies of a record.
 * @param {Uint8Array} input
 * @param {ArrayLike<number>} ends
 * @param {SharedArrayBuffer} outputMemory
 * @param {string} tip the hash of the record before them ("" before the first hashed record)
 * @returns {{ output: SharedArrayBuffer, length: number, tip: string }}
 */
export function seal(input, ends, outputMemory, tip) {
  let output = Buffer.from(outputMemory);
  let out = new Uint8Array(outputMemory);
  // Where the previous hash is, in `output`: the given tip at 0 first, then
  // each record's own hex digits, written after its `,"hash":"`.
  let hexAt = 0;
  let hexLength = tip.length;
  if (output.length < hexLength) ({ output, out } = grow(output, 0, hexLength));
  latin1Write(output, tip, 0);
  let start = 0;
  for (let r = 0; r < ends.length; r++) {
    const end = ends[r];
    const prefixLength = end - start;
    const prefixAt = hexAt + hexLength;
    if (output.length < prefixAt + 3 + prefixLength + HASH_TRAILER_BYTES) ({ output, out } = grow(output, prefixAt, prefixAt + 3 + prefixLength + HASH_TRAILER_BYTES));
    out.set(input.subarray(start, end), prefixAt);
    tip = hash("sha256", new Uint8Array(out.buffer, hexAt, prefixAt + prefixLength - hexAt), "hex");
    let lineAt;
    if (r === 0) {
      // The given tip is hashed but not written: the first line starts at 0.
      if (prefixAt > 0) out.copyWithin(0, prefixAt, prefixAt + prefixLength);
      lineAt = 0;
    } else {
      // End the previous line: move this prefix on by 3 bytes for its `"}\n`.
      out.copyWithin(prefixAt + 3, prefixAt, prefixAt + prefixLength);
      lineAt = writeHashClose(out, prefixAt);
    }
    let at = lineAt + prefixLength;
    for (let i = 0; i < HASH_OPEN_BYTES.length; i++) out[at++] = HASH_OPEN_BYTES[i];
    hexAt = at;
    hexLength = latin1Write(output, tip, hexAt);
    start = end + 1;
  }
  if (ends.length === 0) return { output: /** @type {SharedArrayBuffer} */ (output.buffer), length: 0, tip };
  const length = writeHashClose(out, hexAt + hexLength);
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
 * @returns {{ output: Buffer<SharedArrayBuffer>, out: Uint8Array<SharedArrayBuffer> }}
 */
function grow(output, keep, needed) {
  const memory = new SharedArrayBuffer(Math.max(needed, output.length * 2, 64 * 1024));
  const out = new Uint8Array(memory);
  out.set(output.subarray(0, keep));
  return { output: Buffer.from(memory), out };
}
