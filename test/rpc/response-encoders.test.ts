import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { EventErrorSchema, IngestEventsResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { RESPONSE_ENCODERS } from "../../src/rpc/response-encoders.js";

const encodeIngest = RESPONSE_ENCODERS.get(IngestEventsResponseSchema.typeName)!;

describe("responses written by hand", () => {
  it("an IngestEvents answer is the bytes protobuf-es writes for the same init object", () => {
    const max = 2n ** 64n - 1n;
    const answers = [
      { batchId: 0n, firstSeq: 0n, lastSeq: 0n, count: 0, duplicates: 0, errors: [], timestamp: "", redactions: [] },
      { batchId: 1n, firstSeq: 1n, lastSeq: 1n, count: 1, duplicates: 0, errors: [], timestamp: "2026-12-07T20:21:00.123456+00:00", redactions: [] },
      { batchId: max, firstSeq: 2n ** 53n + 1n, lastSeq: max, count: 10_000, duplicates: 9_999, errors: [], timestamp: "2026-12-07T20:21:00.000001+00:00", redactions: [] },
      { batchId: 127n, firstSeq: 128n, lastSeq: 300n, count: 173, duplicates: 1, timestamp: "t" },
    ];
    for (const answer of answers) {
      const written = encodeIngest(answer);
      assert.ok(written !== undefined, "written by hand");
      assert.deepEqual(Buffer.from(written), Buffer.from(toBinary(IngestEventsResponseSchema, create(IngestEventsResponseSchema, answer))), JSON.stringify(answer, (_, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)));
    }
  });

  it("an answer with refused or redacted events is left to protobuf-es", () => {
    const error = create(EventErrorSchema, { index: 0, code: 3, message: "events[0].generic.data: too deep" });
    assert.equal(encodeIngest({ batchId: 1n, count: 0, errors: [error], redactions: [] }), undefined);
    assert.equal(encodeIngest({ batchId: 1n, count: 1, errors: [], redactions: [{ index: 0, fields: ["data.email"], details: [] }] }), undefined);
  });
});
