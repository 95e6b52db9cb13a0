/**
 * Encoded records waiting for their commit, in one growable buffer on a
 * SharedArrayBuffer (the hash chain's worker reads it without a copy). The
 * appender fills one while the previous one is being written, then swaps
 * them: after warm-up no commit allocates, and nothing waiting for the disk
 * lives on the JS heap.
 */
export class RecordBuffer {
  private buf: Buffer;
  private used = 0;

  constructor(private readonly initialBytes = 1024 * 1024) {
    this.buf = sharedBuffer(initialBytes);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.used;
  }

  /** The bytes written so far (a view: valid until the next write or reset). */
  get bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  /** Appends `text` as UTF-8. */
  write(text: string): void {
    // A UTF-16 unit is at most 3 UTF-8 bytes: grow when it might not fit.
    if (this.buf.length - this.used < text.length * 3) this.grow(this.used + text.length * 3);
    this.used += this.buf.write(text, this.used);
  }

  /** Forgets the content. A buffer grown far past what it held is given back, so one burst does not keep memory for good. */
  reset(): void {
    if (this.buf.length > 4 * this.initialBytes && this.used < this.buf.length / 4) this.buf = sharedBuffer(Math.max(this.initialBytes, this.used * 2));
    this.used = 0;
  }

  private grow(min: number): void {
    const bigger = sharedBuffer(Math.max(min, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}

/** A Buffer over a SharedArrayBuffer of `bytes` bytes. */
export function sharedBuffer(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}
