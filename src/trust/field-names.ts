import { ServiceError } from "../errors.js";

/**
 * Re-labels an error that names a field of one request shape for another
 * that carries the same value under another name (the tracker says `path`,
 * the learning log's ExportTrustData calls it `filepath`). Errors about
 * other fields pass unchanged.
 */
export function renameField(err: unknown, from: string, to: string): unknown {
  if (!(err instanceof ServiceError)) return err;
  if (!err.message.startsWith(from)) return err;
  const rest = err.message.slice(from.length);
  if (!/^[:.[]/.test(rest)) return err;
  return new ServiceError(err.code, to + rest, { cause: err.cause });
}
