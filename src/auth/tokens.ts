import { createHash, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { roles, type Role } from "./roles.js";

/** Who a token belongs to. Never holds the token itself. */
export interface Principal {
  /** The token's name in the tokens file (for the server log). */
  readonly name: string;
  /** What the token may do: one role or several (a trainer that writes events and reads trust). */
  readonly roles: readonly Role[];
}

/** Checks bearer tokens in constant time; holds only their SHA-256 digests. */
export interface TokenVerifier {
  /** The principal of a presented token, or undefined. */
  verify(token: string): Principal | undefined;
  /** How many tokens are configured. */
  readonly size: number;
}

interface Entry {
  digest: Buffer;
  principal: Principal;
}

const digest = (token: string) => createHash("sha256").update(token, "utf8").digest();

/**
 * Builds a verifier. Every presented token is hashed and compared with every
 * configured digest using timingSafeEqual, without stopping at a match, so the
 * time taken says nothing about which token matched or how much of it.
 */
export function createTokenVerifier(entries: ReadonlyArray<{ name: string; roles: readonly Role[]; token: string }>): TokenVerifier {
  const list: Entry[] = entries.map((e) => ({ digest: digest(e.token), principal: Object.freeze({ name: e.name, roles: Object.freeze([...e.roles]) }) }));
  return {
    size: list.length,
    verify(token) {
      const presented = digest(token);
      let found: Principal | undefined;
      for (const e of list) {
        if (timingSafeEqual(presented, e.digest) && found === undefined) found = e.principal;
      }
      return found;
    },
  };
}

/** Thrown for an unreadable or malformed tokens file; the message never contains a token. */
export class TokensFileError extends Error {
  override readonly name = "TokensFileError";
}

/** The shortest token accepted, in characters. */
const TOKEN_CHARS_MIN = 16;

/** The keys a tokens-file entry may have (anything else is a typo worth refusing in a file of secrets). */
const ENTRY_KEYS: ReadonlySet<string> = new Set(["name", "role", "roles", "token"]);

/**
 * A value from a tokens file, fit for an error message: strings as short as
 * no token may be are shown, anything longer could be a misplaced token.
 */
function shown(value: unknown): string {
  if (typeof value === "string") return value.length < TOKEN_CHARS_MIN ? JSON.stringify(value) : `a string of ${value.length} characters (not shown: it could be a token)`;
  return value === null || typeof value !== "object" ? String(value) : Array.isArray(value) ? "a list" : "an object";
}

/**
 * Checks one entry of a tokens file. Every message names the file and the
 * entry (its position, and its name once known) and never contains a token.
 */
function parseEntry(e: unknown, index: number, names: Set<string>, path: string): { name: string; roles: Role[]; token: string } {
  let which = `tokens file ${path} entry ${index}`;
  const fail = (problem: string) => new TokensFileError(`${which}: ${problem}`);
  if (typeof e !== "object" || e === null || Array.isArray(e)) throw fail(`must be an object like {"name": "...", "role": "writer", "token": "..."}`);
  const entry = e as Record<string, unknown>;
  if (typeof entry.name !== "string" || entry.name === "") throw fail(`"name" must be a non-empty string`);
  which = `tokens file ${path} entry ${index} (${JSON.stringify(entry.name)})`;
  if (names.has(entry.name)) throw fail(`the name is used by an earlier entry too`);
  names.add(entry.name);
  const unknown = Object.keys(entry).filter((k) => !ENTRY_KEYS.has(k));
  if (unknown.length > 0) throw fail(`unknown key ${unknown.map(shown).join(", ")} (an entry has "name", "role" or "roles", and "token")`);
  const one = `must be one of ${roles.join(", ")}`;
  let granted: Role[];
  if (entry.role !== undefined && entry.roles !== undefined) throw fail(`give "role" (one) or "roles" (a list), not both`);
  if (entry.roles !== undefined) {
    if (!Array.isArray(entry.roles) || entry.roles.length === 0) throw fail(`"roles" must be a non-empty list, e.g. ["writer", "reader"]`);
    const bad = entry.roles.find((r) => !roles.includes(r as Role));
    if (bad !== undefined) throw fail(`"roles" has ${shown(bad)}; each ${one}`);
    granted = [...new Set(entry.roles as Role[])];
  } else if (roles.includes(entry.role as Role)) {
    granted = [entry.role as Role];
  } else {
    throw fail(entry.role === undefined ? `needs "role" (one of ${roles.join(", ")}) or "roles" (a list of them)` : `"role" is ${shown(entry.role)}; it ${one}`);
  }
  if (typeof entry.token !== "string" || entry.token.length < TOKEN_CHARS_MIN) throw fail(`"token" must be a string of at least ${TOKEN_CHARS_MIN} characters`);
  return { name: entry.name, roles: granted, token: entry.token };
}

/**
 * Loads a tokens file: a JSON array of `{"name": "...", "role": "writer" |
 * "reader" | "admin", "token": "..."}`, or with `"roles": ["writer",
 * "reader"]` for a token that may do what each of its roles may. Tokens must
 * be at least 16 characters. A file readable by group or others is refused:
 * it holds secrets.
 */
export async function loadTokensFile(path: string): Promise<TokenVerifier> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new TokensFileError(`cannot read tokens file ${path}: ${err.code ?? err.message}`);
  });
  if ((info.mode & 0o077) !== 0) {
    throw new TokensFileError(`tokens file ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch {
    throw new TokensFileError(`tokens file ${path} is not valid JSON`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new TokensFileError(`tokens file ${path} must be a non-empty JSON array`);
  const names = new Set<string>();
  const entries = parsed.map((e: unknown, i) => parseEntry(e, i, names, path));
  // One token, one principal: a token listed twice would get the roles of whichever entry came first.
  const firstWith = new Map<string, number>();
  entries.forEach((e, i) => {
    const key = digest(e.token).toString("hex");
    const earlier = firstWith.get(key);
    if (earlier !== undefined) {
      throw new TokensFileError(`tokens file ${path} entry ${i} (${JSON.stringify(e.name)}): same token as entry ${earlier} (${JSON.stringify(entries[earlier].name)}); give one entry "roles": [...] instead`);
    }
    firstWith.set(key, i);
  });
  return createTokenVerifier(entries);
}
