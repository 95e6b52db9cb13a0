import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { jsonLine, jsonString } from "./json-text.js";
import { RUN_OPEN } from "./layout.js";

/**
 * The record body: the members between a record's timestamp and its seq, in
 * the record contract's order,
 *
 *   "event_type":<type>,"data":<data>[,"context":<context>][,"run":"<run>"]
 *
 * written here for every encoder (the catalog's general path, the typed
 * encoders, the Struct transcoder, the trust audit trail), and read back
 * here (the event type an append entry names).
 */

const TYPE_MEMBER = '"event_type":';
const DATA_MEMBER = ',"data":';
/** Between a body's data and its context. */
export const CONTEXT_MEMBER = ',"context":';
const EMPTY_OBJECT = "{}";

/**
 * How a body opens, up to its data (`"event_type":<type>,"data":`), from the
 * event type's JSON: made once per event type ({@link bodyOpenOf}), or once
 * for good by an encoder of one fixed type.
 */
export function bodyOpen(typeJson: string): string {
  return `${TYPE_MEMBER}${typeJson}${DATA_MEMBER}`;
}

/**
 * A body from its opening ({@link bodyOpen}) and the JSON texts of its data
 * and context. A context that is absent or empty (`{}`) is left out, as the
 * original module leaves it out.
 */
export function recordBody(open: string, dataJson: string, contextJson?: string): string {
  return contextJson === undefined || contextJson === EMPTY_OBJECT ? open + dataJson : `${open}${dataJson}${CONTEXT_MEMBER}${contextJson}`;
}

/** The body of an event from its values (validated before: finite numbers, bounded depth). */
export function bodyOf(eventType: string, data: JsonValue, context: JsonObject | undefined): string {
  return recordBody(bodyOpenOf(eventType), jsonLine(data), context === undefined || Object.keys(context).length === 0 ? undefined : jsonLine(context));
}

// The openings of event types seen recently: most events are of a few types.
const EVENT_TYPES_KEPT = 1024;
const bodyOpenCache = new Map<string, string>();

/** {@link bodyOpen} of an event type, remembered for the types that recur. */
export function bodyOpenOf(eventType: string): string {
  let open = bodyOpenCache.get(eventType);
  if (open === undefined) {
    open = bodyOpen(jsonString(eventType));
    if (bodyOpenCache.size >= EVENT_TYPES_KEPT) bodyOpenCache.clear();
    bodyOpenCache.set(eventType, open);
  }
  return open;
}

/** The body's closing member naming the event's run (`,"run":"exp-42"`); the id is checked to need no escaping (see runIdProblem in layout.ts). */
export function runMember(run: string): string {
  return `${RUN_OPEN}${run}"`;
}

/** A body closed by its run's member, or the body as it is for an event of no run. */
export function bodyInRun(body: string, run: string | undefined): string {
  return run === undefined ? body : body + runMember(run);
}

const BODY_TYPE_OPEN = `${TYPE_MEMBER}"`;

/**
 * The event type a record body (`"event_type":"<type>",...`, as
 * {@link recordBody} writes it) names; undefined when the text does not
 * open as a body does.
 */
export function eventTypeOfBody(body: string): string | undefined {
  if (!body.startsWith(BODY_TYPE_OPEN)) return undefined;
  const end = body.indexOf('"', BODY_TYPE_OPEN.length);
  if (end < 0) return undefined;
  const raw = body.slice(BODY_TYPE_OPEN.length, end);
  // A backslash: that quote may be escaped, so JSON reads the whole string (rare: types are names).
  return raw.includes("\\") ? readJsonString(body, BODY_TYPE_OPEN.length - 1) : raw;
}

/** The JSON string that opens at `open` in `text`, read by the JSON parser; undefined when it does not close. */
function readJsonString(text: string, open: number): string | undefined {
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22 /* " */) return JSON.parse(text.slice(open, i + 1)) as string;
  }
  return undefined;
}
