import { formatTimestamp } from "../clock.js";
import { parseTimeBound } from "../store/time-bound.js";
import { CliError, ExitCode } from "./exit-codes.js";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * Reads a time given on the command line, for --since and --until: an ISO
 * 8601 time with offset (as in the records), a UTC date (2026-11-24, midnight
 * UTC), or a duration ago (90s, 15m, 2h, 7d, 1w). Returns the canonical record
 * timestamp text, which the server and the Reader both accept.
 */
export function parseCliTime(flag: string, text: string, nowMicros = Date.now() * 1000): string {
  const ago = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (ago) return formatTimestamp(Math.round(nowMicros - Number(ago[1]) * UNITS[ago[2]] * 1_000_000));
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const micros = parseTimeBound(`${text}T00:00Z`);
    if (micros !== undefined) return formatTimestamp(micros);
  }
  const micros = parseTimeBound(text);
  if (micros === undefined) {
    throw new CliError(ExitCode.usage, `${flag} "${text}": use an ISO time with offset (2026-11-24T19:05:53Z), a date (2026-11-24, UTC) or a duration ago (15m, 2h, 7d)`);
  }
  return formatTimestamp(micros);
}

/** Microseconds of a canonical timestamp made by {@link parseCliTime}. */
export function cliTimeMicros(text: string): number {
  return parseTimeBound(text)!;
}
