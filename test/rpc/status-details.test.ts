import assert from "node:assert/strict";
import { fromBinary, type JsonObject } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { status, type ServiceError as GrpcError } from "@grpc/grpc-js";
import { BadRequestSchema, RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/ts/google/rpc/status_pb.js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient } from "../../src/rpc/client.js";
import { ServiceError } from "../../src/errors.js";
import { toStatus } from "../../src/rpc/grpc-adapter.js";
import { RETRY_DELAY_MS, STATUS_DETAILS_KEY } from "../../src/rpc/status-details.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

/** The google.rpc.BadRequest field violations a failed call carried in its trailers. */
function violationsOf(err: unknown): { code: number; message: string; violations: Array<{ field: string; description: string }> } {
  const e = err as GrpcError;
  const [bytes] = e.metadata.get(STATUS_DETAILS_KEY) as Buffer[];
  assert.ok(bytes, `the status of ${e.code} ${e.details} carries ${STATUS_DETAILS_KEY}`);
  const st = fromBinary(StatusSchema, bytes);
  assert.equal(st.code, e.code);
  assert.equal(st.message, e.details);
  const bad = anyUnpack(st.details[0], BadRequestSchema);
  assert.ok(bad, "its first detail is a google.rpc.BadRequest");
  return { code: st.code, message: st.message, violations: bad.fieldViolations.map((v) => ({ field: v.field, description: v.description })) };
}

async function failure(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (err) {
    return err;
  }
  assert.fail("the call succeeded");
}

describe("refused fields as google.rpc.BadRequest status details", () => {
  let dir: TempDir;
  let t: TestServer;
  before(async () => {
    dir = await tempDir();
    t = await startServer(dir.path);
  });
  after(async () => {
    await t.stop();
    await dir.remove();
  });

  it("names the field of a unary request, as the message does", async () => {
    const err = await failure(t.client.logVariableWeightChange({ variable: "x", oldWeight: Number.NaN, newWeight: 1 }));
    const { code, message, violations } = violationsOf(err);
    assert.equal(code, status.INVALID_ARGUMENT);
    assert.deepEqual(
      violations.map((v) => v.field),
      ["old_weight"],
    );
    assert.equal(message, `${violations[0].field}: ${violations[0].description}`);
  });

  it("names a nested field of free-form data by its path", async () => {
    const err = await failure(t.client.logEvent({ eventType: "x", data: { deep: { v: Number.NaN } } as unknown as JsonObject }));
    assert.deepEqual(
      violationsOf(err).violations.map((v) => v.field),
      ["data.deep.v"],
    );
  });

  it("a trust file path is named by each request's own field: filepath for ExportTrustData, path for the trust service", async () => {
    const logErr = await failure(t.client.exportTrustData({ filepath: "../outside.json" }));
    assert.deepEqual(
      violationsOf(logErr).violations.map((v) => v.field),
      ["filepath"],
    );
    const trust = createClient(TrustService, t.address);
    try {
      const trustErr = await failure(trust.exportTrustToFile({ path: "../outside.json" }));
      assert.deepEqual(
        violationsOf(trustErr).violations.map((v) => v.field),
        ["path"],
      );
    } finally {
      trust.close();
    }
  });

  it("a read query's bad time is named too", async () => {
    const err = await failure(t.client.readEvents({ since: "not a time" })[Symbol.asyncIterator]().next());
    assert.deepEqual(
      violationsOf(err).violations.map((v) => v.field),
      ["since"],
    );
  });
});

describe("throttling statuses carry google.rpc.RetryInfo", () => {
  const detailsOf = (err: ServiceError) => {
    const metadata = toStatus(err, "/test/Method", () => {}).metadata;
    const [bytes] = (metadata?.get(STATUS_DETAILS_KEY) ?? []) as Buffer[];
    return bytes === undefined ? undefined : fromBinary(StatusSchema, bytes);
  };

  it("UNAVAILABLE and RESOURCE_EXHAUSTED: a RetryInfo of RETRY_DELAY_MS, beside the status's own code and message", () => {
    for (const err of [new ServiceError(status.RESOURCE_EXHAUSTED, "write queue full (16777216 bytes); retry later"), new ServiceError(status.UNAVAILABLE, "server is shutting down; nothing was written")]) {
      const st = detailsOf(err);
      assert.ok(st, status[err.code]);
      assert.equal(st.code, err.code);
      assert.equal(st.message, err.message);
      assert.equal(st.details.length, 1);
      const retry = anyUnpack(st.details[0], RetryInfoSchema);
      assert.ok(retry, "a google.rpc.RetryInfo");
      assert.equal(Number(retry.retryDelay!.seconds) * 1000 + retry.retryDelay!.nanos / 1e6, RETRY_DELAY_MS);
    }
  });

  it("other statuses carry none: a refusal only its BadRequest, the rest no details at all", () => {
    const refused = detailsOf(ServiceError.invalid("old_weight", "NaN is not a finite number"));
    assert.deepEqual(
      refused?.details.map((d) => d.typeUrl),
      ["type.googleapis.com/google.rpc.BadRequest"],
    );
    assert.equal(detailsOf(new ServiceError(status.NOT_FOUND, "no such key")), undefined);
    assert.equal(detailsOf(new ServiceError(status.INTERNAL, "internal error")), undefined);
  });
});
