import { JetStreamApiError } from "@nats-io/jetstream";

/**
 * Errors after which the same JetStream request may succeed: a timeout (the
 * server that should answer is gone, or an election is on), no responders,
 * JetStream temporarily unavailable (503) or a request timeout (408), a
 * dropped connection.
 */
export function isPassing(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.status === 503 || err.status === 408;
  const name = (err as Error)?.name ?? "";
  return ["TimeoutError", "NoResponders", "NoRespondersError", "JetStreamNotEnabled", "RequestError", "ConnectionError"].includes(name) || /timeout|no responders|not enabled/i.test((err as Error)?.message ?? "");
}

/** How a request to JetStream is tried again. */
export interface RetryOptions {
  /** Give up after this long, in ms (the last error is thrown). */
  ms: number;
  /** Stops trying when aborted (the last error, or the abort reason, is thrown). */
  signal?: AbortSignal;
  /** Told about every failure that is tried again. */
  onRetry?: (err: unknown, attempt: number) => void;
  /** Errors worth another try. Default {@link isPassing}: any other error is thrown at once. */
  retryable?: (err: unknown) => boolean;
}

/** Resolves after `ms`, or at once when `signal` is aborted. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

const backoff = (attempt: number) => Math.min(50 * 2 ** attempt, 1000);

/** Calls `fn` again, after a growing pause, while it fails with an error worth another try, for up to `ms`. */
export async function retrying<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.ms;
  const retryable = options.retryable ?? isPassing;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (options.signal?.aborted || !retryable(err) || Date.now() >= deadline) throw err;
      options.onRetry?.(err, attempt + 1);
      await pause(backoff(attempt), options.signal);
      if (options.signal?.aborted) throw err;
    }
  }
}

/** How {@link hedged} races its attempts. */
export interface HedgeOptions<T> extends RetryOptions {
  /** Starts another attempt when none has answered within this long, in ms. */
  hedgeMs: number;
  /** Most attempts waiting for an answer at once. */
  inFlightMax: number;
  /** Given what an attempt made when another one had already won, to release it. */
  discard?: (value: T) => void;
}

/**
 * Runs `attempt` and, when it has not answered within `hedgeMs`, starts
 * another one beside it (up to `inFlightMax` at once); the first to succeed
 * wins. For requests whose answer may never come while a later identical
 * one would be answered at once: JetStream places each new consumer on a
 * server picked at random among its stream's, and keeps picking a server
 * that was killed for minutes after it is gone; a create placed there is
 * never answered. A failure worth another try starts a new attempt after a
 * short pause; the last error is thrown once `ms` have passed with no
 * attempt left waiting.
 */
export function hedged<T>(attempt: () => Promise<T>, options: HedgeOptions<T>): Promise<T> {
  const retryable = options.retryable ?? isPassing;
  const { signal } = options;
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const deadline = Date.now() + options.ms;
    let settled = false;
    let inFlight = 0;
    let failures = 0;
    let lastError: unknown;
    let hedges = 0;
    let launched = 0;
    let timer: NodeJS.Timeout | undefined;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      finish();
    };
    const onAbort = () => settle(() => reject(signal!.reason));
    const later = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(launch, ms);
    };
    function launch(): void {
      timer = undefined;
      if (settled) return;
      if (launched > 0 && Date.now() >= deadline) {
        // Out of time: the attempts still waiting decide, or the last failure stands.
        if (inFlight === 0) settle(() => reject(lastError));
        return;
      }
      // Another attempt beside one still waiting: told as a retry, with why.
      if (inFlight > 0) options.onRetry?.(new Error(`no answer within ${options.hedgeMs} ms; another attempt started beside it`), ++hedges);
      inFlight++;
      launched++;
      Promise.resolve()
        .then(attempt)
        .then(
          (value) => {
            inFlight--;
            if (settled) options.discard?.(value);
            else settle(() => resolve(value));
          },
          (err: unknown) => {
            inFlight--;
            failures++;
            lastError = err;
            if (settled) return;
            if (!retryable(err)) return settle(() => reject(err));
            if (inFlight === 0 && Date.now() >= deadline) return settle(() => reject(err));
            options.onRetry?.(err, failures);
            if (timer === undefined) later(backoff(failures - 1));
          },
        );
      if (inFlight < options.inFlightMax) later(options.hedgeMs);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    launch();
  });
}
