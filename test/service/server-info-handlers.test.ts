import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { GetServerInfoRequestSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createServerInfoHandlers } from "../../src/service/server-info-handlers.js";

describe("GetServerInfo handler", () => {
  it("answers the limits it was built with, as the proto's integer types, the same each time", async () => {
    const { getServerInfo } = createServerInfoHandlers({ messageBytesMax: 8 * 1024 * 1024, batchEventsMax: 500, recordBytesMax: 65_536 });
    const request = create(GetServerInfoRequestSchema);
    const expected = { messageBytesMax: 8_388_608n, batchEventsMax: 500, recordBytesMax: 65_536n };
    assert.deepEqual(await getServerInfo(request), expected);
    assert.deepEqual(await getServerInfo(request), expected);
  });
});
