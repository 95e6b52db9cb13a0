import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../helpers/child-server.js";
import { cli } from "../helpers/cli.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const run = promisify(execFile);

/** Runs a launcher copied into `root` and reports how it ended (never throws on a non-zero exit). */
async function launch(root: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(root, "bin", "pulse-log.js"), ...args], { cwd: root, env: { PATH: process.env.PATH ?? "" } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("pulse-log launcher (bin/pulse-log.js)", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let root: string;
  // The sources older than the build, the build older than now (file times are coarse: a few ms).
  const sourcesAt = new Date(Date.now() - 7_200_000);
  const builtAt = new Date(Date.now() - 3_600_000);

  // A package laid out like this repository, whose built and source entry points say which ran.
  beforeEach(async () => {
    dir = await tempDir("pulse-launcher-");
    root = dir.path;
    await mkdir(join(root, "bin"));
    for (const f of ["pulse-log.js", "built-code.js"]) await copyFile(join(repoRoot, "bin", f), join(root, "bin", f));
    await writeFile(join(root, "package.json"), JSON.stringify({ type: "module" }));
    await mkdir(join(root, "src", "cli"), { recursive: true });
    await writeFile(join(root, "src", "cli", "main.ts"), 'const from: string = "sources";\nconsole.log(`ran the ${from}`);\n');
    await utimes(join(root, "src", "cli", "main.ts"), sourcesAt, sourcesAt);
    await mkdir(join(root, "dist", "src", "cli"), { recursive: true });
    await writeFile(join(root, "dist", "src", "cli", "main.js"), 'console.log("ran the built code");\n');
    await writeFile(join(root, "dist", "tsconfig.build.tsbuildinfo"), "{}");
    await utimes(join(root, "dist", "tsconfig.build.tsbuildinfo"), builtAt, builtAt);
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("runs the built code when dist/ is newer than every source, silently", async () => {
    const r = await launch(root, ["--help"]);
    assert.deepEqual(r, { code: 0, stdout: "ran the built code\n", stderr: "" });
  });

  it("never runs stale built code: a source newer than the build runs the sources through tsx, saying why", async () => {
    await symlink(join(repoRoot, "node_modules"), join(root, "node_modules"));
    await writeFile(join(root, "src", "cli", "main.ts"), 'const from: string = "changed sources";\nconsole.log(`ran the ${from}`);\n');
    const r = await launch(root, []);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "ran the changed sources\n");
    assert.match(r.stderr, /^pulse-log: src\/cli\/main\.ts changed after the last build of dist\/: running the sources through tsx \(slow\); `npm run build` makes the command start at once\n$/);
  });

  it("with no dist/ and no tsx, exits 1 naming the command that builds it", async () => {
    await rm(join(root, "dist"), { recursive: true });
    const r = await launch(root, []);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `pulse-log: dist/ is missing (it is built by \`npm run build\`), and tsx (to run the sources) is not installed: run \`npm run build\` in ${root}/\n`);
  });
});

describe("pulse-log's runtime needs no development tool", () => {
  it("tsx is a development dependency, and nothing under src/ or bin/ imports it outside the stale-build fallback and the ingest workers' start from sources", async () => {
    const manifest = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    assert.equal(manifest.dependencies.tsx, undefined);
    assert.ok(manifest.devDependencies.tsx, "tsx stays a development tool");
    const { stdout } = await run("grep", ["-rlE", "from \"tsx|import\\(\"tsx", join(repoRoot, "src"), join(repoRoot, "bin")]).catch((err: { stdout: string }) => err);
    // The ingest pool starts its workers through tsx only when it runs from its TypeScript sources (a server run through tsx: tests); the build starts dist/'s .js.
    assert.deepEqual(stdout.split("\n").filter((l) => l !== "").map((p) => p.slice(repoRoot.length)).sort(), ["bin/pulse-log.js", "src/ingest/ingest-pool.ts"]);
  });
});

describe("pulse-log --help", () => {
  it("lists every exit code, 5 (verify found the log altered) included", async () => {
    const dir = await tempDir("pulse-help-");
    try {
      const r = await cli(["--help"], dir.path);
      assert.equal(r.code, 0, r.stderr);
      const block = r.stdout.slice(r.stdout.indexOf("Exit codes:"));
      for (const code of [0, 1, 2, 3, 4]) assert.match(block, new RegExp(`\\n  ${code}  \\S`));
      assert.match(block, /\n {2}5 {2}the log is altered \(verify: the hash chain or the seq order breaks\)\n/);
    } finally {
      await dir.remove();
    }
  });
});
