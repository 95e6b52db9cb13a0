import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { builtCodeProblem } from "../../bin/built-code.js";
import { makeCertificates } from "../helpers/certificates.js";
import { repoRoot } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";

/** Runs the server with `args` until it exits (a start it refuses) and gives its exit code and stderr. */
async function refusedStart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const server = builtCodeProblem() === undefined ? ["dist/src/main.js"] : ["--import", "tsx", "src/main.ts"];
  const child = spawn(process.execPath, [...server, ...args], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stderr };
}

describe("operations: the server's TLS files are checked before anything is created", function () {
  this.timeout(60_000);
  let dir: TempDir;
  before(async () => {
    dir = await tempDir("pulse-tls-start-");
    makeCertificates(dir.path);
  });
  after(async () => {
    await dir.remove();
  });

  it("a key that does not match its certificate: one line naming both flags, exit 2, no log folder, file or lock", async () => {
    const nested = join(dir.path, "never", "log.jsonl");
    const certPath = join(dir.path, "server.pem");
    const keyPath = join(dir.path, "client.key"); // a valid key, of another certificate
    const o = await refusedStart(["--addr", "127.0.0.1:0", "--log-path", nested, "--tls-cert", certPath, "--tls-key", keyPath]);
    assert.equal(o.stderr.trim(), `pulse-learning-log: --tls-key ${keyPath} does not match the certificate of --tls-cert ${certPath}: give the private key the certificate was made for`);
    assert.equal(o.code, 2);
    assert.equal(existsSync(dirname(nested)), false, "a refused start creates nothing on disk");
  });
});
