import { ID_OPEN, RUN_OPEN, SEQ_OPEN } from "./layout.js";
import { ScannedRecord, scanRecord } from "./scan.js";
/**
 * How a line of the log is framed and read back, for every reader of the
 * file (start-up recovery, replay, verify, the trust restore, the CLI). A
 * line is one JSON object and its "\n". Readers also accept what editors and
 * the original Python module leave behind: a UTF-8 byte order mark before
 * the file's first line, a "\r" before the newline (CRLF), and the bare
 * `NaN`, `Infinity` and `-Infinity` tokens that Python's `json.dumps` writes
 * by default. None of those is ever written by this service.
 */

const runScan = new ScannedRecord();

/** The run a line's record belongs to (its top-level "run" member), or undefined when it names none. */
export function runOfLine(line: Buffer): string | undefined {
  const { start, end } = lineText(line, 0, line.length);
  if (scanRecord(line, start, end, runScan)) return runScan.run(line);
  const parsed = parseRecordText(line.toString("utf8", start, end));
  return parsed.ok && typeof parsed.value.run === "string" ? parsed.value.run : undefined;
}

/**
 * {@link runOfLine} of a record held as text (the summary's records, from
 * the Reader or ReadEvents), without making bytes of it: the run member is
 * the last before the top-level `,"seq":` (after it come only a number and a
 * hex hash), and its id holds no quote, so it is found from the end. A
 * string inside data that looks like it cannot match: its quotes are
 * escaped. Lines of another layout are parsed.
 */
export function runOfRecordText(text: string): string | undefined {
  const seqKey = text.lastIndexOf(SEQ_OPEN);
  if (seqKey < 0 || !text.startsWith(ID_OPEN)) {
    const parsed = parseRecordText(text);
    return parsed.ok && typeof parsed.value.run === "string" ? parsed.value.run : undefined;
  }
  if (text.charCodeAt(seqKey - 1) !== 0x22 /* " */) return undefined;
  const open = text.lastIndexOf('"', seqKey - 2);
  if (open < RUN_OPEN.length - 1 || !text.startsWith(RUN_OPEN, open - RUN_OPEN.length + 1)) return undefined;
  return text.slice(open + 1, seqKey - 1);
}

/** The UTF-8 byte order mark. */
const BOM = [0xef, 0xbb, 0xbf] as const;
const CR = 0x0d;
const NUL = 0x00;

/**
 * The JSON text of a line: `line[start..end)` (no "\n") without a leading
 * byte order mark and without a CRLF's "\r". (A BOM belongs before a file's
 * first line only, but no JSON text starts with one, so it is dropped
 * wherever a file was joined to another.) Returns the new bounds.
 */
export function lineText(line: Buffer, start: number, end: number): { start: number; end: number } {
  if (end - start >= 3 && line[start] === BOM[0] && line[start + 1] === BOM[1] && line[start + 2] === BOM[2]) start += 3;
  if (end > start && line[end - 1] === CR) end -= 1;
  return { start, end };
}

/** {@link lineText} of a whole buffer, as a view of it. */
export function lineTextOf(line: Buffer): Buffer {
  const { start, end } = lineText(line, 0, line.length);
  return start === 0 && end === line.length ? line : line.subarray(start, end);
}

/** True when the bytes hold a NUL: JSON text never does (it must be escaped), so the bytes are padding a crash left, not a record. */
export function hasNul(bytes: Buffer): boolean {
  return bytes.indexOf(NUL) >= 0;
}

/** A line read as a record, or why it is not one. */
export type ParsedLine =
  | {
      ok: true;
      /** The record's members. */
      value: Record<string, unknown>;
      /** True when the line held the original module's NaN/Infinity tokens (read as those numbers). */
      nonFinite: boolean;
    }
  | { ok: false; reason: string };

/**
 * Parses a line's JSON text as a record (a JSON object). Tokens NaN,
 * Infinity and -Infinity outside strings, which Python writes for
 * non-finite floats, are read as those numbers and reported; anything else
 * that is not JSON is refused with the parser's reason.
 */
export function parseRecordText(text: string): ParsedLine {
  let value: unknown;
  let nonFinite = false;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const legacy = parseNonFinite(text);
    if (legacy === undefined) return { ok: false, reason: (err as Error).message };
    value = legacy;
    nonFinite = true;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { ok: false, reason: "not a JSON object" };
  return { ok: true, value: value as Record<string, unknown>, nonFinite };
}

/** {@link parseRecordText} of a line's bytes (framing removed as {@link lineTextOf} does). */
export function parseRecordLine(line: Buffer): ParsedLine {
  return parseRecordText(lineTextOf(line).toString("utf8"));
}

// A string no record holds, standing for a non-finite number while JSON.parse
// reads the line; written escaped, as JSON text holds no raw control characters.
const MARK = "\u0000pulse-non-finite\u0000";
const MARK_JSON = "\\u0000pulse-non-finite\\u0000";
const TOKENS: ReadonlyArray<readonly [string, number]> = [
  ["-Infinity", Number.NEGATIVE_INFINITY],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["NaN", Number.NaN],
];

/** JSON.parse of text that holds bare NaN/Infinity tokens; undefined when it has none or is still not JSON. */
function parseNonFinite(text: string): unknown {
  if (!/NaN|Infinity/.test(text)) return undefined;
  let out = "";
  let from = 0;
  let inString = false;
  let found = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    for (const [token] of TOKENS) {
      if (text.startsWith(token, i)) {
        out += `${text.slice(from, i)}"${MARK_JSON}${token}"`;
        i += token.length - 1;
        from = i + 1;
        found = true;
        break;
      }
    }
  }
  if (!found) return undefined;
  try {
    return JSON.parse(out + text.slice(from), (_key, v: unknown) => {
      if (typeof v !== "string" || !v.startsWith(MARK)) return v;
      return TOKENS.find(([token]) => token === v.slice(MARK.length))?.[1] ?? v;
    });
  } catch {
    return undefined;
  }
}
