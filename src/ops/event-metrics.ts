import { status } from "@grpc/grpc-js";
import { Counter, type Registry } from "prom-client";
import { ServiceError } from "../errors.js";
import { eventTypeOfBody as eventTypeOfRecordBody } from "../record/body.js";
import type { AppendEntry, AppendResult, LogStore } from "../store/store.js";

/** The event_type value that types past the label limit are counted under. */
export const OTHER_EVENT_TYPES = "_other";

/** Default most distinct event_type label values (see {@link EventMetricsOptions.eventTypesMax}). */
export const EVENT_TYPES_MAX = 200;

/**
 * Why events were refused (the reason label): the gRPC code the writer of
 * the event got, in lower case. invalid_argument: a field failed validation
 * or a size limit; resource_exhausted: the store's queue or the disk was
 * full; unavailable: the store failed the write or was closing; internal:
 * anything else (a bug, logged with its cause).
 */
export type RejectReason = "invalid_argument" | "resource_exhausted" | "unavailable" | "internal";

/** The reason label of a status code. */
export function rejectReason(code: number): RejectReason {
  switch (code) {
    case status.INVALID_ARGUMENT:
      return "invalid_argument";
    case status.RESOURCE_EXHAUSTED:
      return "resource_exhausted";
    case status.UNAVAILABLE:
      return "unavailable";
    default:
      return "internal";
  }
}

/** What the event writer refused before the store, and what it redacted: the event writer's observer. */
export interface EventOutcomeObserver {
  /** `events` events were refused with this status code before reaching the store (validation, size limits, the PII guard in reject mode). */
  rejected(code: number, events: number): void;
  /** The PII guard redacted fields of one event of this type. */
  redacted(eventType: string): void;
}

/** Options of {@link EventMetrics}. */
export interface EventMetricsOptions {
  /**
   * Most distinct event_type label values; later types are counted under
   * `_other`. Event types are chosen by clients: without a bound, each new
   * one would be a series held for the life of the process. Default 200.
   */
  eventTypesMax?: number;
}

/** The event_type label of an append entry, read from the start of its body (src/record/body.ts); `_other` when it names none. */
export function eventTypeOfBody(body: string): string {
  return eventTypeOfRecordBody(body) ?? OTHER_EVENT_TYPES;
}

/** What one append carried, counted as it is handed to the store: nothing of the entries is held while it waits. */
interface Tally {
  /** Entries per event type. */
  byType: Map<string, number>;
  /** [index, type] of the entries with a client-chosen event_id: only those can come back as duplicates. */
  chosen: Array<[number, string]> | undefined;
  /** How many entries. */
  entries: number;
}

/**
 * Events by outcome, on the server's registry: written by event type (once
 * durable), duplicates by event type, rejected by reason, redacted by event
 * type. What became durable, what was a duplicate and what the store refused
 * is counted at the store ({@link EventMetrics.observe}): every record,
 * whoever wrote it, trust audit records included. What the event writer
 * refused before the store, and redactions, come from the writer
 * ({@link EventMetrics.writer}).
 */
export class EventMetrics {
  private readonly written: Counter<"event_type">;
  private readonly duplicates: Counter<"event_type">;
  private readonly rejected: Counter<"reason">;
  private readonly redacted: Counter<"event_type">;
  /** The event types given a label of their own so far. */
  private readonly types = new Set<string>();
  private readonly typesMax: number;

  constructor(registers: Registry[], options: EventMetricsOptions = {}) {
    this.typesMax = options.eventTypesMax ?? EVENT_TYPES_MAX;
    if (!Number.isInteger(this.typesMax) || this.typesMax < 1) throw new RangeError(`eventTypesMax must be a positive integer; got ${this.typesMax}`);
    const labelNames = ["event_type"] as const;
    this.written = new Counter({ name: "pulse_events_written_total", help: "Events durably written, by event_type (audit records of trust operations included; duplicates not).", labelNames, registers });
    this.duplicates = new Counter({
      name: "pulse_events_duplicate_total",
      help: "Events answered as duplicates of an event_id already in the log (nothing new written), by event_type.",
      labelNames,
      registers,
    });
    this.rejected = new Counter({ name: "pulse_events_rejected_total", help: "Events refused (nothing written), by reason: the gRPC code their writer got, in lower case.", labelNames: ["reason"], registers });
    this.redacted = new Counter({ name: "pulse_events_redacted_total", help: "Events the PII guard redacted fields of, by event_type.", labelNames, registers });
    for (const reason of ["invalid_argument", "resource_exhausted", "unavailable", "internal"] satisfies RejectReason[]) this.rejected.inc({ reason }, 0);
  }

  /** The event_type label of a type: itself while under the limit, else `_other`. */
  private label(eventType: string): string {
    if (this.types.has(eventType)) return eventType;
    if (this.types.size >= this.typesMax) return OTHER_EVENT_TYPES;
    this.types.add(eventType);
    return eventType;
  }

  /** The event writer's observer (EventWriter's last constructor argument): refusals before the store, redactions. */
  readonly writer: EventOutcomeObserver = {
    rejected: (code, events) => this.rejected.inc({ reason: rejectReason(code) }, events),
    redacted: (eventType) => this.redacted.inc({ event_type: this.label(eventType) }),
  };

  /**
   * The store, with its appends counted: written (or duplicate) by event
   * type once durable, rejected by reason when the store refuses them.
   * Everything else is the store's own.
   */
  observe(store: LogStore): LogStore {
    const append: LogStore["append"] = (entries, options) => {
      const tally = tallyOf(entries);
      // Only the tally waits for the fsync: holding the entries would keep every record's body alive until then (measured: twice the GC time).
      return store.append(entries, options).then(
        (results) => {
          this.settle(tally, results);
          return results;
        },
        (err: unknown) => {
          this.rejected.inc({ reason: rejectReason(ServiceError.from(err).code) }, tally.entries);
          throw err;
        },
      );
    };
    return {
      append,
      get lastSeq() {
        return store.lastSeq;
      },
      onCommit: (listener) => store.onCommit(listener),
      get records() {
        return store.records;
      },
      get integrity() {
        return store.integrity;
      },
      close: () => store.close(),
    };
  }

  private settle({ byType, chosen }: Tally, results: readonly AppendResult[]): void {
    for (const [i, type] of chosen ?? []) {
      if (!results[i]?.duplicate) continue;
      byType.set(type, byType.get(type)! - 1);
      this.duplicates.inc({ event_type: this.label(type) });
    }
    for (const [type, n] of byType) if (n > 0) this.written.inc({ event_type: this.label(type) }, n);
  }
}

function tallyOf(entries: readonly AppendEntry[]): Tally {
  const byType = new Map<string, number>();
  let chosen: Tally["chosen"];
  for (let i = 0; i < entries.length; i++) {
    // The type the writer had at hand when it gave it (a body written as bytes is then never decoded for it).
    const type = entries[i].eventType ?? eventTypeOfBody(entries[i].body);
    byType.set(type, (byType.get(type) ?? 0) + 1);
    if (entries[i].clientChosenId) (chosen ??= []).push([i, type]);
  }
  return { byType, chosen, entries: entries.length };
}
