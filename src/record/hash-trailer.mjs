// @ts-check
/**
 * The hash chain's trailer: how a hashed line ends, after its seq,
 *
 *   ...,"seq":41,"hash":"<64 lower-case hex digits>"}
 *
 * written and parsed here only. Plain JavaScript, so that the hash chain's
 * worker thread (src/store/hash-chain-seal.mjs, which runs without the
 * TypeScript loader) and the TypeScript side (layout.ts re-exports it) share
 * the one definition.
 */

/** The member that follows seq in a hashed line. */
export const HASH_OPEN = ',"hash":"';
/** Hex digits of a SHA-256. */
export const HASH_HEX_CHARS = 64;
/** How a hashed line closes after its hex digits (then its newline). */
export const HASH_CLOSE = '"}';
/** Bytes of a whole trailer: `,"hash":"` + 64 hex digits + `"}`. */
export const HASH_TRAILER_BYTES = HASH_OPEN.length + HASH_HEX_CHARS + HASH_CLOSE.length;
/** {@link HASH_OPEN} as bytes. */
export const HASH_OPEN_BYTES = Buffer.from(HASH_OPEN, "latin1");

const QUOTE = 0x22;
const CLOSE_BRACE = 0x7d;
const NEWLINE = 0x0a;

/**
 * The trailer of a record whose hash is `hex`, with the line's newline.
 * @param {string} hex
 * @returns {string}
 */
export function hashTrailerLine(hex) {
  return `${HASH_OPEN}${hex}${HASH_CLOSE}\n`;
}

/**
 * Writes the end of a hashed line after its hex digits (`"}` and the
 * newline) at `at`; returns the position after it.
 * @param {Uint8Array} out
 * @param {number} at
 * @returns {number}
 */
export function writeHashClose(out, at) {
  out[at] = QUOTE;
  out[at + 1] = CLOSE_BRACE;
  out[at + 2] = NEWLINE;
  return at + 3;
}

/**
 * Splits a line (without its newline) into the hashed prefix (the record up
 * to and including its seq) and the hash; undefined when it has no trailer.
 * @param {Buffer} line
 * @returns {{ prefix: Buffer, hash: string } | undefined}
 */
export function splitHashedLine(line) {
  const at = line.length - HASH_TRAILER_BYTES;
  if (at < 0 || line[line.length - 2] !== QUOTE || line[line.length - 1] !== CLOSE_BRACE) return undefined;
  for (let i = 0; i < HASH_OPEN_BYTES.length; i++) if (line[at + i] !== HASH_OPEN_BYTES[i]) return undefined;
  const hexAt = at + HASH_OPEN_BYTES.length;
  for (let i = hexAt; i < hexAt + HASH_HEX_CHARS; i++) {
    const c = line[i];
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return undefined;
  }
  return { prefix: line.subarray(0, at), hash: line.toString("latin1", hexAt, hexAt + HASH_HEX_CHARS) };
}
