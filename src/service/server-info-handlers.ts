import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GetServerInfoRequest, GetServerInfoResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";

/** The limits the server enforces on what clients send, which GetServerInfo tells them. */
export interface ServerLimits {
  /** Largest gRPC message accepted, in bytes (--message-bytes-max). */
  readonly messageBytesMax: number;
  /** Most events in one batch: an IngestEvents request, a StreamEvents message, a LogBatch (--batch-events-max). */
  readonly batchEventsMax: number;
  /** Largest record (one JSON line) written, in bytes (--record-bytes-max). */
  readonly recordBytesMax: number;
}

/**
 * GetServerInfo: the server's limits, so that clients size their batches to
 * this server rather than to the defaults they were built with. The answer
 * never changes while the server runs.
 */
export function createServerInfoHandlers(limits: ServerLimits) {
  return {
    async getServerInfo(_request: GetServerInfoRequest): Promise<MessageInitShape<typeof GetServerInfoResponseSchema>> {
      return {
        messageBytesMax: BigInt(limits.messageBytesMax),
        batchEventsMax: limits.batchEventsMax,
        recordBytesMax: BigInt(limits.recordBytesMax),
      };
    },
  };
}
