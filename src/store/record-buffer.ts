import { NUMBER_BYTES_MAX, writeFiniteNumber } from "../record/json-text.js";
import { ID_OPEN, SEQ_OPEN } from "../record/layout.js";

/**
 * Encoded records waiting for their commit, in one growable buffer. The
 * appender fills one while the previous one is being written, then swaps
 * them: after warm-up no commit allocates, and nothing waiting for the disk
 * lives on the JS heap. Its memory is shared with the hash chain's worker
 * thread, which reads the records from it while the commit is sealed.
 *
 * Every record ends with a newline, and the buffer keeps where each one is
 * (`lineEnds`): the sealer then finds the records without searching the
 * bytes for them.
 */
export class RecordBuffer {
  private buf: Buffer;
  private used = 0;
  private ends: Uint32Array;
  private count = 0;

  constructor(private readonly initialBytes = 1024 * 1024) {
    this.buf = sharedBuffer(initialBytes);
    this.ends = sharedEnds(Math.max(16, initialBytes >> 8));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.used;
  }

  /** The bytes written so far (a view: valid until the next write or reset). */
  get bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  /** Records written so far. */
  get records(): number {
    return this.count;
  }

  /** The offset of each record's newline, in the order written (a view: valid until the next write or reset). */
  get lineEnds(): Uint32Array {
    return this.ends.subarray(0, this.count);
  }

  /** Appends one record's text, as UTF-8; it ends with its newline (and has no other). */
  write(text: string): void {
    if (text.charCodeAt(text.length - 1) !== NEWLINE) throw new Error("a record's text ends with a newline");
    // A UTF-16 unit is at most 3 UTF-8 bytes: grow when it might not fit.
    if (this.buf.length - this.used < text.length * 3) this.grow(this.used + text.length * 3);
    this.used += this.buf.write(text, this.used);
    this.endRecord();
  }

  /**
   * Appends one record whose body is UTF-8 already, without making a string:
   * `{"event_id":"<id>`, `head` (the timestamp and the body's opening
   * comma), the body's bytes `[bodyStart, bodyEnd)`, `,"seq":<seq>`, then
   * `tail` (a line end, or the record's close and line end: it ends with
   * the newline). The id is a checked UUID: ASCII, one byte per character.
   */
  writeRecord(eventId: string, head: Uint8Array, body: Uint8Array, bodyStart: number, bodyEnd: number, seq: number, tail: Uint8Array): void {
    const bodyBytes = bodyEnd - bodyStart;
    const most = ID_OPEN_BYTES.length + eventId.length + head.length + bodyBytes + SEQ_OPEN_BYTES.length + NUMBER_BYTES_MAX + tail.length;
    if (this.buf.length - this.used < most) this.grow(this.used + most);
    const buf = this.buf;
    let op = copyShort(buf, this.used, ID_OPEN_BYTES);
    for (let i = 0; i < eventId.length; i++) buf[op++] = eventId.charCodeAt(i);
    op = copyShort(buf, op, head);
    // A plain view: a Buffer's subarray costs more (its checks and class) than the copy of a body.
    buf.set(new Uint8Array(body.buffer, body.byteOffset + bodyStart, bodyBytes), op);
    op = copyShort(buf, op + bodyBytes, SEQ_OPEN_BYTES);
    // seq: a positive safe integer, written as JSON writes it.
    this.used = copyShort(buf, writeFiniteNumber(buf, op, seq), tail);
    this.endRecord();
  }

  /**
   * Forgets the content. A buffer grown far past what it held is given back
   * (one burst does not keep memory for good).
   */
  reset(): void {
    const oversized = this.buf.length > 4 * this.initialBytes && this.used < this.buf.length / 4;
    if (oversized) {
      this.buf = sharedBuffer(Math.max(this.initialBytes, this.used * 2));
      this.ends = sharedEnds(Math.max(16, this.buf.length >> 8));
    }
    this.used = 0;
    this.count = 0;
  }

  /**
   * The memory holding the bytes, for another thread to read (shared, not
   * moved): nothing may be written here until that thread is done with it.
   */
  get memory(): SharedArrayBuffer {
    return this.buf.buffer as SharedArrayBuffer;
  }

  /** The memory holding {@link lineEnds} (shared, as {@link memory}). */
  get lineEndsMemory(): SharedArrayBuffer {
    return this.ends.buffer as SharedArrayBuffer;
  }

  /** The record just written ends at the byte before `used` (its newline). */
  private endRecord(): void {
    if (this.count === this.ends.length) {
      const bigger = sharedEnds(this.ends.length * 2);
      bigger.set(this.ends);
      this.ends = bigger;
    }
    this.ends[this.count++] = this.used - 1;
  }

  private grow(min: number): void {
    const bigger = sharedBuffer(Math.max(min, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}

const NEWLINE = 0x0a;
const ID_OPEN_BYTES = Buffer.from(ID_OPEN);
const SEQ_OPEN_BYTES = Buffer.from(SEQ_OPEN);

/** Copies a few bytes (a record's fixed parts) byte by byte, cheaper than a native copy's call; returns the position after them. */
function copyShort(out: Buffer, op: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[op + i] = bytes[i];
  return op + bytes.length;
}

/**
 * A Buffer over shared memory, which another thread reads without it being
 * moved: a transferred ArrayBuffer is detached, and detaching waits for V8's
 * concurrent sweep of array buffers, measured at about 100 us of main-thread
 * CPU (270 us of wall time) per commit while the server ingests.
 */
export function sharedBuffer(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

/** Room for `n` record ends, on shared memory (read by the hash chain's worker, as the records); a Buffer holds at most 2^32 bytes. */
function sharedEnds(n: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(n * Uint32Array.BYTES_PER_ELEMENT));
}
