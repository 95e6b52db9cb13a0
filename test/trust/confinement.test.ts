import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { ConfigError, resolveConfig } from "../../src/config.js";
import { TrustDirectory } from "../../src/trust/trust-directory.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { arrangements, type TrustSetup } from "./helpers/arrangements.js";
import { readLog } from "./helpers/log.js";
import { rejectsWith } from "./helpers/rpc.js";

/** Every file under a folder (following nothing), as relative paths. */
async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, prefix: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const rel = prefix + entry.name;
      out.push(rel);
      if (entry.isDirectory()) await walk(join(dir, entry.name), rel + "/");
    }
  };
  await walk(root, "");
  return out.sort();
}

// Path attacks against the file RPCs, for both arrangements: every refusal
// names the field and leaves both the trust folder and the outside untouched.
for (const arrangement of arrangements) {
  describe(`trust file confinement, ${arrangement.name}`, () => {
    let dir: TempDir;
    let s: TrustSetup;
    let outside: string;

    beforeEach(async () => {
      dir = await tempDir("pulse-trust-conf-");
      outside = join(dir.path, "outside");
      await mkdir(outside);
      await writeFile(join(outside, "secret.json"), '{"stats": {"stolen": [9.0, 1.0]}}');
      s = await arrangement.start(dir.path);
      await s.trust.update({ outcome: { key: "k", success: true } });
    });
    afterEach(async () => {
      await s.stop();
      await dir.remove();
    });

    const untouched = async (check: () => Promise<void>) => {
      const insideBefore = await listTree(s.trustDir);
      const outsideBefore = await listTree(outside);
      const secret = await readFile(join(outside, "secret.json"), "utf8");
      await check();
      assert.deepEqual(await listTree(s.trustDir), insideBefore, "the trust folder changed");
      assert.deepEqual(await listTree(outside), outsideBefore, "the outside folder changed");
      assert.equal(await readFile(join(outside, "secret.json"), "utf8"), secret);
    };

    it("refuses malformed paths with INVALID_ARGUMENT naming path: absolute, .., NUL, empty, folders, backslashes", async () => {
      const bad = [
        join(outside, "x.json"),
        "/etc/passwd",
        "../x.json",
        "a/../../x.json",
        "a/..",
        "..",
        "x\u0000.json",
        "x\n.json",
        "",
        ".",
        "./",
        "sub/",
        "..\\x.json",
        "C:/x.json",
        "a".repeat(300) + ".json",
      ];
      await untouched(async () => {
        for (const p of bad) {
          try {
            await rejectsWith(s.trust.exportTrustToFile({ path: p }), status.INVALID_ARGUMENT, "path");
            await rejectsWith(s.trust.importTrustFromFile({ path: p }), status.INVALID_ARGUMENT, "path");
          } catch (err) {
            throw new Error(`path ${JSON.stringify(p)}: ${(err as Error).message}`, { cause: err });
          }
        }
      });
    });

    it("refuses a folder symlink that leads out (PERMISSION_DENIED naming path); nothing is written outside", async () => {
      await symlink(outside, join(s.trustDir, "out"));
      await untouched(async () => {
        await rejectsWith(s.trust.exportTrustToFile({ path: "out/x.json" }), status.PERMISSION_DENIED, "path");
        await rejectsWith(s.trust.exportTrustToFile({ path: "out/new/deeper/x.json" }), status.PERMISSION_DENIED, "path");
        await rejectsWith(s.trust.importTrustFromFile({ path: "out/secret.json" }), status.PERMISSION_DENIED, "path");
      });
    });

    it("refuses a file symlink that leads out, for reading and for writing", async () => {
      await symlink(join(outside, "secret.json"), join(s.trustDir, "innocent.json"));
      await untouched(async () => {
        await rejectsWith(s.trust.importTrustFromFile({ path: "innocent.json" }), status.PERMISSION_DENIED, "path");
        await rejectsWith(s.trust.exportTrustToFile({ path: "innocent.json" }), status.PERMISSION_DENIED, "path");
      });
      assert.deepEqual(
        (await s.trust.getMetrics({ keys: ["stolen"] })).metrics.map((m) => m.alpha),
        [1],
      );
    });

    it("refuses a dangling symlink that points out (export would create the file outside)", async () => {
      await symlink(join(outside, "planted.json"), join(s.trustDir, "planted.json"));
      await untouched(async () => {
        await rejectsWith(s.trust.exportTrustToFile({ path: "planted.json" }), status.PERMISSION_DENIED, "path");
        await rejectsWith(s.trust.importTrustFromFile({ path: "planted.json" }), status.PERMISSION_DENIED, "path");
      });
    });

    it("refuses a chain of symlinks inside the folder whose end leads out", async () => {
      await symlink(outside, join(s.trustDir, "b"));
      await symlink(join(s.trustDir, "b"), join(s.trustDir, "a"));
      await untouched(async () => {
        await rejectsWith(s.trust.exportTrustToFile({ path: "a/x.json" }), status.PERMISSION_DENIED, "path");
      });
    });

    it("follows symlinks that stay inside the folder", async () => {
      await mkdir(join(s.trustDir, "real"));
      await symlink(join(s.trustDir, "real"), join(s.trustDir, "alias"));
      const res = await s.trust.exportTrustToFile({ path: "alias/x.json" });
      assert.equal(res.path, "alias/x.json");
      assert.equal((await stat(join(s.trustDir, "real", "x.json"))).mode & 0o777, 0o600);
      const back = await s.trust.importTrustFromFile({ path: "alias/x.json" });
      assert.equal(back.found, true);
    });

    it("the learning log's trust RPCs refuse the same paths naming filepath, and log nothing", async () => {
      await symlink(outside, join(s.trustDir, "out"));
      const before = (await readLog(s.frontLogPath)).length;
      await untouched(async () => {
        await rejectsWith(s.log.exportTrustData({ filepath: "out/x.json" }), status.PERMISSION_DENIED, "filepath");
        await rejectsWith(s.log.importTrustData({ filepath: "out/secret.json" }), status.PERMISSION_DENIED, "filepath");
        await rejectsWith(s.log.exportTrustData({ filepath: "../x.json" }), status.INVALID_ARGUMENT, "filepath");
        await rejectsWith(s.log.importTrustData({ filepath: "x\u0000.json" }), status.INVALID_ARGUMENT, "filepath");
      });
      assert.equal((await readLog(s.frontLogPath)).length, before);
    });
  });
}

