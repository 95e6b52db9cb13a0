import { status } from "@grpc/grpc-js";

/** gRPC status codes this service answers with on purpose. */
export type ErrorCode =
  | status.INVALID_ARGUMENT
  | status.NOT_FOUND
  | status.ALREADY_EXISTS
  | status.PERMISSION_DENIED
  | status.UNAUTHENTICATED
  | status.RESOURCE_EXHAUSTED
  | status.FAILED_PRECONDITION
  | status.UNAVAILABLE
  | status.UNIMPLEMENTED
  | status.DEADLINE_EXCEEDED
  | status.CANCELLED
  | status.INTERNAL;

/** A refused field of a request and why (sent as a google.rpc.BadRequest field violation). */
export interface FieldViolation {
  /** Path of the field, e.g. `data.scores.a` or `events[3].variable_weight_change.old_weight`. */
  readonly field: string;
  /** Why the value was refused. */
  readonly description: string;
}

/** Joins field paths: `events[3]` + `variable_weight_change` + `old_weight`, `outcomes` + `[0]`. */
function joinPath(prefix: string, field: string): string {
  if (prefix === "") return field;
  if (field === "") return prefix;
  return field.startsWith("[") ? prefix + field : `${prefix}.${field}`;
}

/**
 * The one error type that crosses the RPC boundary. Anything else thrown by a
 * handler is reported as INTERNAL "internal error" and its cause is only
 * written to the server log, never sent to the client.
 */
export class ServiceError extends Error {
  override readonly name = "ServiceError";

  /** The refused fields, as data (the message names them too). Empty for errors about no field. */
  readonly violations: readonly FieldViolation[];

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; violations?: readonly FieldViolation[] },
  ) {
    super(message, options);
    this.violations = options?.violations ?? [];
  }

  /** INVALID_ARGUMENT naming the offending field path; the message is `<field>: <problem>`. */
  static invalid(field: string, problem: string): ServiceError {
    return ServiceError.forField(status.INVALID_ARGUMENT, field, problem);
  }

  /** Any refusal about one field of the request (PERMISSION_DENIED for a path that leads out...); the message is `<field>: <problem>`. */
  static forField(code: ErrorCode, field: string, problem: string, options?: { cause?: unknown }): ServiceError {
    return new ServiceError(code, `${field}: ${problem}`, { cause: options?.cause, violations: [{ field, description: problem }] });
  }

  /**
   * The same error about fields nested under `prefix` (a batch event's
   * `events[3].variable_weight_change`): paths and message are prefixed.
   */
  underField(prefix: string): ServiceError {
    if (this.violations.length === 0) return this;
    const violations = this.violations.map((v) => ({ field: joinPath(prefix, v.field), description: v.description }));
    return new ServiceError(this.code, violations.map((v) => `${v.field}: ${v.description}`).join("; "), { cause: this.cause, violations });
  }

  /**
   * The same error with a field (and the fields under it) called by another
   * name: one request shape's `path` is another's `filepath`. Errors about
   * other fields come back unchanged.
   */
  renamedField(from: string, to: string): ServiceError {
    const renamed = (field: string) => (field === from ? to : field.startsWith(`${from}.`) || field.startsWith(`${from}[`) ? to + field.slice(from.length) : field);
    if (!this.violations.some((v) => renamed(v.field) !== v.field)) return this;
    const violations = this.violations.map((v) => ({ field: renamed(v.field), description: v.description }));
    return new ServiceError(this.code, violations.map((v) => `${v.field}: ${v.description}`).join("; "), { cause: this.cause, violations });
  }

  /** Wraps anything thrown; keeps a ServiceError as it is. */
  static from(err: unknown): ServiceError {
    if (err instanceof ServiceError) return err;
    return new ServiceError(status.INTERNAL, "internal error", { cause: err });
  }
}

/**
 * How the file system failed, by errno: the one table every caller that
 * turns a file-system error into a status reads.
 * - "full": no room (ENOSPC, EDQUOT): RESOURCE_EXHAUSTED, retry later or elsewhere;
 * - "not-permitted": the server may not do that to that path (permissions, a
 *   read-only file system, a file where a folder was expected or the reverse);
 * - "failed": any other I/O failure (EIO...): UNAVAILABLE, retryable.
 */
export type ErrnoKind = "full" | "not-permitted" | "failed";

const ERRNO_KINDS: ReadonlyMap<string, ErrnoKind> = new Map([
  ["ENOSPC", "full"],
  ["EDQUOT", "full"],
  ["EACCES", "not-permitted"],
  ["EPERM", "not-permitted"],
  ["EROFS", "not-permitted"],
  ["EISDIR", "not-permitted"],
  ["ENOTDIR", "not-permitted"],
]);

/** The errno code of a file-system error (EIO, ENOSPC...), when it has one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Which kind of failure an errno is (see {@link ErrnoKind}); "failed" for an error without one. */
export function errnoKind(errno: string | undefined): ErrnoKind {
  return (errno === undefined ? undefined : ERRNO_KINDS.get(errno)) ?? "failed";
}

/**
 * Maps a storage error (an errno from the file system) to the status a client
 * sees. A full disk is RESOURCE_EXHAUSTED (retry later, maybe elsewhere);
 * every other I/O failure is UNAVAILABLE (retryable). Neither is ever acked.
 */
export function storageError(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  const errno = errnoOf(err);
  if (errnoKind(errno) === "full") {
    return new ServiceError(status.RESOURCE_EXHAUSTED, "log storage is full; nothing was written", { cause: err });
  }
  return new ServiceError(status.UNAVAILABLE, `log storage failed (${errno ?? "unknown error"}); nothing was written`, {
    cause: err,
  });
}

/**
 * A file-system failure on a file a call names (a trust file), as the status
 * a client sees: `what` says what was being done (`path: cannot write "x"`).
 */
export function fileError(err: unknown, what: string): ServiceError {
  if (err instanceof ServiceError) return err;
  const errno = errnoOf(err);
  switch (errnoKind(errno)) {
    case "full":
      return new ServiceError(status.RESOURCE_EXHAUSTED, `${what}: no space left on the device`, { cause: err });
    case "not-permitted":
      return new ServiceError(status.FAILED_PRECONDITION, `${what}: the server may not do that (${errno})`, { cause: err });
    case "failed":
      return new ServiceError(status.UNAVAILABLE, `${what}: the file system failed (${errno ?? "unknown error"})`, { cause: err });
  }
}
