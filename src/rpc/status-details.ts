import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { BadRequestSchema, RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/ts/google/rpc/status_pb.js";
import type { FieldViolation } from "../errors.js";

/** The trailer gRPC's rich error model travels in (every language's gRPC library reads it). */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/**
 * How long a throttled client should wait before retrying, in ms: sent as
 * google.rpc.RetryInfo with every UNAVAILABLE and RESOURCE_EXHAUSTED this
 * server answers (a full write queue or disk, a storage failure, a
 * shutdown). A floor, not a schedule: senders add their own backoff. OTLP
 * senders need it to retry RESOURCE_EXHAUSTED at all.
 */
export const RETRY_DELAY_MS = 1_000;

/** The statuses that mean "not now": retried by every client of this service (see the clients' RETRYABLE_CODES). */
const THROTTLING: ReadonlySet<number> = new Set([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED]);

// One RetryInfo for every throttled answer: it never changes.
const RETRY_INFO = anyPack(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: { seconds: BigInt(Math.floor(RETRY_DELAY_MS / 1000)), nanos: (RETRY_DELAY_MS % 1000) * 1_000_000 } }));

/**
 * The trailers of a status with details: a google.rpc.Status (same code and
 * message) whose details hold a google.rpc.BadRequest with a field violation
 * per refused field, and a google.rpc.RetryInfo when the status throttles
 * (UNAVAILABLE, RESOURCE_EXHAUSTED). Undefined when there is neither.
 */
export function statusDetailsMetadata(code: number, message: string, violations: readonly FieldViolation[]): grpc.Metadata | undefined {
  const details: Any[] = [];
  if (violations.length > 0) {
    const badRequest = create(BadRequestSchema, { fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })) });
    details.push(anyPack(BadRequestSchema, badRequest));
  }
  if (THROTTLING.has(code)) details.push(RETRY_INFO);
  if (details.length === 0) return undefined;
  const status = create(StatusSchema, { code, message, details });
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(toBinary(StatusSchema, status)));
  return metadata;
}

/** The field violations a received status carries in its trailers (empty when none, or when they do not decode). */
export function fieldViolationsOf(metadata: grpc.Metadata): FieldViolation[] {
  const [bytes] = metadata.get(STATUS_DETAILS_KEY);
  if (!(bytes instanceof Buffer)) return [];
  try {
    const status = fromBinary(StatusSchema, bytes);
    return status.details.flatMap((any) => anyUnpack(any, BadRequestSchema)?.fieldViolations.map((v) => ({ field: v.field, description: v.description })) ?? []);
  } catch {
    return [];
  }
}
