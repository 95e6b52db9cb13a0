import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Metadata, status } from "@grpc/grpc-js";
import { BadRequestSchema } from "../../../clients/ts/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../../clients/ts/gen/google/rpc/status_pb.js";
import { errorFromCall, fieldViolationsOf, STATUS_DETAILS_KEY } from "../../../clients/ts/src/errors.js";
import { BufferFull, Internal, InvalidArgument, isRetryable, LearningLogError, ResourceExhausted, Unavailable } from "../../../clients/ts/src/index.js";

function trailer(code: number, fields: string[]): Metadata {
  const badRequest = create(BadRequestSchema, { fieldViolations: fields.map((field) => ({ field, description: `${field} is wrong` })) });
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(toBinary(StatusSchema, create(StatusSchema, { code, message: "m", details: [anyPack(BadRequestSchema, badRequest)] }))));
  return metadata;
}

describe("TypeScript client: typed errors", () => {
  it("maps a status to its class, with the field violations of its trailer", () => {
    const err = errorFromCall({ code: status.INVALID_ARGUMENT, details: "events[0].generic.event_type: empty", metadata: trailer(status.INVALID_ARGUMENT, ["events[0].generic.event_type"]) });
    assert.ok(err instanceof InvalidArgument);
    assert.ok(err instanceof LearningLogError && err instanceof Error);
    assert.equal(err.message, "INVALID_ARGUMENT: events[0].generic.event_type: empty");
    assert.deepEqual(err.fieldViolations, [{ field: "events[0].generic.event_type", description: "events[0].generic.event_type is wrong" }]);
    assert.ok(errorFromCall({ code: status.UNAVAILABLE, details: "down", metadata: new Metadata() }) instanceof Unavailable);
  });

  it("ignores a trailer that does not decode or that is about another status", () => {
    const broken = new Metadata();
    broken.set(STATUS_DETAILS_KEY, Buffer.from([0xff, 0xff, 0xff]));
    assert.deepEqual(fieldViolationsOf(broken, status.INVALID_ARGUMENT), []);
    assert.deepEqual(fieldViolationsOf(trailer(status.NOT_FOUND, ["x"]), status.INVALID_ARGUMENT), []);
  });

  it("retries UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED, but not a message over the size limit", () => {
    assert.equal(isRetryable(status.UNAVAILABLE), true);
    assert.equal(isRetryable(status.DEADLINE_EXCEEDED), true);
    assert.equal(isRetryable(status.RESOURCE_EXHAUSTED, "write queue full"), true);
    assert.equal(isRetryable(status.RESOURCE_EXHAUSTED, "Received message larger than max (5000000 vs. 4194304)"), false);
    assert.equal(isRetryable(status.INVALID_ARGUMENT), false);
    const big = errorFromCall({ code: status.RESOURCE_EXHAUSTED, details: "Sent message larger than max", metadata: new Metadata() });
    assert.ok(big instanceof ResourceExhausted);
    assert.equal(big.retryable, false);
    assert.equal(new BufferFull("full").code, status.RESOURCE_EXHAUSTED);
  });

  it("turns anything else thrown into Internal, keeping the cause", () => {
    const cause = new Error("boom");
    const err = errorFromCall(cause);
    assert.ok(err instanceof Internal);
    assert.equal(err.cause, cause);
  });
});
