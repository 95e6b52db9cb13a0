import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadTokensFile, TokensFileError } from "../../src/auth/tokens.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const TOKEN = "token-0123456789abcdef";

describe("tokens file", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.remove();
  });

  /** Writes a tokens file (mode 0600) holding `content` as JSON. */
  async function tokensFile(content: unknown): Promise<string> {
    const path = join(dir.path, "tokens.json");
    await writeFile(path, JSON.stringify(content), { mode: 0o600 });
    return path;
  }

  it('gives a token the roles of "roles", and keeps "role" for one', async () => {
    const path = await tokensFile([
      { name: "trainer", roles: ["writer", "reader"], token: TOKEN },
      { name: "ops", role: "admin", token: `${TOKEN}-ops` },
      { name: "twice", roles: ["reader", "reader"], token: `${TOKEN}-twice` },
    ]);
    const tokens = await loadTokensFile(path);
    assert.equal(tokens.size, 3);
    assert.deepEqual(tokens.verify(TOKEN), { name: "trainer", roles: ["writer", "reader"] });
    assert.deepEqual(tokens.verify(`${TOKEN}-ops`), { name: "ops", roles: ["admin"] });
    assert.deepEqual(tokens.verify(`${TOKEN}-twice`), { name: "twice", roles: ["reader"] });
    assert.equal(tokens.verify(`${TOKEN}-other`), undefined);
  });

  // Each bad entry is refused with a message naming the file and the entry (position and name).
  const cases: Array<[string, unknown, RegExp]> = [
    ["an unknown role in roles", { name: "t", roles: ["writer", "owner"], token: TOKEN }, /entry 1 \("t"\): "roles" has "owner"; each must be one of writer, reader, admin/],
    ["an empty roles list", { name: "t", roles: [], token: TOKEN }, /entry 1 \("t"\): "roles" must be a non-empty list/],
    ["roles that is not a list", { name: "t", roles: "writer", token: TOKEN }, /entry 1 \("t"\): "roles" must be a non-empty list/],
    ["both role and roles", { name: "t", role: "writer", roles: ["reader"], token: TOKEN }, /entry 1 \("t"\): give "role" \(one\) or "roles" \(a list\), not both/],
    ["neither role nor roles", { name: "t", token: TOKEN }, /entry 1 \("t"\): needs "role" \(one of writer, reader, admin\) or "roles"/],
    ["an unknown role", { name: "t", role: "root", token: TOKEN }, /entry 1 \("t"\): "role" is "root"; it must be one of/],
    ["a misspelt key", { name: "t", role: "writer", token: TOKEN, rolse: ["reader"] }, /entry 1 \("t"\): unknown key "rolse"/],
    ["a short token", { name: "t", role: "writer", token: "short" }, /entry 1 \("t"\): "token" must be a string of at least 16 characters/],
    ["no name", { role: "writer", token: TOKEN }, /entry 1: "name" must be a non-empty string/],
    ["an entry that is not an object", "writer", /entry 1: must be an object/],
    ["a name used twice", { name: "first", role: "reader", token: `${TOKEN}-2` }, /entry 1 \("first"\): the name is used by an earlier entry too/],
    ["the same token twice", { name: "again", role: "reader", token: `${TOKEN}-1` }, /entry 1 \("again"\): same token as entry 0 \("first"\); give one entry "roles"/],
  ];
  for (const [what, entry, message] of cases) {
    it(`refuses ${what}, naming the entry`, async () => {
      const path = await tokensFile([{ name: "first", role: "writer", token: `${TOKEN}-1` }, entry]);
      const err = await loadTokensFile(path).then(
        () => assert.fail("the file was accepted"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TokensFileError);
      assert.ok(err.message.startsWith(`tokens file ${path} entry 1`), err.message);
      assert.match(err.message, message);
    });
  }

  it("never puts a token in a message, even one put where a role or a key belongs", async () => {
    const secret = "misplaced-secret-token-0123456789";
    for (const entry of [
      { name: "t", roles: ["writer", secret], token: TOKEN },
      { name: "t", role: secret, token: TOKEN },
      { name: "t", role: "writer", [secret]: true, token: TOKEN },
    ]) {
      const path = await tokensFile([entry]);
      const err = await loadTokensFile(path).then(
        () => assert.fail("the file was accepted"),
        (e: Error) => e,
      );
      assert.ok(!err.message.includes(secret), err.message);
      assert.match(err.message, /a string of 33 characters \(not shown: it could be a token\)/);
    }
  });
});
