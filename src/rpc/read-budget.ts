/**
 * One bound on the request bytes that all streams together hold: read off
 * the network and not yet done with (waiting for room in the write queue,
 * being written). A stream reserves room before it reads its next message,
 * so while the budget is spent nothing more is read and HTTP/2 flow control
 * stops the clients; what a stream holds beyond the budget is its unread
 * HTTP/2 window, not messages. Waiters are served in order, so every stream
 * progresses as earlier messages are done with.
 */
export class ReadBudget {
  private heldBytes = 0;
  private peak = 0;
  private readonly waiters: Array<{ bytes: number; grant: () => void }> = [];

  constructor(
    /** The bound, in bytes. One reservation is always granted when nothing is held, however large. */
    readonly bytesMax: number,
  ) {
    if (!(bytesMax > 0)) throw new RangeError(`read budget must be positive, got ${bytesMax}`);
  }

  /** Bytes reserved or held now. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The most bytes held at once since start (what a test or a metric checks against bytesMax). */
  get peakBytes(): number {
    return this.peak;
  }

  /**
   * Reserves `bytes`: at once when they fit and no one waits before
   * (`granted` is then undefined), else `granted` settles when enough is
   * given back. `cancel` withdraws a reservation not yet
   * granted and returns false; once granted it returns true and the caller
   * owes a {@link release}.
   */
  reserve(bytes: number): { granted: Promise<void> | undefined; cancel: () => boolean } {
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      // Granted now: no promise to wait on (a stream with room reads in the same turn).
      return { granted: undefined, cancel: () => true };
    }
    let done = false;
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => {
      grant = () => {
        done = true;
        resolve();
      };
    });
    const waiter = { bytes, grant };
    this.waiters.push(waiter);
    return {
      granted,
      cancel: () => {
        if (done) return true;
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        // The head may have left: those behind it may fit now.
        this.grantWaiters();
        return false;
      },
    };
  }

  /**
   * Changes a held reservation to what a message turned out to be (`delta`
   * may be negative). The bytes are already in memory, so a larger message
   * is counted, not refused.
   */
  adjust(delta: number): void {
    if (delta >= 0) this.take(delta);
    else this.release(-delta);
  }

  /** Gives back bytes once their message is done with; wakes waiters that now fit, in order. */
  release(bytes: number): void {
    this.heldBytes -= bytes;
    this.grantWaiters();
  }

  private fits(bytes: number): boolean {
    return this.heldBytes === 0 || this.heldBytes + bytes <= this.bytesMax;
  }

  private take(bytes: number): void {
    this.heldBytes += bytes;
    if (this.heldBytes > this.peak) this.peak = this.heldBytes;
  }

  private grantWaiters(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0].bytes)) {
      const w = this.waiters.shift()!;
      this.take(w.bytes);
      w.grant();
    }
  }
}
