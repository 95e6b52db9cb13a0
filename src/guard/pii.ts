import type { JsonValue } from "@bufbuild/protobuf";
import { ServiceError } from "../errors.js";

/** What the PII guard does with personal or secret data: nothing, replace it, or refuse the event. */
export type PiiMode = "off" | "redact" | "reject";

/** Options of the PII guard. */
export interface PiiOptions {
  /** Default "redact". */
  mode: PiiMode;
  /** Key names whose values are always sensitive, matched as whole words of the key (`user_email`, `apiKey`). Default {@link defaultSensitiveKeys}. */
  sensitiveKeys: readonly string[];
}

/** Keys treated as sensitive by default. */
export const defaultSensitiveKeys: readonly string[] = Object.freeze([
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "api_key",
  "apikey",
  "access_key",
  "private_key",
  "authorization",
  "auth_header",
  "cookie",
  "session_id",
  "email",
  "e_mail",
  "ssn",
  "social_security",
  "phone",
  "phone_number",
  "mobile",
  "credit_card",
  "card_number",
  "iban",
  "date_of_birth",
  "dob",
]);

/** The marker that replaces a redacted value. */
export const REDACTED = "[REDACTED]";

// The domain of an e-mail address, matched right after an "@" (sticky), with
// every repetition bounded (RFC 5321 lengths) so no input makes it slow.
const EMAIL_DOMAIN = /[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}/y;
// RFC 5322 "atext" plus ".": what a local part is made of.
const LOCAL_CHARS = new Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~.-");

/**
 * Spans [start, end) of e-mail addresses in a text: found from each "@" by
 * looking at most 64 characters left and a bounded domain right, so the cost
 * is linear in the text (a regex scanning from every position is quadratic
 * on long hostile strings).
 */
function emailSpans(text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let at = text.indexOf("@");
  while (at !== -1) {
    let start = at;
    while (start > 0 && at - start < 64 && LOCAL_CHARS.has(text[start - 1])) start--;
    let next = at + 1;
    if (start < at) {
      EMAIL_DOMAIN.lastIndex = at + 1;
      const domain = EMAIL_DOMAIN.exec(text);
      if (domain) {
        next = at + 1 + domain[0].length;
        // Spans never overlap: the next search starts after this address.
        spans.push([Math.max(start, spans.length ? spans[spans.length - 1][1] : 0), next]);
      }
    }
    at = text.indexOf("@", next);
  }
  return spans;
}

// 13 to 19 digits, optionally grouped by single spaces or dashes.
const CARD = /\b\d(?:[ -]?\d){12,18}\b/g;
const MAYBE_CARD = /\d(?:[ -]?\d){12,18}/;

/** Splits a key into lower-case words: `userEmail`, `user-email`, `USER_EMAIL` -> ["user", "email"]. */
function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
}

/** Luhn checksum: true for plausible card numbers. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Redaction or rejection applied to one event's data and context. */
export type PiiGuard = (value: JsonValue | undefined, path: string, redacted: string[]) => JsonValue | undefined;

/**
 * Builds the PII guard: walks a JSON value at any depth; a value under a
 * sensitive key, a string holding an e-mail address, or a string holding a
 * Luhn-valid card number is personal data. In redact mode the value (or the
 * matched part of a string) becomes "[REDACTED]" and its path is added to
 * `redacted`; in reject mode the event is refused with INVALID_ARGUMENT naming
 * the path. Values are replaced in place (they are the request's own copies).
 */
export function createPiiGuard(options: PiiOptions): PiiGuard {
  const guard = buildPiiGuard(options);
  guardOptions.set(guard, { mode: options.mode, sensitiveKeys: [...options.sensitiveKeys] });
  return guard;
}

// The options each guard was built with: the Struct transcoder applies the same guard to wire bytes.
const guardOptions = new WeakMap<PiiGuard, PiiOptions>();

/** The options a guard made by {@link createPiiGuard} was built with (undefined for any other function). */
export function piiOptionsOf(guard: PiiGuard): PiiOptions | undefined {
  return guardOptions.get(guard);
}

function buildPiiGuard(options: PiiOptions): PiiGuard {
  if (options.mode === "off") return (value) => value;
  const sensitive = options.sensitiveKeys.map((k) => words(k)).filter((w) => w.length > 0);
  const keyCache = new Map<string, boolean>();
  const isSensitiveKey = (key: string): boolean => {
    let hit = keyCache.get(key);
    if (hit !== undefined) return hit;
    const w = words(key);
    hit = sensitive.some((s) => {
      for (let i = 0; i + s.length <= w.length; i++) if (s.every((part, j) => w[i + j] === part)) return true;
      return false;
    });
    if (keyCache.size < 10_000) keyCache.set(key, hit);
    return hit;
  };
  // The path of the value being looked at, as parts: joined only when
  // something is found, so clean events build no path strings at all.
  const parts: Array<string | number> = [];
  let base = "";
  const pathHere = () => base + parts.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
  const found = (why: string, redacted: string[]) => {
    const path = pathHere();
    if (options.mode === "reject") throw ServiceError.invalid(path, `${why}: personal or secret data is not logged (PII guard in reject mode)`);
    if (redacted[redacted.length - 1] !== path) redacted.push(path);
  };
  // Linear in the text: one pass to find addresses and one to replace card
  // numbers (rebuilding the string per match would be quadratic on long
  // hostile strings, and block the event loop).
  const scrubString = (text: string, redacted: string[]): string => {
    let out = text;
    const emails = out.includes("@") ? emailSpans(out) : [];
    if (emails.length > 0) {
      found("looks like an e-mail address", redacted);
      const pieces: string[] = [];
      let from = 0;
      for (const [start, end] of emails) {
        pieces.push(out.slice(from, start), REDACTED);
        from = end;
      }
      pieces.push(out.slice(from));
      out = pieces.join("");
    }
    if (MAYBE_CARD.test(out)) {
      let cards = false;
      out = out.replace(CARD, (m) => {
        if (!luhnValid(m.replace(/[ -]/g, ""))) return m;
        cards = true;
        return REDACTED;
      });
      if (cards) found("looks like a card number", redacted);
    }
    return out;
  };
  const walk = (value: JsonValue, redacted: string[]): JsonValue => {
    if (typeof value === "string") return scrubString(value, redacted);
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        parts.push(i);
        value[i] = walk(value[i], redacted);
        parts.pop();
      }
      return value;
    }
    for (const key of Object.keys(value)) {
      parts.push(key);
      if (isSensitiveKey(key) && value[key] !== null) {
        found("sensitive key", redacted);
        value[key] = REDACTED;
      } else {
        value[key] = walk(value[key], redacted);
      }
      parts.pop();
    }
    return value;
  };
  return (value, path, redacted) => {
    if (value === undefined) return value;
    base = path;
    parts.length = 0;
    return walk(value, redacted);
  };
}
