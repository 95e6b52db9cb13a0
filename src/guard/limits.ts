/** Limits on what one event may contain. Each has a default; units are in the names. */
export interface EventLimits {
  /** Longest event_type, in characters. Default 128. */
  eventTypeCharsMax: number;
  /** Largest record (the JSON line), in bytes. Default 1 MiB. */
  recordBytesMax: number;
  /** Deepest nesting of objects and arrays in data or context. Default 32. */
  nestingDepthMax: number;
  /** Most events in one batch (LogBatch, one IngestEvents message). Default 10,000. */
  batchEventsMax: number;
}

/** The defaults of {@link EventLimits}. */
export const defaultEventLimits: Readonly<EventLimits> = Object.freeze({
  eventTypeCharsMax: 128,
  recordBytesMax: 1024 * 1024,
  nestingDepthMax: 32,
  batchEventsMax: 10_000,
});
