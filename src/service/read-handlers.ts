import { status } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ReadEventsRequest, ReadEventsResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../errors.js";

/** The read side of the learning log service. */
export function createReadHandlers() {
  return {
    // eslint-disable-next-line require-yield
    async *readEvents(_request: ReadEventsRequest): AsyncIterable<MessageInitShape<typeof ReadEventsResponseSchema>> {
      throw new ServiceError(status.UNIMPLEMENTED, "ReadEvents is not available yet");
    },
  };
}
