/**
 * A growable byte buffer that encoders append to: writers reserve room, then
 * write into {@link ByteSink.buf} at {@link ByteSink.length} themselves (no
 * call per byte). The memory is its own ArrayBuffer (not Node's shared pool),
 * so it can be handed to another thread.
 */
export class ByteSink {
  /** The memory; bytes [0, length) are written. Replaced when it grows: read it after reserving. */
  buf: Buffer;
  /** Bytes written so far. */
  length = 0;

  constructor(private readonly initialBytes = 16 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Makes room for `bytes` more bytes after {@link length}; returns the (maybe new) memory. */
  reserve(bytes: number): Buffer {
    if (this.length + bytes > this.buf.length) this.grow(this.length + bytes);
    return this.buf;
  }

  /** Appends `text` as UTF-8; returns the number of bytes written. */
  writeString(text: string): number {
    // A UTF-16 unit is at most 3 UTF-8 bytes.
    this.reserve(text.length * 3);
    const written = this.buf.write(text, this.length, "utf8");
    this.length += written;
    return written;
  }

  /**
   * Appends `bytes` (short runs such as a member's key or a remembered
   * name are copied byte by byte: cheaper than a native copy's call).
   */
  writeBytes(bytes: Uint8Array): void {
    const n = bytes.length;
    const buf = this.reserve(n);
    const op = this.length;
    if (n > 64) buf.set(bytes, op);
    else for (let i = 0; i < n; i++) buf[op + i] = bytes[i];
    this.length = op + n;
  }

  /** The text of bytes [start, end) (UTF-8). */
  text(start = 0, end = this.length): string {
    return this.buf.toString("utf8", start, end);
  }

  /** Forgets the content; memory grown far past what was last written is given back. */
  reset(): void {
    if (this.buf.length > 4 * this.initialBytes && this.length < this.buf.length / 4) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(this.initialBytes, this.length * 2));
    }
    this.length = 0;
  }

  private grow(min: number): void {
    const bigger = Buffer.allocUnsafeSlow(Math.max(min, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }
}
