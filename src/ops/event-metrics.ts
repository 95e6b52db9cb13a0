import { status } from "@grpc/grpc-js";
import { Counter, type Registry } from "prom-client";

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

/**
 * What happened to the events the event writer handled: the event writer's
 * observer. Told once per event type per batch, not per event.
 */
export interface EventOutcomeObserver {
  /** `events` events of this type became durable records. */
  written(eventType: string, events: number): void;
  /** An event of this type was answered as a duplicate of an event_id the log holds: nothing new written. */
  duplicate(eventType: string): void;
  /** `events` events were refused with this status code: by validation, a size limit or the PII guard, or by the store (queue or disk full, storage failure). */
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

/**
 * Events by outcome, on the server's registry: written by event type (once
 * durable), duplicates by event type, rejected by reason, redacted by event
 * type. Fed by the event writer, which every event of the service goes
 * through ({@link EventMetrics.writer}); the records the trust tracker
 * writes for its own audit trail do not pass it (they are in
 * pulse_log_events_written_total).
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
    this.written = new Counter({ name: "pulse_events_written_total", help: "Events durably written through the service, by event_type (duplicates not).", labelNames, registers });
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

  /** The event writer's observer (EventWriter's last constructor argument). */
  readonly writer: EventOutcomeObserver = {
    written: (eventType, events) => this.written.inc({ event_type: this.label(eventType) }, events),
    duplicate: (eventType) => this.duplicates.inc({ event_type: this.label(eventType) }),
    rejected: (code, events) => this.rejected.inc({ reason: rejectReason(code) }, events),
    redacted: (eventType) => this.redacted.inc({ event_type: this.label(eventType) }),
  };
}
