import type { JsonValue } from "@bufbuild/protobuf";

// JSON.stringify leaves these unescaped; Python's str.splitlines() (and some
// other line readers) would split a record at them.
const HAS_LINE_BREAK = /[\u2028\u2029\u0085]/;
const LINE_BREAKS = /[\u2028\u2029\u0085]/g;
const escapeLineBreak = (c: string) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");

/**
 * Serializes a JSON value for one JSONL line: never a raw line break inside.
 * Values are validated before (finite numbers, bounded depth), so this cannot
 * meet NaN or overflow the stack.
 */
export function jsonLine(value: JsonValue | undefined): string {
  const text = JSON.stringify(value ?? null);
  return HAS_LINE_BREAK.test(text) ? text.replace(LINE_BREAKS, escapeLineBreak) : text;
}
