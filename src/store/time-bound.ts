import { formatTimestamp, parseTimestamp } from "../clock.js";

/**
 * A time a read is bounded by (since, until), compared with record
 * timestamps: on the text when the timestamp is in the canonical form the
 * store writes (`2026-11-24T19:05:53.700123+00:00`, which sorts as it
 * reads), else on parsed microseconds.
 */
export class TimeBound {
  private readonly text: string;
  private readonly bytes: Buffer;
  constructor(
    /** The bound, in microseconds since the epoch. */
    readonly micros: number,
  ) {
    this.text = formatTimestamp(micros);
    this.bytes = Buffer.from(this.text);
  }

  /** Like {@link compare}, on timestamp bytes chunk[start..end) (no copy when canonical). */
  compareBytes(chunk: Buffer, start: number, end: number): number {
    const c = chunk;
    if (end - start === 32 && c[start + 26] === 0x2b && c[start + 27] === 0x30 && c[start + 28] === 0x30 && c[start + 30] === 0x30 && c[start + 31] === 0x30) {
      return c.compare(this.bytes, 0, 32, start, end);
    }
    return this.compare(c.toString("utf8", start, end));
  }

  /** -1, 0 or 1 as the timestamp is before, at or after the bound; NaN when it does not parse. */
  compare(timestamp: string): number {
    if (timestamp.length === 32 && timestamp.endsWith("+00:00")) return timestamp < this.text ? -1 : timestamp > this.text ? 1 : 0;
    const m = parseTimestamp(timestamp);
    return Number.isNaN(m) ? Number.NaN : Math.sign(m - this.micros);
  }
}

const ISO_WITH_OFFSET = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses a time bound as a client or the command line gives it: a record
 * timestamp (2026-11-24T19:05:53.700123+00:00) or any ISO 8601 date-time
 * with an offset (seconds and fraction optional, Z or ±HH:MM). Returns
 * microseconds since the epoch, or undefined when the text is not such a time.
 */
export function parseTimeBound(text: string): number | undefined {
  const m = ISO_WITH_OFFSET.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}:${m[3] ?? "00"}${m[5]}`);
  if (Number.isNaN(ms)) return undefined;
  const micros = ms * 1000 + Number((m[4] ?? "").slice(0, 6).padEnd(6, "0"));
  return Number.isSafeInteger(micros) ? micros : undefined;
}
