/**
 * Lets any number of open calls wait for one shutdown signal through a
 * single listener on it: a listener per open stream would pile up on the
 * shared signal (Node warns past 10) and each would hold its call alive.
 */
export interface ShutdownFanout {
  /** Calls `wake` once when shutdown starts (at once if it has); returns a function that cancels the wait. */
  onShutdown(wake: () => void): () => void;
}

/** The {@link ShutdownFanout} of `signal` (none: a signal that never aborts). */
export function shutdownFanout(signal: AbortSignal | undefined): ShutdownFanout {
  const waiters = new Set<() => void>();
  signal?.addEventListener(
    "abort",
    () => {
      for (const wake of waiters) wake();
      waiters.clear();
    },
    { once: true },
  );
  return {
    onShutdown(wake) {
      if (signal?.aborted) {
        wake();
        return () => {};
      }
      waiters.add(wake);
      return () => waiters.delete(wake);
    },
  };
}
