import { hash } from "node:crypto";

/**
 * The tamper-evidence chain. Each record ends with `"hash":"<hex>"`, the
 * SHA-256 of the previous record's hash (empty before the first hashed
 * record) followed by the record's own bytes up to and including its seq:
 *
 *   {"event_id":..,"timestamp":..,"event_type":..,"data":..,"seq":41,"hash":"<sha256(prev + '{"event_id":..,"seq":41')>"}
 *
 * Editing, deleting, inserting or reordering a line breaks the chain at that
 * line. (Anyone able to rewrite the whole file can recompute it: keep the
 * last hash elsewhere, e.g. from `pulse-log verify --json`, to anchor it.)
 */
export const HASH_MEMBER = ',"hash":"';

// Reused input buffer: previous hash then prefix, hashed in one call. The
// one-shot crypto.hash costs about two thirds of createHash().update().digest()
// per record, which matters at a hash per record on the write path.
let input = Buffer.allocUnsafe(64 * 1024);

/** The hash of a record: SHA-256 over the previous hash and the record's prefix bytes. */
export function chainHash(previous: string, prefix: Uint8Array): string {
  const length = previous.length + prefix.length;
  if (length > input.length) input = Buffer.allocUnsafe(Math.max(length, input.length * 2));
  input.write(previous, 0, "latin1");
  input.set(prefix, previous.length);
  return hash("sha256", input.subarray(0, length), "hex");
}

const TRAILER = /,"hash":"([0-9a-f]{64})"\}$/;

/** Splits a line (without its newline) into the hashed prefix and the hash; undefined when it has none. */
export function splitHashedLine(line: Buffer): { prefix: Buffer; hash: string } | undefined {
  // The trailer is fixed-size: ,"hash":"<64 hex>"}  = 9 + 64 + 2 bytes.
  const trailerBytes = HASH_MEMBER.length + 64 + 2;
  if (line.length < trailerBytes) return undefined;
  const tail = line.subarray(line.length - trailerBytes).toString("latin1");
  const m = TRAILER.exec(tail);
  if (!m) return undefined;
  return { prefix: line.subarray(0, line.length - trailerBytes), hash: m[1] };
}
