import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import type { JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import { createPiiGuard, defaultSensitiveKeys, luhnValid, REDACTED } from "../../src/guard/pii.js";

const redactor = createPiiGuard({ mode: "redact", sensitiveKeys: defaultSensitiveKeys });
const rejecter = createPiiGuard({ mode: "reject", sensitiveKeys: defaultSensitiveKeys });

function redact(value: JsonValue): { value: JsonValue | undefined; paths: string[] } {
  const paths: string[] = [];
  return { value: redactor(structuredClone(value), "data", paths), paths };
}

describe("PII guard", () => {
  it("checks card numbers with Luhn", () => {
    assert.equal(luhnValid("4111111111111111"), true);
    assert.equal(luhnValid("4111111111111112"), false);
    assert.equal(luhnValid("79927398713"), true);
  });

  it("redacts values under sensitive keys at any depth, whatever their type", () => {
    const { value, paths } = redact({ user: { name: "ada", Password: "hunter2", apiKey: { nested: 1 }, profile: [{ phone_number: "+44 20 7946 0000" }] }, tokens_used: 12 });
    assert.deepEqual(value, { user: { name: "ada", Password: REDACTED, apiKey: REDACTED, profile: [{ phone_number: REDACTED }] }, tokens_used: 12 });
    assert.deepEqual(paths, ["data.user.Password", "data.user.apiKey", "data.user.profile[0].phone_number"]);
  });

  it("redacts e-mail addresses and Luhn-valid card numbers inside strings, keeping the rest", () => {
    const { value, paths } = redact({ note: "mail ada@example.org now", pay: "card 4111 1111 1111 1111 ok", id: "order 4111111111111112" });
    assert.deepEqual(value, { note: `mail ${REDACTED} now`, pay: `card ${REDACTED} ok`, id: "order 4111111111111112" });
    assert.deepEqual(paths, ["data.note", "data.pay"]);
  });

  it("rejects with INVALID_ARGUMENT naming the path in reject mode", () => {
    assert.throws(
      () => rejecter({ deep: [{ contact: "x@y.io" }] }, "data", []),
      (err: { code: number; message: string }) => err.code === status.INVALID_ARGUMENT && /^data\.deep\[0\]\.contact: looks like an e-mail address/.test(err.message),
    );
  });

  it("leaves data without personal data untouched", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("variable", "weight", "rule_id", "score"), fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean())), (data) => {
        const { value, paths } = redact(data);
        // fast-check builds null-prototype objects; compare the JSON that would be written.
        assert.equal(JSON.stringify(value), JSON.stringify(data));
        assert.deepEqual(paths, []);
      }),
    );
  });

  it("never lets an e-mail address through in redact mode", () => {
    fc.assert(
      fc.property(fc.string(), fc.emailAddress(), fc.string(), (before, email, after) => {
        const { value } = redact({ text: `${before} ${email} ${after}` });
        assert.ok(!(value as { text: string }).text.includes(email), `${email} survived`);
      }),
    );
  });
});
