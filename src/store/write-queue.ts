import { status } from "@grpc/grpc-js";
import { ServiceError } from "../errors.js";

// Per record a store adds about this much around the body (event_id, timestamp, seq, hash).
const RECORD_OVERHEAD_BYTES = 110;

/** Bytes an append of these bodies counts against the queue bound. */
export function queuedBytesOf(entries: ReadonlyArray<{ body: string; bodyUtf8?: Uint8Array; bodyStart?: number; bodyEnd?: number }>): number {
  let bytes = 0;
  // A body given as bytes is measured by them (its text is made only if a store asks for it).
  for (const e of entries) bytes += (e.bodyUtf8 !== undefined ? e.bodyEnd! - e.bodyStart! : e.body.length) + RECORD_OVERHEAD_BYTES;
  return bytes;
}

/**
 * The bound on bytes accepted but not yet durable, shared by the stores.
 * Unary callers past the bound get RESOURCE_EXHAUSTED; streams wait for room,
 * which stops them reading from their clients. One append is always admitted
 * into an empty queue, however large.
 */
export class WriteQueue {
  private queued = 0;
  private waiters: Array<() => void> = [];
  private closed = false;

  constructor(
    /** The bound, in bytes. */
    readonly bytesMax: number,
  ) {}

  /** Bytes accepted and not yet released. */
  get bytes(): number {
    return this.queued;
  }

  /**
   * Admits `bytes`, waiting for room when `wait` is set; throws UNAVAILABLE
   * once closed. Returns undefined when admitted at once (the usual case: no
   * promise per append), else a promise that settles when admitted.
   */
  admit(bytes: number, wait: boolean | undefined): Promise<void> | undefined {
    if (this.closed) throw shuttingDown();
    if (this.queued === 0 || this.queued + bytes <= this.bytesMax) {
      this.queued += bytes;
      return undefined;
    }
    if (!wait) throw full(this.bytesMax);
    return this.waitFor(bytes);
  }

  private async waitFor(bytes: number): Promise<void> {
    while (this.queued > 0 && this.queued + bytes > this.bytesMax) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      if (this.closed) throw shuttingDown();
    }
    this.queued += bytes;
  }

  /** Gives back bytes once their append is durable or failed, waking waiters when there is room. */
  release(bytes: number): void {
    this.queued -= bytes;
    if (this.waiters.length > 0 && this.queued < this.bytesMax) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Refuses new appends; waiters get UNAVAILABLE. */
  close(): void {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.closed;
  }
}

const full = (bytesMax: number) => new ServiceError(status.RESOURCE_EXHAUSTED, `write queue full (${bytesMax} bytes); retry later`);
const shuttingDown = () => new ServiceError(status.UNAVAILABLE, "server is shutting down; nothing was written");
