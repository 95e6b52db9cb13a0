import type { JsonValue } from "@bufbuild/protobuf";

/**
 * The JSON text of a record's values, as every encoder writes it: the text
 * JSON.stringify gives, but never a raw line break inside (U+2028, U+2029
 * and U+0085 escaped, which JSON.stringify leaves as they are and Python's
 * `str.splitlines()` splits a line at). Strings and values written as
 * JavaScript strings ({@link jsonLine}, {@link jsonString},
 * {@link jsonNumber}) and the same text written as bytes into a buffer
 * ({@link writeEscapedUtf8}, {@link writeFiniteNumber}), for the encoders
 * that transcode wire bytes straight into a record.
 */

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

/**
 * The JSON of a string exactly as {@link jsonLine} writes it: printable
 * ASCII without quote or backslash as it is, anything else through jsonLine
 * (its escapes, U+2028, U+2029 and U+0085 included).
 */
export function jsonString(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return jsonLine(text);
  }
  return `"${text}"`;
}

/** The JSON of a finite number (validated before): JSON.stringify writes it as String() does. */
export function jsonNumber(value: number): string {
  return `${value}`;
}

// JSON.stringify's short escapes; every other control character is \u00XX.
const SHORT_ESCAPE = new Uint8Array(0x60);
SHORT_ESCAPE[0x08] = 0x62; // \b
SHORT_ESCAPE[0x09] = 0x74; // \t
SHORT_ESCAPE[0x0a] = 0x6e; // \n
SHORT_ESCAPE[0x0c] = 0x66; // \f
SHORT_ESCAPE[0x0d] = 0x72; // \r
SHORT_ESCAPE[0x22] = 0x22; // \"
SHORT_ESCAPE[0x5c] = 0x5c; // \\
const HEX = Buffer.from("0123456789abcdef");

/**
 * The bytes the escapes of one ASCII byte add to a JSON string (0 for a
 * byte written as it is, 1 for a short escape such as \n, 5 for \u00XX):
 * what a transcoder counts to size a string before writing it.
 */
export function escapeExtraBytes(byte: number): number {
  if (byte >= 0x20 && byte !== 0x22 && byte !== 0x5c) return 0;
  return byte < 0x60 && SHORT_ESCAPE[byte] !== 0 ? 1 : 5;
}

/**
 * Writes the valid UTF-8 text `src[start..end)` into `out` at `op` as the
 * inside of a JSON string (no quotes), escaped as {@link jsonLine} escapes
 * it. `out` must have room for the escaped text. Returns the position after it.
 */
export function writeEscapedUtf8(src: Uint8Array, start: number, end: number, out: Buffer, op: number): number {
  for (let i = start; i < end; i++) {
    const b = src[i];
    if (b >= 0x20 && b !== 0x22 && b !== 0x5c) {
      if (b === 0xc2 && src[i + 1] === 0x85) {
        op = writeUnicodeEscape(out, op, 0x0085);
        i += 1;
      } else if (b === 0xe2 && src[i + 1] === 0x80 && (src[i + 2] === 0xa8 || src[i + 2] === 0xa9)) {
        op = writeUnicodeEscape(out, op, src[i + 2] === 0xa8 ? 0x2028 : 0x2029);
        i += 2;
      } else {
        out[op++] = b;
      }
      continue;
    }
    const short = b < 0x60 ? SHORT_ESCAPE[b] : 0;
    if (short !== 0) {
      out[op++] = 0x5c;
      out[op++] = short;
    } else {
      op = writeUnicodeEscape(out, op, b);
    }
  }
  return op;
}

/** Writes \uXXXX (lower-case hex, as JSON.stringify and jsonLine do); returns the position after it. */
export function writeUnicodeEscape(out: Buffer, op: number, code: number): number {
  out[op++] = 0x5c;
  out[op++] = 0x75;
  out[op++] = HEX[(code >> 12) & 15];
  out[op++] = HEX[(code >> 8) & 15];
  out[op++] = HEX[(code >> 4) & 15];
  out[op++] = HEX[code & 15];
  return op;
}

/** The most bytes {@link writeFiniteNumber} writes. */
export const NUMBER_BYTES_MAX = 32;

const POWERS_OF_TEN = [1, 10, 100, 1000, 10000, 100000, 1000000];

/**
 * Writes a finite number as JSON.stringify writes it (String(v)) into `out`
 * at `op`, which has room for {@link NUMBER_BYTES_MAX} bytes; returns the
 * position after it. Integers of int32 range and decimals of at most six
 * places are written without making a string.
 */
export function writeFiniteNumber(out: Buffer, op: number, v: number): number {
  if ((v | 0) === v) {
    // -0 included, written "0" as JSON.stringify does.
    let n = v | 0;
    if (n < 0) {
      out[op++] = 0x2d;
      n = -n;
    }
    let digits = 1;
    for (let rest = n; rest >= 10; rest = (rest / 10) | 0) digits++;
    op += digits;
    let at = op;
    do {
      out[--at] = 0x30 + (n % 10);
      n = (n / 10) | 0;
    } while (n !== 0);
    return op;
  }
  const decimal = writeShortDecimal(out, op, v);
  if (decimal >= 0) return decimal;
  const text = String(v);
  for (let i = 0; i < text.length; i++) out[op++] = text.charCodeAt(i);
  return op;
}

/**
 * Writes a non-integer with at most 6 decimals (such as 0.1234) without
 * String(v); -1 when it has more. If the decimal m / 10^k (k <= 6,
 * m < 10^15) rounds back to v, it is the text String(v) writes: a decimal
 * of at most 15 significant digits is the only one of that length that
 * rounds to its double, so it is the shortest, and for 1e-6 <= |v| < 1e21
 * String writes decimals in plain notation; the smallest such k leaves no
 * trailing zero.
 */
function writeShortDecimal(out: Buffer, op: number, v: number): number {
  const a = v < 0 ? -v : v;
  if (!(a >= 1e-6 && a < 1e9)) return -1;
  for (let k = 1; k <= 6; k++) {
    const scale = POWERS_OF_TEN[k];
    const m = Math.round(a * scale);
    if (m / scale !== a) continue;
    if (v < 0) out[op++] = 0x2d;
    let whole = Math.floor(m / scale);
    let fraction = m - whole * scale;
    let digits = 1;
    for (let rest = whole; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    op += digits;
    let at = op;
    do {
      out[--at] = 0x30 + (whole % 10);
      whole = Math.floor(whole / 10);
    } while (whole !== 0);
    out[op++] = 0x2e; // .
    op += k;
    at = op;
    for (let i = 0; i < k; i++) {
      out[--at] = 0x30 + (fraction % 10);
      fraction = Math.floor(fraction / 10);
    }
    return op;
  }
  return -1;
}
