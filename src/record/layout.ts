/**
 * The layout of a line this service writes: the record contract's keys in
 * order, seq last but for the chain's hash:
 *
 *   {"event_id":"<uuid>","timestamp":"<iso>","event_type":"<type>",<data, context>[,"run":"<run>"],"seq":N[,"hash":"<64 hex>"]}
 *
 * The line is written here (the body by body.ts, the hash trailer by
 * hash-trailer.mjs) and read back by position by scan.ts: several times
 * cheaper than JSON.parse; lines of any other layout take the parser.
 */

/** How every line this service writes starts. */
export const ID_OPEN = '{"event_id":"';
/** Between event_id and timestamp, and between timestamp and event_type. */
export const TS_OPEN = '","timestamp":"';
export const TYPE_OPEN = '","event_type":"';
/** Before seq, and before the chain's hash (seq's only follower). */
export const SEQ_OPEN = ',"seq":';
/** The chain's hash trailer follows seq (defined in hash-trailer.mjs, which the hash chain's worker shares). */
export { HASH_OPEN } from "./hash-trailer.mjs";
/** Before the run's id: the body's last member when the event belongs to a run. */
export const RUN_OPEN = ',"run":"';

/** {@link ID_OPEN} as bytes, for scanning. */
export const ID_PREFIX = Buffer.from(ID_OPEN);

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

/** {@link recordPrefix} without the seq's digits (`...,"seq":`): for a writer that writes the seq itself. */
export function recordUpToSeq(eventId: string, head: string, body: string): string {
  return `${ID_OPEN}${eventId}${head}${body}${SEQ_OPEN}`;
}

/**
 * A record without seq, as a JSON object of its own
 * (`{"event_id":..,"timestamp":..,<body>}`): how earlier versions stored a
 * record in a JetStream message, whose stream sequence is its seq.
 */
export function unsequencedRecord(eventId: string, timestamp: string, body: string): string {
  return `${ID_OPEN}${eventId}${recordHead(timestamp)}${body}}`;
}

/** A record object's text with seq added as its last member: `{...}` -> `{...,"seq":N}` (an empty object gets no leading comma). */
export function withSeqMember(text: string, seq: number): string {
  const open = text.slice(0, -1).trimEnd();
  return `${open}${open.endsWith("{") ? "" : ","}"seq":${seq}}`;
}

/**
 * The bytes every record of a run holds where its body ends
 * (`,"run":"<id>","seq":`): a reader that wants a few runs searches for
 * these to pass over the lines of other runs.
 */
export function runSeqMarker(run: string): Buffer {
  return Buffer.from(`${RUN_OPEN}${run}"${SEQ_OPEN}`);
}

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