describe("TrustDirectory", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir("pulse-trust-dir-");
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("creates the folder with mode 0700", async () => {
    const files = new TrustDirectory({ root: join(dir.path, "a", "trust") });
    await files.ensure();
    assert.equal((await stat(join(dir.path, "a", "trust"))).mode & 0o777, 0o700);
  });

  it("works when the trust folder itself is a symlink (set by the operator)", async () => {
    await mkdir(join(dir.path, "real-trust"));
    await symlink(join(dir.path, "real-trust"), join(dir.path, "trust"));
    const files = new TrustDirectory({ root: join(dir.path, "trust") });
    assert.equal(await files.write("x.json", "path", "{}"), "x.json");
    assert.equal(await readFile(join(dir.path, "real-trust", "x.json"), "utf8"), "{}");
    assert.equal((await files.read("x.json", "path"))!.data.toString(), "{}");
  });

  it("replaces a file atomically, leaving no temporary file", async () => {
    const files = new TrustDirectory({ root: join(dir.path, "trust") });
    await files.write("x.json", "path", "one");
    await files.write("x.json", "path", "two");
    assert.deepEqual(await readdir(join(dir.path, "trust")), ["x.json"]);
    assert.equal(await readFile(join(dir.path, "trust", "x.json"), "utf8"), "two");
  });

  it("refuses files over the size limit and things that are not files", async () => {
    const files = new TrustDirectory({ root: join(dir.path, "trust"), fileBytesMax: 10 });
    await files.write("big.json", "path", "01234567890");
    await assert.rejects(files.read("big.json", "path"), (err: { code: number; message: string }) => err.code === status.FAILED_PRECONDITION && /over the limit/.test(err.message));
    await mkdir(join(dir.path, "trust", "folder"));
    await assert.rejects(files.read("folder", "path"), (err: { code: number }) => err.code === status.FAILED_PRECONDITION);
    await writeFile(join(dir.path, "trust", "file"), "x");
    await assert.rejects(files.write("file/x.json", "path", "{}"), (err: { code: number }) => err.code === status.FAILED_PRECONDITION);
  });
});

describe("trust folder configuration", () => {
  const base = ["--addr", "127.0.0.1:0", "--log-path", join("logs", "pulse_learning_log.jsonl")];

  it("defaults: trust/ and <log name>.trust-state/ beside the log", () => {
    const config = resolveConfig(base, {});
    assert.equal(config.trustDir, join("logs", "trust"));
    assert.equal(config.trustStateDir, join("logs", "pulse_learning_log.trust-state"));
    assert.deepEqual([config.trustSnapshotChanges, config.trustSnapshotIntervalMs], [1000, 60_000]);
  });

  it("refuses a trust folder that would let clients name the log or the tracker's state", () => {
    assert.throws(() => resolveConfig([...base, "--trust-dir", "logs"], {}), ConfigError);
    assert.throws(() => resolveConfig([...base, "--trust-dir", "."], {}), ConfigError);
    assert.throws(() => resolveConfig([...base, "--trust-dir", "t", "--trust-state-dir", join("t", "state")], {}), /must not contain the trust state folder/);
    assert.doesNotThrow(() => resolveConfig([...base, "--trust-dir", "elsewhere"], {}));
  });

  it("checks the snapshot options", () => {
    assert.throws(() => resolveConfig([...base, "--trust-snapshot-changes", "0"], {}), ConfigError);
    assert.throws(() => resolveConfig([...base, "--trust-snapshot-interval-ms", "soon"], {}), ConfigError);
    assert.equal(resolveConfig([...base, "--trust-snapshot-changes", "5"], {}).trustSnapshotChanges, 5);
  });
});
