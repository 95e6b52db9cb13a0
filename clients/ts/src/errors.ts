import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Metadata, status } from "@grpc/grpc-js";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

/**
 * A request field the server refused (a google.rpc.BadRequest field
 * violation): `field` is its path in the request, e.g. `old_weight`,
 * `data.deep.v` or `events[3].variable_weight_change.old_weight`.
 */
export interface FieldViolation {
  /** The field's path in the request. */
  readonly field: string;
  /** What is wrong with it. */
  readonly description: string;
}

/**
 * Statuses after which resending the same events with the same event_ids is
 * safe and may succeed: the server may or may not have written them (a
 * timeout or a dropped connection cannot tell), and it answers an event_id
 * it already wrote as a duplicate instead of writing it twice. Any other
 * status refuses the request itself: resending it gets the same answer.
 */
export const RETRYABLE_CODES: ReadonlySet<status> = new Set([status.UNAVAILABLE, status.RESOURCE_EXHAUSTED, status.DEADLINE_EXCEEDED]);

// What gRPC says when a message is over the size limit (RESOURCE_EXHAUSTED,
// but the same message can never fit, so it is not retryable).
const OVER_SIZE_MARK = "larger than max";

/**
 * True when resending the same request (same event_ids) may succeed: a
 * status in {@link RETRYABLE_CODES}, unless it says the message is over the
 * size limit, which no resend can fix.
 */
export function isRetryable(code: status, details = ""): boolean {
  if (!RETRYABLE_CODES.has(code)) return false;
  return !(code === status.RESOURCE_EXHAUSTED && details.includes(OVER_SIZE_MARK));
}

/** The name of a gRPC status code, e.g. `INVALID_ARGUMENT`. */
export function statusName(code: number): string {
  return status[code] ?? `CODE_${code}`;
}

/**
 * A call to the learning log service failed. `code` is the gRPC status and
 * `details` the server's message, which names the offending field for
 * INVALID_ARGUMENT; `fieldViolations` lists the refused fields when the
 * server sent them (the `grpc-status-details-bin` trailer).
 */
export class LearningLogError extends Error {
  /** The gRPC status code. */
  readonly code: status;
  /** The server's message (or the client's, for errors raised locally). */
  readonly details: string;
  /** The refused fields, when the server named them; else empty. */
  readonly fieldViolations: readonly FieldViolation[];

  /** Builds an error of status `code`; prefer {@link errorFor}, which picks the subclass. */
  constructor(code: status, details: string, options: { fieldViolations?: readonly FieldViolation[]; cause?: unknown } = {}) {
    super(`${statusName(code)}: ${details}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = details;
    this.fieldViolations = options.fieldViolations ?? [];
  }

  /** True when resending with the same event_ids may succeed (see {@link isRetryable}). */
  get retryable(): boolean {
    return isRetryable(this.code, this.details);
  }
}

/** INVALID_ARGUMENT: the server rejected a value; the message names the field. */
export class InvalidArgument extends LearningLogError {}
/** NOT_FOUND. */
export class NotFound extends LearningLogError {}
/** PERMISSION_DENIED: the token's role may not call this, or a trust file path is outside the trust directory. */
export class PermissionDenied extends LearningLogError {}
/** UNAUTHENTICATED: a missing or wrong token. */
export class Unauthenticated extends LearningLogError {}
/** RESOURCE_EXHAUSTED: the server's write queue or disk is full (retryable), or a message is over the size limit (not). */
export class ResourceExhausted extends LearningLogError {}
/** FAILED_PRECONDITION. */
export class FailedPrecondition extends LearningLogError {}
/** UNAVAILABLE: the server is down, restarting or its storage failed (retryable). */
export class Unavailable extends LearningLogError {}
/** UNIMPLEMENTED: the server does not offer this RPC. */
export class Unimplemented extends LearningLogError {}
/** DEADLINE_EXCEEDED: no answer within the call's deadline (retryable). */
export class DeadlineExceeded extends LearningLogError {}
/** CANCELLED: the call (or the BatchWriter) was cancelled. */
export class Cancelled extends LearningLogError {}
/** INTERNAL: a server bug or an undecodable message; the server logged the cause. */
export class Internal extends LearningLogError {}

/**
 * A {@link BatchWriter}'s buffer is full: raised instead of waiting when the
 * writer was built with `onFull: "raise"`, or when `blockTimeoutMs` passed.
 * Nothing was buffered.
 */
export class BufferFull extends LearningLogError {
  /** Builds the error with its message. */
  constructor(details: string) {
    super(status.RESOURCE_EXHAUSTED, details);
  }
}

const CLASS_BY_CODE: ReadonlyMap<status, typeof LearningLogError> = new Map<status, typeof LearningLogError>([
  [status.INVALID_ARGUMENT, InvalidArgument],
  [status.NOT_FOUND, NotFound],
  [status.PERMISSION_DENIED, PermissionDenied],
  [status.UNAUTHENTICATED, Unauthenticated],
  [status.RESOURCE_EXHAUSTED, ResourceExhausted],
  [status.FAILED_PRECONDITION, FailedPrecondition],
  [status.UNAVAILABLE, Unavailable],
  [status.UNIMPLEMENTED, Unimplemented],
  [status.DEADLINE_EXCEEDED, DeadlineExceeded],
  [status.CANCELLED, Cancelled],
  [status.INTERNAL, Internal],
]);

/** The typed error of a status: the subclass of {@link LearningLogError} for `code`. */
export function errorFor(code: status, details: string, options: { fieldViolations?: readonly FieldViolation[]; cause?: unknown } = {}): LearningLogError {
  const Class = CLASS_BY_CODE.get(code) ?? LearningLogError;
  return new Class(code, details, options);
}

/** The trailer that carries gRPC's rich error model (a google.rpc.Status). */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/**
 * The field violations of the google.rpc.BadRequest details in a status's
 * trailers, in order. Empty when there are none, when they do not decode, or
 * when their status code is not the call's (e.g. a proxy replaced it).
 */
export function fieldViolationsOf(metadata: Metadata | undefined, code: number): FieldViolation[] {
  const [bytes] = metadata?.get(STATUS_DETAILS_KEY) ?? [];
  if (!(bytes instanceof Buffer)) return [];
  try {
    const st = fromBinary(StatusSchema, bytes);
    if (st.code !== code) return [];
    return st.details.flatMap((any) => anyUnpack(any, BadRequestSchema)?.fieldViolations.map((v) => ({ field: v.field, description: v.description })) ?? []);
  } catch {
    return []; // A broken trailer must not hide the status itself.
  }
}

/** What grpc-js rejects a call with. */
interface GrpcFailure {
  code: number;
  details?: string;
  metadata?: Metadata;
}

function isGrpcFailure(err: unknown): err is GrpcFailure {
  return typeof err === "object" && err !== null && typeof (err as { code?: unknown }).code === "number" && "metadata" in err;
}

/**
 * Turns what a grpc-js call failed with into its typed error (a
 * {@link LearningLogError} passes through; anything else is INTERNAL, with
 * the original as `cause`). `code` overrides the call's status, e.g. a
 * cancel that stood for a timeout.
 */
export function errorFromCall(err: unknown, code?: status): LearningLogError {
  if (err instanceof LearningLogError) return err;
  if (!isGrpcFailure(err)) return new Internal(status.INTERNAL, `client failure: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  const effective = (code ?? err.code) as status;
  return errorFor(effective, err.details ?? "", { fieldViolations: fieldViolationsOf(err.metadata, err.code), cause: err });
}
