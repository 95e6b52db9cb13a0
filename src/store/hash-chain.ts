import { hash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { seal } from "./hash-chain-seal.mjs";
import { HASH_HEX_CHARS, HASH_OPEN_BYTES, writeHashClose } from "../record/hash-trailer.mjs";
import type { RecordBuffer } from "./record-buffer.js";

/** Splits a hashed line into its prefix and hash (src/record/hash-trailer.mjs, the trailer's one definition). */
export { splitHashedLine } from "../record/hash-trailer.mjs";

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
 * The trailer's text is src/record/hash-trailer.mjs's, which writes and
 * parses it; this module hashes and seals.
 */

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

/**
 * Seals one record where it lies, written right after the previous record's
 * hash digits: `out[start..end)` holds its prefix (up to and including its
 * seq) and, when `chained`, the previous hash's 64 hex digits are the bytes
 * just before it (`out[start - 64..start)`), so the hash input (previous hash,
 * then prefix) is hashed where it is, without a copy; unchained, the record
 * starts the chain and its prefix is hashed alone. When `closePrevious`, those
 * digits end the previous line: the prefix then moves 3 bytes on, making room
 * for that line's `"}\n`. The record's own `,"hash":"<hex>` follows it; its
 * `"}\n` is left to the next record, or to `writeHashClose` after the last
 * (the caller made room for the trailer and newline, HASH_TRAILER_BYTES + 1 bytes, after `end`,
 * and 3 more when `closePrevious`). Returns the hash; its digits start at
 * `end + HASH_OPEN_BYTES.length`, plus 3 when `closePrevious`.
 */
export function sealRecordInPlace(out: Buffer, start: number, end: number, chained: boolean, closePrevious: boolean): string {
  const tip = hash("sha256", out.subarray(chained ? start - HASH_HEX_CHARS : start, end), "hex");
  let at = end;
  if (closePrevious) {
    out.copyWithin(start + 3, start, end);
    writeHashClose(out, start);
    at += 3;
  }
  out.set(HASH_OPEN_BYTES, at);
  latin1Write(out, tip, at + HASH_OPEN_BYTES.length);
  return tip;
}

/**
 * Buffer#latin1Write: what Buffer#write(text, offset, "latin1") calls after
 * checking its arguments, which costs more than writing 64 hex digits.
 */
const latin1Write = (out: Buffer, text: string, at: number): number => (out as Buffer & { latin1Write(text: string, at: number): number }).latin1Write(text, at);

/** A commit's lines sealed by the chain: complete records and the last one's hash. */
export interface SealedLines {
  /** A view of the sealer's output memory: valid until the next seal. */
  lines: Buffer;
  tip: string;
}

/**
 * Seals record prefixes into hash-chained lines. Large commits go to a
 * worker thread, so the SHA-256 of every record runs beside the main thread
 * instead of on it; small ones (a few unary calls) are sealed at once on the
 * main thread, where a thread hop would cost more latency than the hashing.
 * The worker is stateless (each call carries the previous hash); the input
 * and output memory are shared with it (neither copied nor moved, and
 * reused). It starts on first use, and again after a failure. One seal at a time.
 */
export class ChainSealer {
  private worker: Worker | undefined;
  private output = new SharedArrayBuffer(1024 * 1024);
  private waiting: { records: RecordBuffer; resolve: (sealed: SealedLines) => void; reject: (err: Error) => void } | undefined;

  /**
   * @param workerBytesMin Commits of at least this many bytes are sealed on the
   *   worker thread. Default 64 KiB (a few hundred records).
   */
  constructor(private readonly workerBytesMin = 64 * 1024) {}

  /**
   * Seals the prefixes in `records` (each record's bytes up to its seq, then
   * "\n", where its line end says) chained onto `tip`. Their memory is lent to the worker meanwhile:
   * `records` must not be touched until the promise settles.
   */
  seal(records: RecordBuffer, tip: string): Promise<SealedLines> {
    if (this.waiting !== undefined) return Promise.reject(new Error("hash chain: one seal at a time"));
    if (records.length < this.workerBytesMin) {
      const sealed = seal(records.bytes, records.lineEnds, this.output, tip);
      this.output = sealed.output;
      return Promise.resolve({ lines: Buffer.from(sealed.output, 0, sealed.length), tip: sealed.tip });
    }
    const worker = (this.worker ??= this.start());
    return new Promise((resolve, reject) => {
      this.waiting = { records, resolve, reject };
      worker.postMessage({ input: records.memory, length: records.length, ends: records.lineEndsMemory, count: records.records, output: this.output, tip });
    });
  }

  /** Stops the worker. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    // No TypeScript loader in the worker: it is plain JavaScript.
    const worker = new Worker(new URL("./hash-chain-worker.mjs", import.meta.url), { execArgv: [] });
    worker.unref();
    const settle = () => {
      const waiter = this.waiting;
      this.waiting = undefined;
      return waiter;
    };
    worker.on("message", (m: { output: SharedArrayBuffer; length: number; tip: string } | { error: string }) => {
      const waiter = settle();
      if ("error" in m) return waiter?.reject(new Error(`hash chain: ${m.error}`));
      this.output = m.output;
      waiter?.resolve({ lines: Buffer.from(m.output, 0, m.length), tip: m.tip });
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      settle()?.reject(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`hash chain worker exited with code ${code}`)));
    return worker;
  }
}
