import type { AppendEntry } from "./store.js";

/** Where a client-chosen event_id already is: stored (and remembered by the window) or in flight in this process. */
export type KnownId<T> = { readonly stored: { readonly seq: number; readonly timestamp: string }; readonly inFlight?: undefined } | { readonly stored?: undefined; readonly inFlight: T };

/**
 * Exactly-once for client-chosen event_ids, the one rule both stores follow
 * (the `LogStore.append` contract): an id the window remembers is answered
 * with its record; an id in flight in this process (earlier in the same
 * call, or in a call whose write is not yet durable) is answered with, or
 * waits for, the entry in flight; only an unknown id is written. Ids the
 * server made up cannot be retries: they are never looked up or held.
 * `T` is what a store keeps of an entry in flight (the file store its seq and
 * timestamp, the JetStream writer the slot that waits for its publish).
 */
export class KnownIds<T> {
  private readonly inFlight = new Map<string, T>();

  constructor(private readonly window: { get(eventId: string): { seq: number; timestamp: string } | undefined }) {}

  /** Where the entry's id already is; undefined when it must be written (or was made up by the server). */
  lookup(entry: AppendEntry): KnownId<T> | undefined {
    if (!entry.clientChosenId) return undefined;
    const stored = this.window.get(entry.eventId);
    if (stored !== undefined) return { stored };
    const inFlight = this.inFlight.get(entry.eventId);
    return inFlight === undefined ? undefined : { inFlight };
  }

  /** The entry is being written: later repeats of its id find `value` until it is released. */
  hold(entry: AppendEntry, value: T): void {
    if (entry.clientChosenId) this.inFlight.set(entry.eventId, value);
  }

  /** What is in flight under this id, if anything. */
  inFlightOf(eventId: string): T | undefined {
    return this.inFlight.get(eventId);
  }

  /** The id's write ended (durable, so the window has it, or failed): released, but only while `value` still holds it when given. */
  release(eventId: string, value?: T): void {
    if (value === undefined || this.inFlight.get(eventId) === value) this.inFlight.delete(eventId);
  }

  /** Every write in flight ended (failed together). */
  releaseAll(): void {
    this.inFlight.clear();
  }
}
