import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { BadRequestSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/ts/google/rpc/status_pb.js";
import type { FieldViolation } from "../errors.js";

/** The trailer gRPC's rich error model travels in (every language's gRPC library reads it). */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/**
 * The trailers of a status that names refused fields: a google.rpc.Status
 * (same code and message) whose details hold a google.rpc.BadRequest with a
 * field violation per field. Undefined when no field is named.
 */
export function statusDetailsMetadata(code: number, message: string, violations: readonly FieldViolation[]): grpc.Metadata | undefined {
  if (violations.length === 0) return undefined;
  const badRequest = create(BadRequestSchema, { fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })) });
  const status = create(StatusSchema, { code, message, details: [anyPack(BadRequestSchema, badRequest)] });
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
