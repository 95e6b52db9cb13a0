import assert from "node:assert/strict";
import type { status } from "@grpc/grpc-js";
import type { TrustService } from "../../../gen/ts/pulse/trust/v1/trust_pb.js";
import type { Client } from "../../../src/rpc/client.js";
import { recordFromProto } from "../../../src/trust/proto-mapping.js";
import type { TrustRecord } from "../../../src/trust/tracker.js";

/** Asserts that a call fails with `code` and a message starting with `field` (the field it names). */
export async function rejectsWith(call: Promise<unknown>, code: status, field: string): Promise<string> {
  let details = "";
  await assert.rejects(call, (err: { code?: number; details?: string }) => {
    details = err.details ?? "";
    assert.equal(err.code, code, `expected status ${code}, got ${err.code}: ${details}`);
    assert.ok(details.startsWith(`${field}`), `expected the message to name ${field}: "${details}"`);
    return true;
  });
  return details;
}

/** Every record of an ExportTrust stream, as plain objects. */
export async function exportAll(trust: Client<typeof TrustService.method>): Promise<TrustRecord[]> {
  const out: TrustRecord[] = [];
  for await (const m of trust.exportTrust({})) {
    out.push(recordFromProto(m.record!));
  }
  return out;
}
