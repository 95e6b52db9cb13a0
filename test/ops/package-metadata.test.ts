import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../helpers/child-server.js";

const run = promisify(execFile);

interface Manifest {
  license?: string;
  repository?: { type?: string; url?: string; directory?: string };
  scripts?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}

const manifest = async (path: string) => JSON.parse(await readFile(join(repoRoot, path), "utf8")) as Manifest;

describe("package metadata a newcomer meets", () => {
  it("a LICENSE file (Apache-2.0) that both packages' license fields name", async () => {
    const license = await readFile(join(repoRoot, "LICENSE"), "utf8");
    assert.match(license, /^\s*Apache License\s+Version 2\.0, January 2004/);
    assert.equal((await manifest("package.json")).license, "Apache-2.0");
    assert.equal((await manifest("clients/ts/package.json")).license, "Apache-2.0");
  });

  it("the TypeScript package names its repository folder and builds in prepack, not at install (prepare)", async () => {
    const ts = await manifest("clients/ts/package.json");
    assert.equal(ts.repository?.type, "git");
    assert.equal(ts.repository?.directory, "clients/ts");
    assert.match(ts.repository?.url ?? "", /^git\+https:\/\/.+\.git$/);
    assert.equal(ts.scripts?.prepare, undefined);
    assert.equal(ts.scripts?.prepack, "npm run build");
  });

  it("npm pack's tarball of the TypeScript package is ignored by git", async () => {
    const { stdout } = await run("git", ["check-ignore", "clients/ts/pulse-learning-log-client-0.1.0.tgz"], { cwd: repoRoot });
    assert.equal(stdout.trim(), "clients/ts/pulse-learning-log-client-0.1.0.tgz");
  });

  it("every dependency's install script is reviewed in allowScripts, so npm ci lists none to approve", async () => {
    const { stdout } = await run("npm", ["install-scripts", "ls"], { cwd: repoRoot });
    assert.equal(stdout.trim(), "No packages with unreviewed install scripts.");
    // Denied, not allowed: the binaries come as optional dependencies and protobufjs's script only warns.
    assert.deepEqual((await manifest("package.json")).allowScripts, { "@bufbuild/buf": false, esbuild: false, protobufjs: false });
  });

  it("npm ci builds the code pulse-log runs (prepare), so npx pulse-log starts at once after the install", async () => {
    assert.equal((await manifest("package.json")).scripts?.prepare, "tsc -b tsconfig.build.json");
  });
});
