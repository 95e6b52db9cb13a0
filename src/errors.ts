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

/**
 * The one error type that crosses the RPC boundary. Anything else thrown by a
 * handler is reported as INTERNAL "internal error" and its cause is only
 * written to the server log, never sent to the client.
 */
export class ServiceError extends Error {
  override readonly name = "ServiceError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** INVALID_ARGUMENT naming the offending field path. */
  static invalid(field: string, problem: string): ServiceError {
    return new ServiceError(status.INVALID_ARGUMENT, `${field}: ${problem}`);
  }

  /** Wraps anything thrown; keeps a ServiceError as it is. */
  static from(err: unknown): ServiceError {
    if (err instanceof ServiceError) return err;
    return new ServiceError(status.INTERNAL, "internal error", { cause: err });
  }
}

/**
 * Maps a storage error (an errno from the file system) to the status a client
 * sees. A full disk is RESOURCE_EXHAUSTED (retry later, maybe elsewhere);
 * every other I/O failure is UNAVAILABLE (retryable). Neither is ever acked.
 */
export function storageError(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  const errno = errnoOf(err);
  if (errno === "ENOSPC" || errno === "EDQUOT") {
    return new ServiceError(status.RESOURCE_EXHAUSTED, "log storage is full; nothing was written", { cause: err });
  }
  return new ServiceError(status.UNAVAILABLE, `log storage failed (${errno ?? "unknown error"}); nothing was written`, {
    cause: err,
  });
}

/** The errno code of a file-system error (EIO, ENOSPC...), when it has one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Statuses a client may retry with the same event_id without risk. */
export const retryableCodes: ReadonlySet<number> = new Set([
  status.UNAVAILABLE,
  status.RESOURCE_EXHAUSTED,
  status.DEADLINE_EXCEEDED,
]);
