import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { fromJson, toBinary, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { createStructTranscoder } from "../../src/codec/struct-json.js";
import { defaultEventLimits } from "../../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys, keyClassifier, KEY_ANY, KEY_PLAIN, KEY_STRINGS, luhnValid, REDACTED } from "../../src/guard/pii.js";

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

// ---------------------------------------------------------------------------
// What the default guard must leave alone (ML data) and what it must catch
// (secrets and personal data), through the general path and the Struct
// transcoder (the fast path), which must agree byte for byte.

/** ML-style fields: numbers, counts, ids and feature names that pass untouched. */
const ML_DATA: Array<[string, JsonValue]> = [
  ["token_count", 1024],
  ["num_tokens", 2048],
  ["max_tokens", 4096],
  ["tokens_per_second", 183.4],
  ["prompt_tokens", 512],
  ["completion_tokens", 77],
  ["tokens_used", 12],
  ["token_id", 50256],
  ["token_ids", [101, 2023, 102]],
  ["token_logprob", -0.25],
  ["token_entropy", 1.75],
  ["secret_sauce_weight", 0.37],
  ["feature_secret_ratio", 0.5],
  ["f_secret_count", 3],
  ["is_secret_feature", true],
  ["secret_rank", 2],
  ["password_length", 12],
  ["password_strength_score", 0.8],
  ["email_count", 42],
  ["email_open_rate", 0.31],
  ["has_email", false],
  ["email", true],
  ["password_set", true],
  ["phone_country_code", 44],
  ["num_phone_numbers", 2],
  ["session_count", 9],
  ["api_key_rotations", 4],
  ["cookie_consent", null],
  ["example_id", "4111111111111111"],
  ["user_id", "5500005555555559"],
  ["trace_ids", ["4012888888881881", "378282246310005"]],
  ["batch_seq", "6011111111111117"],
  ["time_unix_nano", "1733580000000000000"],
  ["row", "9007199254740993"],
  ["run_hash", "1234567812345670"],
  ["id", 4111111111111111],
  ["shard_key", 1234567812345670],
  ["seed", 20261207],
  ["note", "bearer of bad news: the loss went up"],
  ["policy", "Bearer tokens are rotated daily"],
  ["tokenizer", "bpe-50k"],
  ["steps", 1000000],
  ["learning_rate", 0.0003],
  ["variable", "secret_sauce"],
  ["rule", "token_budget_exceeded"],
  ["dataset", { name: "c4", num_tokens: 156_000_000_000, max_tokens_per_doc: 2048 }],
];

/** Secret-style fields: [key, value, the value written]. */
const SECRETS: Array<[string, JsonValue, JsonValue]> = [
  ["password", "hunter2", REDACTED],
  ["password", 123456, REDACTED],
  ["Password", "correct horse battery staple", REDACTED],
  ["PASSWORD", "x", REDACTED],
  ["user_password", "p4ss", REDACTED],
  ["dbPassword", "s3cret!", REDACTED],
  ["passwd", "root", REDACTED],
  ["passphrase", "open sesame", REDACTED],
  ["secret", "shh", REDACTED],
  ["client_secret", "cs_live_abc123", REDACTED],
  ["aws_secret", 42, REDACTED],
  ["token", "tok_123", REDACTED],
  ["token", 987654321, REDACTED],
  ["access_token", "ya29.a0AfH6SMB", REDACTED],
  ["accessToken", "eyJhbGciOiJIUzI1NiJ9.e30.sig", REDACTED],
  ["refresh_token", "1//0gLx", REDACTED],
  ["github_token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", REDACTED],
  ["id_token", { header: "x" }, REDACTED],
  ["api_key", "sk-live-0123456789abcdef", REDACTED],
  ["apiKey", "AKIAIOSFODNN7EXAMPLE", REDACTED],
  ["API_KEY", "k", REDACTED],
  ["x-api-key", "abc", REDACTED],
  ["apikey", "abc", REDACTED],
  ["access_key", "AKIA0000", REDACTED],
  ["private_key", "-----BEGIN PRIVATE KEY-----", REDACTED],
  ["Authorization", "Basic dXNlcjpwYXNz", REDACTED],
  ["cookie", "sid=abc", REDACTED],
  ["session_id", 123456789, REDACTED],
  ["email", "ada@example.org", REDACTED],
  ["userEmail", "ada@example.org", REDACTED],
  ["e_mail", "x", REDACTED],
  ["ssn", "078-05-1120", REDACTED],
  ["phone", 4420794600, REDACTED],
  ["phone_number", "+44 20 7946 0000", REDACTED],
  ["credit_card", "4111 1111 1111 1111", REDACTED],
  ["card_number", 4111111111111111, REDACTED],
  ["iban", "GB82WEST12345698765432", REDACTED],
  ["date_of_birth", "1815-12-10", REDACTED],
  ["token_type", "refresh", REDACTED],
  ["password_hash", "$2b$12$abcdefghijklmnopqrstuv", REDACTED],
  ["email_address", "ada@example.org", REDACTED],
  ["note", "mail ada@example.org now", `mail ${REDACTED} now`],
  ["contact", "Ada <ada.lovelace+ml@cs.example.ac.uk>", `Ada <${REDACTED}>`],
  ["header", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", `Authorization: Bearer ${REDACTED}`],
  ["curl", "curl -H 'authorization: bearer 0123456789abcdef' https://x", `curl -H 'authorization: bearer ${REDACTED}' https://x`],
  ["log_line", "BEARER abcdefghijklmnopqrstuvwxyz", `BEARER ${REDACTED}`],
  ["pay", "card 4111 1111 1111 1111 ok", `card ${REDACTED} ok`],
  ["pay", "mc 5555-5555-5555-4444", `mc ${REDACTED}`],
  ["pay", "amex 378282246310005", `amex ${REDACTED}`],
  ["order", "4012888888881881", REDACTED],
];

const transcoder = createStructTranscoder({ limits: defaultEventLimits, pii: { mode: "redact", sensitiveKeys: defaultSensitiveKeys } });
const place = { path: "data", recordPath: "data", messageDepth: 2 };

/** The data written for `data` by the Struct transcoder (the fast path), and its redacted paths. */
function transcoded(data: JsonObject): { json: string; paths: string[] } {
  const bytes = toBinary(StructSchema, fromJson(StructSchema, data));
  const paths: string[] = [];
  const out = transcoder.structText(bytes, 0, bytes.length, place, paths);
  assert.ok(out.complete);
  return { json: out.text, paths };
}

describe("PII guard: ML data passes, secrets are caught, on both paths", () => {
  it(`leaves ${ML_DATA.length} ML-style fields untouched (numbers, counts, ids, feature names)`, () => {
    assert.ok(ML_DATA.length >= 40);
    for (const [key, value] of ML_DATA) {
      const data = { [key]: value } as JsonObject;
      const { value: out, paths } = redact(data);
      assert.deepEqual(out, data, `${key}: ${JSON.stringify(value)}`);
      assert.deepEqual(paths, [], key);
      const fast = transcoded(data);
      assert.equal(fast.json, JSON.stringify(data), `${key} (fast path)`);
      assert.deepEqual(fast.paths, [], `${key} (fast path)`);
    }
  });

  it(`catches ${SECRETS.length} secret-style fields (keys and values), the same on the fast path`, () => {
    assert.ok(SECRETS.length >= 40);
    for (const [key, value, written] of SECRETS) {
      const { value: out, paths } = redact({ [key]: value });
      assert.deepEqual(out, { [key]: written }, `${key}: ${JSON.stringify(value)}`);
      assert.deepEqual(paths, [`data.${key}`], key);
      const fast = transcoded({ [key]: value });
      assert.equal(fast.json, JSON.stringify({ [key]: written }), `${key} (fast path)`);
      assert.deepEqual(fast.paths, [`data.${key}`], `${key} (fast path)`);
    }
  });

  it("names what matched (key or value) and the rule when it refuses", () => {
    const refusal = (data: JsonObject): string => {
      try {
        rejecter(structuredClone(data), "data", []);
      } catch (err) {
        return (err as Error).message;
      }
      return assert.fail(`not refused: ${JSON.stringify(data)}`);
    };
    assert.match(refusal({ github_token: 5 }), /^data\.github_token: sensitive key "github_token" \(the key names secret or personal data: any value under it is hidden\)/);
    assert.match(refusal({ token_type: "refresh" }), /^data\.token_type: sensitive key "token_type" holding a string \(a sensitive word inside the key: strings are hidden, numbers pass\)/);
    assert.match(refusal({ note: "a@b.io" }), /^data\.note: looks like an e-mail address \(a value rule/);
    assert.match(refusal({ note: "4111111111111111" }), /^data\.note: looks like a card number \(a value rule: 13 to 19 digits from 2 to 6 that pass Luhn\)/);
    assert.match(refusal({ note: "Bearer 0123456789abcdef" }), /^data\.note: looks like a bearer credential/);
    // Numbers under a key with a sensitive word inside are data, in reject mode too.
    assert.deepEqual(rejecter({ token_count: 3, secret_sauce_weight: 0.5 }, "data", []), { token_count: 3, secret_sauce_weight: 0.5 });
  });

  it("classifies keys by whole words: a term that ends the key, a term inside it, or none", () => {
    const classify = keyClassifier(defaultSensitiveKeys);
    for (const key of ["token", "access_token", "githubToken", "X-Api-Key", "user_password", "contact_email", "PHONE_NUMBER"]) assert.equal(classify(key), KEY_ANY, key);
    for (const key of ["token_count", "secret_sauce_weight", "email_verified", "password_length", "api_key_id"]) assert.equal(classify(key), KEY_STRINGS, key);
    for (const key of ["max_tokens", "num_tokens", "tokens_per_second", "tokenizer", "secrets_manager_region", "variable"]) assert.equal(classify(key), KEY_PLAIN, key);
  });

  it("treats only cards' first digits (2 to 6) as card numbers, and bare digits under id keys as ids", () => {
    // 16 digits passing Luhn that start with 1, 7, 8, 9 or 0 are ids, not cards.
    for (const id of ["1234567812345670", "7992739871300008", "8000000000000003", "9000000000000001", "0000000000000000"]) {
      assert.ok(luhnValid(id), id);
      assert.deepEqual(redact({ n: id }).paths, [], id);
    }
    // Grouped like a card, it is a card even under an id key.
    assert.deepEqual(redact({ example_id: "4111 1111 1111 1111" }).value, { example_id: REDACTED });
    assert.deepEqual(redact({ example_id: "card 4111111111111111" }).value, { example_id: `card ${REDACTED}` }, "digits inside text under an id key are still bare digits: redacted unless they are the id itself");
  });
});
