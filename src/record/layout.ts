/**
 * The layout of a line this service writes: the record contract's keys in
 * order, seq last but for the chain's hash:
 *
 *   {"event_id":"<uuid>","timestamp":"<iso>","event_type":"<type>",<data, context>[,"run":"<run>"],"seq":N[,"hash":"<64 hex>"]}
 *
 * Finding the identity fields of such a line by position is several times
 * cheaper than JSON.parse; lines of any other layout take the parser.
 */

/** How every line this service writes starts. */
export const ID_OPEN = '{"event_id":"';
/** Between event_id and timestamp, and between timestamp and event_type. */
export const TS_OPEN = '","timestamp":"';
export const TYPE_OPEN = '","event_type":"';
/** Before seq, and before the chain's hash (seq's only follower). */
export const SEQ_OPEN = ',"seq":';
export const HASH_OPEN = ',"hash":"';
/** Before the run's id: the body's last member when the event belongs to a run. */
export const RUN_OPEN = ',"run":"';

/** The same, as bytes, for scanning. */
export const ID_PREFIX = Buffer.from(ID_OPEN);
const TS_KEY = Buffer.from(TS_OPEN);
const TYPE_KEY = Buffer.from(TYPE_OPEN);
const SEQ_KEY = Buffer.from(SEQ_OPEN);
const HASH_KEY = Buffer.from(HASH_OPEN);
const RUN_KEY = Buffer.from(RUN_OPEN);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function matchAt(buf: Buffer, pos: number, end: number, pattern: Buffer): boolean {
  if (pos < 0 || pos + pattern.length > end) return false;
  for (let i = 0; i < pattern.length; i++) if (buf[pos + i] !== pattern[i]) return false;
  return true;
}

/** Where {@link scanRecord} found the fields of the last line it read (reused: no allocation per line). `runStart` is -1 when the record names no run. */
export const scanned = { seq: 0, idEnd: 0, tsStart: 0, tsEnd: 0, typeStart: 0, typeEnd: 0, runStart: -1, runEnd: -1 };

/**
 * Reads a line (`line[start..end)`, no newline) in this service's own layout
 * without JSON.parse: the keys come in the record contract's order, so the
 * identity fields are at known places and seq is the last key (or followed
 * only by "hash"). Fills {@link scanned} and returns true; false when the line
 * needs JSON.parse (the original module's spacing, escapes in event_type,
 * unknown trailing keys, damage).
 */
export function scanRecord(line: Buffer, start: number, end: number): boolean {
  if (end - start < ID_PREFIX.length || !matchAt(line, start, end, ID_PREFIX) || line[end - 1] !== 0x7d /* } */) return false;
  const idEnd = line.indexOf(QUOTE, start + ID_PREFIX.length);
  if (idEnd < 0 || !matchAt(line, idEnd, end, TS_KEY)) return false;
  const tsStart = idEnd + TS_KEY.length;
  const tsEnd = line.indexOf(QUOTE, tsStart);
  if (tsEnd < 0 || !matchAt(line, tsEnd, end, TYPE_KEY)) return false;
  const typeStart = tsEnd + TYPE_KEY.length;
  const typeEnd = line.indexOf(QUOTE, typeStart);
  if (typeEnd < 0 || typeEnd >= end) return false;
  for (let i = typeStart; i < typeEnd; i++) if (line[i] === BACKSLASH) return false;
  // seq: `,"seq":N}` or `,"seq":N,"hash":"..."}` at the end.
  let digitsEnd = end - 1;
  if (line[end - 2] === QUOTE) {
    const open = line.lastIndexOf(QUOTE, end - 3);
    const hashKey = open - (HASH_KEY.length - 1);
    if (open <= typeEnd || !matchAt(line, hashKey, end, HASH_KEY)) return false;
    digitsEnd = hashKey;
  }
  let i = digitsEnd - 1;
  let seq = 0;
  let scale = 1;
  while (i > typeEnd && line[i] >= 48 && line[i] <= 57 && digitsEnd - i <= 15) {
    seq += (line[i] - 48) * scale;
    scale *= 10;
    i--;
  }
  const seqKey = i + 1 - SEQ_KEY.length;
  if (i === digitsEnd - 1 || !matchAt(line, seqKey, end, SEQ_KEY)) return false;
  // The run, when the body ends with it: data and context end with "}", a run's id (no quote or backslash in it) with '"'.
  let runStart = -1;
  let runEnd = -1;
  if (line[seqKey - 1] === QUOTE) {
    const open = line.lastIndexOf(QUOTE, seqKey - 2);
    if (open > typeEnd && matchAt(line, open - (RUN_KEY.length - 1), end, RUN_KEY)) {
      runStart = open + 1;
      runEnd = seqKey - 1;
    }
  }
  scanned.seq = seq;
  scanned.runStart = runStart;
  scanned.runEnd = runEnd;
  scanned.idEnd = idEnd;
  scanned.tsStart = tsStart;
  scanned.tsEnd = tsEnd;
  scanned.typeStart = typeStart;
  scanned.typeEnd = typeEnd;
  return true;
}

/**
 * What every record of one append shares after its event_id: the timestamp
 * and the opening of the body (made once per append, not per record).
 */
export function recordHead(timestamp: string): string {
  return `${TS_OPEN}${timestamp}",`;
}

/**
 * A record up to and including its seq: `{"event_id":..,"timestamp":..,<body>,"seq":N`.
 * `body` is the members between timestamp and seq (`"event_type":..,"data":..[,"context":..]`).
 * The line ends with {@link RECORD_END}, or with the chain's hash trailer (the sealer's).
 */
export function recordPrefix(eventId: string, head: string, body: string, seq: number): string {
  return `${ID_OPEN}${eventId}${head}${body}${SEQ_OPEN}${seq}`;
}

/** The body's closing member naming the event's run (`,"run":"exp-42"`); the id is checked to need no escaping ({@link isRunId}). */
export function runMember(run: string): string {
  return `${RUN_OPEN}${run}"`;
}

/** The event type a record body (`"event_type":"<type>",...`, as the event writer makes it) names. */
export function eventTypeOfBody(body: string): string {
  const start = BODY_TYPE_OPEN.length;
  let end = start;
  let escaped = false;
  for (; end < body.length; end++) {
    const c = body.charCodeAt(end);
    if (c === 0x22) break;
    if (c === 0x5c) {
      escaped = true;
      end++;
    }
  }
  // An escaped type (rare: quotes, controls) is read by the JSON parser.
  return escaped ? (JSON.parse(body.slice(start - 1, end + 1)) as string) : body.slice(start, end);
}
const BODY_TYPE_OPEN = '"event_type":"';

/** Longest run id, in characters. */
export const RUN_ID_CHARS_MAX = 128;

/**
 * Why `run` is not a run id, or undefined when it is one: 1 to
 * {@link RUN_ID_CHARS_MAX} printable ASCII characters other than '"' and
 * '\', so that it is written as it is and found again by position.
 */
export function runIdProblem(run: string): string | undefined {
  if (run.length === 0) return "must not be empty";
  if (run.length > RUN_ID_CHARS_MAX) return `longer than ${RUN_ID_CHARS_MAX} characters`;
  for (let i = 0; i < run.length; i++) {
    const c = run.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return `must be printable ASCII (character ${i + 1} is U+${c.toString(16).toUpperCase().padStart(4, "0")})`;
    if (c === 0x22 || c === 0x5c) return `must not contain '"' or '\\' (character ${i + 1})`;
  }
  return undefined;
}

/** How a record without the hash chain ends. */
export const RECORD_END = "}\n";

