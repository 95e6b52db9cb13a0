// @ts-check
/**
 * Sealing a commit's records into hash-chained lines: shared by the main
 * thread (small commits) and the hash chain's worker thread (large ones).
 * Plain JavaScript so that the worker starts without the TypeScript loader.
 */
import { hash } from "node:crypto";

const HASH_MEMBER = ',"hash":"';
const NEWLINE = 0x0a;
// Per record the trailer adds `,"hash":"` + 64 hex digits + `"}` (its newline replaces the prefix's).
const TRAILER_BYTES = HASH_MEMBER.length + 64 + 2;

/** Hash input: the previous hash, then the prefix (grown when a record is larger). */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Seals prefixes into lines: each record's hash is SHA-256 over the previous
 * hash and the record's prefix bytes (the same as chainHash in hash-chain.ts).
 * `input` holds each record's prefix (`{"event_id":..,"seq":N`) followed by
 * "\n"; the lines go to `outputMemory`, or to a larger SharedArrayBuffer
 * when it is too small (returned as `output`).
 * @param {Buffer} input
 * @param {SharedArrayBuffer} outputMemory
 * @param {string} tip the hash of the record before them ("" before the first hashed record)
 * @returns {{ output: SharedArrayBuffer, length: number, tip: string }}
 */
export function seal(input, outputMemory, tip) {
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
    scratch.write(tip, 0, "latin1");
    input.copy(scratch, tip.length, start, end);
    tip = hash("sha256", scratch.subarray(0, hashed), "hex");
    length += input.copy(output, length, start, end);
    length += output.write(`${HASH_MEMBER}${tip}"}\n`, length, "latin1");
    start = end + 1;
  }
  return { output: outputMemory, length, tip };
}

