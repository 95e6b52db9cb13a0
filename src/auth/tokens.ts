import { createHash, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { roles, type Role } from "./roles.js";

/** Who a token belongs to. Never holds the token itself. */
export interface Principal {
  /** The token's name in the tokens file (for the server log). */
  name: string;
  role: Role;
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
export function createTokenVerifier(entries: ReadonlyArray<{ name: string; role: Role; token: string }>): TokenVerifier {
  const list: Entry[] = entries.map((e) => ({ digest: digest(e.token), principal: { name: e.name, role: e.role } }));
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

/**
 * Loads a tokens file: a JSON array of `{"name": "...", "role": "writer" |
 * "reader" | "admin", "token": "..."}`. Tokens must be at least 16
 * characters. A file readable by group or others is refused: it holds secrets.
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
  const entries = parsed.map((e: unknown, i) => {
    const entry = e as { name?: unknown; role?: unknown; token?: unknown };
    if (typeof entry.name !== "string" || entry.name === "") throw new TokensFileError(`tokens file entry ${i}: "name" must be a non-empty string`);
    if (names.has(entry.name)) throw new TokensFileError(`tokens file entry ${i}: name "${entry.name}" is used twice`);
    names.add(entry.name);
    if (!roles.includes(entry.role as Role)) throw new TokensFileError(`tokens file entry "${entry.name}": "role" must be one of ${roles.join(", ")}`);
    if (typeof entry.token !== "string" || entry.token.length < 16) throw new TokensFileError(`tokens file entry "${entry.name}": "token" must be a string of at least 16 characters`);
    return { name: entry.name, role: entry.role as Role, token: entry.token };
  });
  return createTokenVerifier(entries);
}
