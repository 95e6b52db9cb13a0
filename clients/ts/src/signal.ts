/**
 * A wake-up call for async loops: `wait()` resolves at the next `notify()`,
 * or after `timeoutMs`. Waiters re-check their condition after waking, so a
 * notify with nobody waiting is simply lost.
 */
export class Signal {
  private waiters: Array<() => void> = [];

  /** Resolves at the next notify, or after `timeoutMs` (never when Infinity). */
  wait(timeoutMs = Infinity): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      this.waiters.push(wake);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve();
        }, Math.max(0, timeoutMs));
      }
    });
  }

  /** Wakes every waiter. */
  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
