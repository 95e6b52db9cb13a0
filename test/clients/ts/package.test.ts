import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../../helpers/child-server.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../../helpers/server.js";
import { recordsOf } from "./log-records.js";

const run = promisify(execFile);
const packageDir = join(repoRoot, "clients", "ts");
const bin = join(repoRoot, "node_modules", ".bin");

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/**
 * The exact versions this repository's lock file holds for the package's
 * dependencies and theirs, as `overrides` for a consumer's package.json.
 * `npm ci` leaves those versions in the npm cache; without the pins an
 * offline install resolves ranges such as protobufjs's `@types/node
 * >=13.7.0` to the newest version in the cached metadata, whose tarball is
 * not cached (ENOTCACHED).
 */
async function lockedVersions(): Promise<Record<string, string>> {
  const lock = JSON.parse(await readFile(join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string; dependencies?: Record<string, string> }> };
  const manifest = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const pins: Record<string, string> = {};
  const stack = Object.keys(manifest.dependencies);
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (pins[name] !== undefined) continue;
    const entry = lock.packages[`node_modules/${name}`];
    assert.ok(entry?.version, `the lock file holds ${name}`);
    pins[name] = entry.version;
    stack.push(...Object.keys(entry.dependencies ?? {}));
  }
  for (const name of Object.keys(manifest.dependencies)) delete pins[name]; // the package pins its own
  return pins;
}

/** Whether clients/ts/dist holds a build newer than every file of the package's sources (npm pack's prepack builds it). */
async function packageBuildIsFresh(): Promise<boolean> {
  const builtAt = await stat(join(packageDir, "dist", "src", "index.js")).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
  if (builtAt === undefined) return false;
  for (const folder of ["src", "gen"]) {
    for (const f of await filesUnder(join(packageDir, folder))) {
      if ((await stat(join(packageDir, folder, f))).mtimeMs > builtAt) return false;
    }
  }
  return true;
}

// A plain ESM script of another project: one unary call, one BatchWriter event.
const CONSUMER_SCRIPT = `
import { LearningLogClient, BatchWriter, InvalidArgument } from "@pulse/learning-log-client";
const address = process.argv[2];
const client = new LearningLogClient({ address });
const ack = await client.logRevisionTrigger("from the installed package");
client.close();
const writer = new BatchWriter({ address });
const eventId = await writer.logVariableWeightChange("installed", 0, 1);
await writer.close();
console.log(JSON.stringify({ ack, eventId, typedErrors: typeof InvalidArgument === "function" }));
`;

// The same from TypeScript: the package's types resolve through its exports.
const CONSUMER_TS = `
import { LearningLogClient, type Ack } from "@pulse/learning-log-client";
const client = new LearningLogClient({ address: "127.0.0.1:1" });
const pending: Promise<Ack> = client.logVariableWeightChange("x", 0, 1);
// @ts-expect-error a weight is a number
void client.logVariableWeightChange("x", "0", 1);
void pending.catch(() => undefined);
client.close();
`;

describe("TypeScript client: the package", function () {
  this.timeout(180_000);
  let dir: TempDir;
  before(async () => {
    dir = await tempDir("pulse-ts-package-");
  });
  after(async () => {
    await dir.remove();
  });

  it("has its generated code in clients/ts/gen fresh from proto/", async () => {
    const out = join(dir.path, "generated");
    await run(join(bin, "buf"), ["generate", "--template", "clients/ts/buf.gen.yaml", "-o", out], { cwd: repoRoot, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    const fresh = join(out, "clients", "ts", "gen");
    const committed = join(packageDir, "gen");
    const files = await filesUnder(fresh);
    assert.deepEqual(await filesUnder(committed), files, "the same files");
    for (const f of files) {
      assert.equal(await readFile(join(committed, f), "utf8"), await readFile(join(fresh, f), "utf8"), `clients/ts/gen/${f} is stale: run npm run generate --prefix clients/ts`);
    }
  });

  describe("installed into another project", () => {
    let t: TestServer;
    let serverDir: TempDir;
    before(async function () {
      // The installs below are offline: put every exact version they need in the npm
      // cache first (from the registry when the cache lacks one); without network or
      // cache, skip, saying why, rather than fail with ENOTCACHED.
      const manifest = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as { dependencies: Record<string, string> };
      const specs = Object.entries({ ...manifest.dependencies, ...(await lockedVersions()) }).map(([name, version]) => `${name}@${version}`);
      try {
        await run("npm", ["cache", "add", "--prefer-offline", "--no-audit", "--no-fund", ...specs], { cwd: dir.path });
      } catch (err) {
        const reason = ((err as { stderr?: string }).stderr ?? String(err)).split("\n").find((l) => /ERR!|error/i.test(l)) ?? String(err);
        console.log(`      skipped: the npm cache lacks the package's dependencies and the registry cannot be reached (${reason.trim()})`);
        this.skip();
      }
      serverDir = await tempDir("pulse-ts-package-server-");
      t = await startServer(serverDir.path);
    });
    after(async () => {
      await t?.stop();
      await serverDir?.remove();
    });

    async function consumer(name: string): Promise<string> {
      const project = join(dir.path, name);
      await run("mkdir", ["-p", project]);
      await writeFile(join(project, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true, type: "module", overrides: await lockedVersions() }, null, 2));
      await writeFile(join(project, "main.mjs"), CONSUMER_SCRIPT);
      return project;
    }

    async function logsFromConsumer(project: string): Promise<void> {
      const { stdout } = await run(process.execPath, ["main.mjs", t.address], { cwd: project });
      const out = JSON.parse(stdout) as { ack: { eventId: string; seq: number }; eventId: string; typedErrors: boolean };
      assert.equal(out.typedErrors, true);
      const records = await recordsOf(t.logPath);
      assert.equal(records.get(out.ack.eventId)?.event_type, "symbolic_revision_triggered");
      assert.equal(records.get(out.ack.eventId)?.seq, out.ack.seq);
      assert.deepEqual(records.get(out.eventId)?.data, { variable: "installed", from: 0, to: 1 });
    }

    it("from a tarball (npm pack), offline from the npm cache, and logs from a plain ESM script", async () => {
      const { stdout } = await run("npm", ["pack", "--silent", "--pack-destination", dir.path], { cwd: packageDir });
      const tarball = join(dir.path, stdout.trim().split("\n").pop()!);
      const project = await consumer("from-tarball");
      await run("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: project });
      await logsFromConsumer(project);
      // Typed: a TypeScript consumer type-checks against the package's declarations.
      await writeFile(join(project, "main.ts"), CONSUMER_TS);
      await run(join(bin, "tsc"), ["--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--types", "node", "main.ts"], { cwd: project });
    });

    it("from the folder, built first (npm install <path> links it; the package builds in prepack, for npm pack and publish only)", async () => {
      // The tarball's prepack has just built it when that test ran first: a second build would only cost time.
      if (!(await packageBuildIsFresh())) await run("npm", ["run", "--silent", "build"], { cwd: packageDir });
      const project = await consumer("from-folder");
      await run("npm", ["install", "--offline", "--no-audit", "--no-fund", packageDir], { cwd: project });
      await logsFromConsumer(project);
    });
  });
});
