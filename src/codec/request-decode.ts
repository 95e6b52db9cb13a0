import { status } from "@grpc/grpc-js";
import { ServiceError } from "../errors.js";

/** protobuf-es refuses to decode messages nested deeper than this (its default recursionLimit). */
export const DECODE_LEVELS_MAX = 100;

/**
 * The status of a request whose bytes do not decode: INVALID_ARGUMENT for a
 * request nested deeper than decoding allows, INTERNAL otherwise (bytes that
 * are not the message are INTERNAL by gRPC's rules; the decoder's error is
 * the cause logged).
 */
export function undecodableError(err: unknown): ServiceError {
  const message = err instanceof Error ? err.message : "";
  if (/recursion depth/.test(message)) return ServiceError.invalid("request", `nested deeper than the ${DECODE_LEVELS_MAX} levels protobuf decoding allows`);
  return new ServiceError(status.INTERNAL, "request does not decode", { cause: err });
}
