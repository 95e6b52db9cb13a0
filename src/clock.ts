/** Source of wall-clock time, injectable so tests control timestamps. */
export interface Clock {
  /** Microseconds since the Unix epoch. */
  nowMicros(): number;
}

/**
 * The system clock with microsecond resolution: Date.now() gives only
 * milliseconds, so the monotonic high-resolution timer supplies the rest.
 */
export const systemClock: Clock = {
  nowMicros: () => Math.floor((performance.timeOrigin + performance.now()) * 1000),
};

/**
 * The clock's time in Unix seconds (a float with microseconds), the unit of
 * the trust tracker's history, its audit records and the original module's
 * trust export format: trust code converts here, and only here.
 */
export function nowSeconds(clock: Clock): number {
  return clock.nowMicros() / 1e6;
}

const pad2 = (n: number) => (n < 10 ? "0" : "") + n;

/**
 * Formats microseconds since the epoch exactly like Python's
 * `datetime.now(timezone.utc).isoformat()`, the original module's timestamps:
 * `2026-11-24T19:05:53.700123+00:00`. Unlike Python we always write the six
 * fractional digits, so every record has the same shape.
 */
export function formatTimestamp(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const d = new Date(ms);
  const frac = String(micros - Math.floor(micros / 1_000_000) * 1_000_000).padStart(6, "0");
  return (
    d.getUTCFullYear() +
    "-" +
    pad2(d.getUTCMonth() + 1) +
    "-" +
    pad2(d.getUTCDate()) +
    "T" +
    pad2(d.getUTCHours()) +
    ":" +
    pad2(d.getUTCMinutes()) +
    ":" +
    pad2(d.getUTCSeconds()) +
    "." +
    frac +
    "+00:00"
  );
}

/** Parses a record timestamp back to microseconds since the epoch. */
export function parseTimestamp(text: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return Number.NaN;
  const base = Date.parse(m[1] + (m[3] === "Z" ? "Z" : m[3]));
  const frac = Number((m[2] ?? "").padEnd(6, "0"));
  return base * 1000 + frac;
}
