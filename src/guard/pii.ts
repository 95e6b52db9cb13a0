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
const BEARER_HINT = /bearer/i;
// Payment cards start with 2 to 6 (ISO/IEC 7812's major industry
// identifier: 3 travel, 4 and 5 banking, 6 merchandising and banking, 2 the
// newer Mastercard range); numbers starting with 0, 1, 7, 8 or 9 are ids.
const CARD_FIRST_DIGITS = "23456";

// "Bearer <credential>" (RFC 6750's b64token), case-insensitive as HTTP's
// scheme names are. The credential is redacted, the word kept.
const BEARER = /\b(bearer)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)/gi;
// What a credential looks like, not prose ("bearer instrument"): a digit, or 20 characters.
const CREDENTIAL = /\d|^.{20}/;

/**
 * The last words of a value's path name an identifier or a quantity: a bare
 * run of digits there (`example_id: "4111111111111111"`, a 64-bit id or a
 * nanosecond time sent as a string) is an id, not a card number.
 */
const ID_WORDS = new Set(["id", "ids", "uid", "uuid", "guid", "seq", "step", "steps", "seed", "count", "hash", "checksum", "crc", "nonce", "offset", "index", "ts", "timestamp", "time", "nano", "nanos", "ns", "us", "ms", "epoch", "version"]);

/** Whether the key the value sits under (the path's last key; list indexes skipped) ends with an id or quantity word. */
function idLikePath(path: string): boolean {
  const key = path.replace(/(?:\[\d+\])+$/, "");
  const w = words(key.slice(key.lastIndexOf(".") + 1));
  return w.length > 0 && ID_WORDS.has(w[w.length - 1]);
}

/** Splits a key into lower-case words: `userEmail`, `user-email`, `USER_EMAIL` -> ["user", "email"]. */
function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
}

/** How the guard treats the value of a key; see {@link keyClassifier}. */
export type KeyClass = typeof KEY_PLAIN | typeof KEY_STRINGS | typeof KEY_ANY;
/** Not a sensitive key: its value is looked at like any other. */
export const KEY_PLAIN = 0;
/** A sensitive term inside the key (`token_count`, `secret_sauce_weight`): a string under it is redacted; numbers, booleans and null pass; objects and lists are walked. */
export const KEY_STRINGS = 1;
/** The key ends with a sensitive term (`token`, `access_token`, `userEmail`, `X-Api-Key`): any value but null or a boolean is redacted. */
export const KEY_ANY = 2;

/**
 * Classifies keys against the sensitive terms, by whole words (camelCase,
 * snake_case, kebab-case alike). A term that ends the key names what the
 * value is (`github_token`, `db_password`): {@link KEY_ANY}. A term inside
 * the key only qualifies it (`token_count`, `email_verified`,
 * `secret_sauce_weight`): {@link KEY_STRINGS}, because a count, a weight or a
 * flag is not the secret, while a string under such a key may be. Plurals
 * are other words (`max_tokens`, `num_tokens`): {@link KEY_PLAIN}.
 */
export function keyClassifier(sensitiveKeys: readonly string[]): (key: string) => KeyClass {
  const terms = sensitiveKeys.map((k) => words(k)).filter((w) => w.length > 0);
  return (key) => {
    const w = words(key);
    let found: KeyClass = KEY_PLAIN;
    for (const term of terms) {
      for (let i = 0; i + term.length <= w.length; i++) {
        if (!term.every((part, j) => w[i + j] === part)) continue;
        if (i + term.length === w.length) return KEY_ANY;
        found = KEY_STRINGS;
      }
    }
    return found;
  };
}

/** Why the guard redacted one field: its key, or its value, and the rule in words. */
export interface RedactionReason {
  field: string;
  matched: "key" | "value";
  rule: string;
}

/**
 * Why a field of this path was redacted, told from the path alone (the value
 * is gone): its last key, classified as the guard classifies keys, matched
 * when it is sensitive; otherwise a value rule did (the guard's only other
 * reason). Built only for redacted fields, for acks and warnings.
 */
export function redactionReason(field: string, classify: (key: string) => KeyClass): RedactionReason {
  const path = field.replace(/(?:\[\d+\])+$/, "");
  const key = path.slice(path.lastIndexOf(".") + 1);
  switch (classify(key)) {
    case KEY_ANY:
      return { field, matched: "key", rule: `the key "${key}" ends with a sensitive term: any value under it but null or a boolean is hidden` };
    case KEY_STRINGS:
      return { field, matched: "key", rule: `a sensitive term inside the key "${key}": a string under it is hidden (numbers pass)` };
    default:
      return { field, matched: "value", rule: "the value held an e-mail address, a card number (13 to 19 digits that pass Luhn) or a bearer credential" };
  }
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
 * Builds the PII guard: walks a JSON value at any depth. Personal or secret
 * data is: a value under a key that ends with a sensitive term, a string
 * under a key with a sensitive term inside it ({@link keyClassifier}); in
 * any string, an e-mail address, a bearer credential, or a card number (13
 * to 19 digits starting with 2 to 6 that pass Luhn, except a string of
 * bare digits under an id or quantity key). Numbers are never redacted for a
 * word inside their key: `token_count: 1024` is data. In redact mode the
 * value (or the matched part of a string) becomes "[REDACTED]" and its path
 * is added to `redacted`; in reject mode the event is refused with
 * INVALID_ARGUMENT naming the path and the rule. Values are replaced in
 * place (they are the request's own copies).
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
  const classify = keyClassifier(options.sensitiveKeys);
  const keyCache = new Map<string, KeyClass>();
  const keyClass = (key: string): KeyClass => {
    let hit = keyCache.get(key);
    if (hit !== undefined) return hit;
    hit = classify(key);
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
      found("looks like an e-mail address (a value rule: local@domain.tld)", redacted);
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
      let idPlace: boolean | undefined;
      out = out.replace(CARD, (m: string, offset: number, whole: string) => {
        const digits = m.replace(/[ -]/g, "");
        if (!CARD_FIRST_DIGITS.includes(digits[0]) || !luhnValid(digits)) return m;
        // A string that is nothing but digits, under an id key, is the id
        // (the path is built only here: rare).
        if (m.length === whole.length && digits.length === m.length && (idPlace ??= idLikePath(pathHere()))) return m;
        cards = true;
        return REDACTED;
      });
      if (cards) found("looks like a card number (a value rule: 13 to 19 digits from 2 to 6 that pass Luhn)", redacted);
    }
    if (BEARER_HINT.test(out)) {
      let bearer = false;
      out = out.replace(BEARER, (m, word: string, space: string, credential: string) => {
        if (!CREDENTIAL.test(credential)) return m;
        bearer = true;
        return `${word}${space}${REDACTED}`;
      });
      if (bearer) found('looks like a bearer credential (a value rule: "Bearer" and a token)', redacted);
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
      const cls = keyClass(key);
      const v = value[key];
      // null and booleans carry no secret; a number does only under a key that names it.
      if (cls !== KEY_PLAIN && v !== null && typeof v !== "boolean" && (cls === KEY_ANY || typeof v === "string")) {
        found(
          cls === KEY_ANY
            ? `sensitive key "${key}" (the key names secret or personal data: any value under it is hidden)`
            : `sensitive key "${key}" holding a string (a sensitive word inside the key: strings are hidden, numbers pass)`,
          redacted,
        );
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
