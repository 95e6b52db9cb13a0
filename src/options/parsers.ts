import { OptionValueError } from "./option-table.js";

/** A whole number > 0. */
export function positiveInt(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(n) || n <= 0) throw new OptionValueError("must be a positive integer");
  return n;
}

/** One of the given words. */
export function oneOf<const W extends string>(...words: W[]): (text: string) => W {
  return (text) => {
    if (!(words as string[]).includes(text)) throw new OptionValueError(`must be one of ${words.join(", ")}`);
    return text as W;
  };
}

/** "on" or "off", as a boolean. */
export function onOff(text: string): boolean {
  if (text !== "on" && text !== "off") throw new OptionValueError("must be on or off");
  return text === "on";
}

const HOST_PORT = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/;

/** Splits host:port (IPv6 in brackets), or undefined when malformed. */
export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const m = HOST_PORT.exec(address);
  const port = m ? Number(m[2]) : NaN;
  return m && port <= 65535 ? { host: m[1], port } : undefined;
}

/** HOST:PORT (IPv6 in brackets), kept as text. A port beyond 65535 is named as such, not as a malformed address. */
export function hostPort(text: string): string {
  if (splitHostPort(text) !== undefined) return text;
  const port = HOST_PORT_ANY_DIGITS.exec(text)?.[1];
  if (port !== undefined) throw new OptionValueError(`must be HOST:PORT with a port from 0 to 65535; port ${port} is out of range`);
  throw new OptionValueError("must be HOST:PORT");
}

// An address whose only fault can be the size of its port.
const HOST_PORT_ANY_DIGITS = /^(?:\[[^\]]+\]|[^:]+):(\d+)$/;

/** A non-empty text (a path, a name). */
export function nonEmpty(text: string): string {
  if (text === "") throw new OptionValueError("must not be empty");
  return text;
}

/** Comma-separated words, trimmed, empty ones dropped. */
export function commaList(text: string): readonly string[] {
  return Object.freeze(text.split(",").map((k) => k.trim()).filter((k) => k !== ""));
}
