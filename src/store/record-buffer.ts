/**
 * Encoded records waiting for their commit, in one growable buffer. The
 * appender fills one while the previous one is being written, then swaps
 * them: after warm-up no commit allocates, and nothing waiting for the disk
 * lives on the JS heap. Its memory can be lent to the hash chain's worker
 * thread (moved, not copied) and is given back with the sealed lines.
 */
export class RecordBuffer {
  private buf: Buffer;
  private used = 0;

  constructor(private readonly initialBytes = 1024 * 1024) {
    this.buf = ownBuffer(initialBytes);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.used;
  }

  /** The bytes written so far (a view: valid until the next write, reset or lend). */
  get bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  /** Appends `text` as UTF-8. */
  write(text: string): void {
    // A UTF-16 unit is at most 3 UTF-8 bytes: grow when it might not fit.
    if (this.buf.length - this.used < text.length * 3) this.grow(this.used + text.length * 3);
    this.used += this.buf.write(text, this.used);
  }

  /** Appends bytes `[start, end)` of `bytes` (a body already encoded). */
  writeBytes(bytes: Uint8Array, start: number, end: number): void {
    if (this.buf.length - this.used < end - start) this.grow(this.used + end - start);
    // A plain view: a Buffer's subarray costs more (its checks and class) than the copy of a body.
    this.buf.set(new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start), this.used);
    this.used += end - start;
  }

  /**
   * Forgets the content. A buffer grown far past what it held is given back
   * (one burst does not keep memory for good), and one lent and never
   * returned (its thread failed) is replaced.
   */
  reset(): void {
    const lost = this.buf.length === 0;
    const oversized = this.buf.length > 4 * this.initialBytes && this.used < this.buf.length / 4;
    if (lost || oversized) this.buf = ownBuffer(Math.max(this.initialBytes, this.used * 2));
    this.used = 0;
  }

  /** The memory holding the bytes, to transfer to another thread; unusable here until {@link restore}. */
  lend(): ArrayBuffer {
    return this.buf.buffer as ArrayBuffer;
  }

  /** Takes back memory lent with {@link lend}, with the same bytes in it. */
  restore(memory: ArrayBuffer): void {
    this.buf = Buffer.from(memory);
  }

  private grow(min: number): void {
    const bigger = ownBuffer(Math.max(min, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}

/** A Buffer over an ArrayBuffer of its own (not Node's shared pool), so the memory can be transferred. */
export function ownBuffer(bytes: number): Buffer {
  return Buffer.allocUnsafeSlow(bytes);
}
