import type { StoreFileHandle } from "./file-system.js";

/**
 * The log's lines as bytes: the one place that walks a file line by line,
 * forwards, backwards, or only to count. Lines are "\n"-terminated; what a
 * line holds is src/record/'s business.
 */

const NEWLINE = 0x0a;
const CHUNK_BYTES = 256 * 1024;

/** The part of an open file the line readers use (Node's FileHandle and the store's handle both fit). */
export type ReadableFile = Pick<StoreFileHandle, "read">;

/** One complete line of the log, found by reading backwards. */
export interface TailLine {
  /** Byte offset of the line's first byte. */
  start: number;
  /** The line without its newline. */
  bytes: Buffer;
}

/**
 * Yields the log's complete lines from the end towards the start, reading
 * fixed-size chunks backwards, so the cost depends on how far back the
 * caller goes, never on the file's length. `end` must be just after a newline
 * (or 0). Lines come in arrays, newest first, one array per chunk read (an
 * await per chunk, not per line: start-up reads a hundred thousand lines).
 */
export async function* lineBatchesBackward(fh: ReadableFile, end: number): AsyncGenerator<TailLine[]> {
  let pos = end;
  let carry: Buffer = Buffer.alloc(0); // bytes after the newline seen last, not yet yielded
  let carryStart = end;
  // The byte at end-1 is the newline of the last line; skip it.
  let skipNewline = end > 0;
  while (pos > 0) {
    const len = Math.min(CHUNK_BYTES, pos);
    pos -= len;
    const chunk = Buffer.allocUnsafe(len);
    await readFully(fh, chunk, pos);
    const buf = carry.length ? Buffer.concat([chunk, carry]) : chunk;
    const bufStart = pos;
    let scanEnd = buf.length;
    if (skipNewline) {
      scanEnd -= 1;
      skipNewline = false;
    }
    const lines: TailLine[] = [];
    for (let i = scanEnd > 0 ? buf.lastIndexOf(NEWLINE, scanEnd - 1) : -1; i >= 0; i = i > 0 ? buf.lastIndexOf(NEWLINE, i - 1) : -1) {
      lines.push({ start: bufStart + i + 1, bytes: buf.subarray(i + 1, scanEnd) });
      scanEnd = i;
    }
    if (lines.length > 0) yield lines;
    carry = buf.subarray(0, scanEnd);
    carryStart = bufStart;
  }
  if (carry.length > 0 || (end > 0 && carryStart === 0)) yield [{ start: 0, bytes: carry }];
}

/** The lines of {@link lineBatchesBackward} one at a time. */
export async function* linesBackward(fh: ReadableFile, end: number): AsyncGenerator<TailLine> {
  for await (const lines of lineBatchesBackward(fh, end)) yield* lines;
}

/** Reads exactly `buf.length` bytes at `position`; a file that ends first is an error (it shrank under the reader). */
export async function readFully(fh: ReadableFile, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`log file shrank while reading at ${position + done}`);
    done += bytesRead;
  }
}


/** The number of "\n" in the file's first `end` bytes: the line count of a log without seqs (the original module's). */
export async function countLines(fh: ReadableFile, end: number): Promise<number> {
  let count = 0;
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let pos = 0; pos < end; ) {
    const { bytesRead } = await fh.read(chunk, 0, Math.min(CHUNK_BYTES, end - pos), pos);
    if (bytesRead === 0) break;
    for (let i = chunk.indexOf(NEWLINE); i >= 0 && i < bytesRead; i = chunk.indexOf(NEWLINE, i + 1)) count++;
    pos += bytesRead;
  }
  return count;
}

/**
 * Yields a file's lines from `from` forwards, without their newline, read
 * in chunks of `chunkBytes` (default 1 MiB); a last line without
 * newline is yielded too (callers that must tell it apart compare offsets
 * with the file's size). `onBytes` is told every chunk's size (progress).
 */
export async function* linesForward(fh: ReadableFile, from = 0, onBytes?: (n: number) => void, chunkBytes = 1024 * 1024): AsyncGenerator<Buffer> {
  const chunk = Buffer.allocUnsafe(chunkBytes);
  let carry: Buffer = Buffer.alloc(0);
  for (let pos = from; ; ) {
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    onBytes?.(bytesRead);
    const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
    let start = 0;
    for (let i = data.indexOf(NEWLINE); i !== -1; i = data.indexOf(NEWLINE, start)) {
      yield data.subarray(start, i);
      start = i + 1;
    }
    carry = Buffer.from(data.subarray(start));
  }
  if (carry.length > 0) yield carry;
}
