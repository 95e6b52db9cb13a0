import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { hostname } from "node:os";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { productVersion } from "../../src/version.js";
import { repoRoot, serverEntry } from "../helpers/child-server.js";
import { zombie } from "../helpers/zombie.js";
import { tempDir, type TempDir } from "../helpers/server.js";

/** What a start of the real server process (`node dist/src/main.js`, or its sources through tsx) did: listened, or exited with what on stderr. */
interface StartOutcome {
  listened: boolean;
  code: number | null;
  stderr: string;
  stdout: string;
  child: ChildProcess;
}

/** Starts the server and waits until it listens or exits (or `timeoutMs`). A server that listens is left running: stop it. */
async function start(args: string[], timeoutMs = 30_000, onLine?: (line: string) => void, root = repoRoot, env: NodeJS.ProcessEnv = {}): Promise<StartOutcome> {
  // A copy of the sources with an edit (root is not the repository's) runs through tsx.
  const entry = root === repoRoot ? serverEntry() : ["--import", "tsx", "src/main.ts"];
  const child = spawn(process.execPath, [...entry, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const outcome = await new Promise<{ listened: boolean; code: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`neither listening nor exited within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      stdout += line + "\n";
      onLine?.(line);
      if (line.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolve({ listened: true, code: null });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      // Let the pipes deliver the last bytes.
      setTimeout(() => resolve({ listened: false, code }), 50);
    });
  });
  return { ...outcome, stdout, stderr, child };
}

async function stop(o: StartOutcome): Promise<number | null> {
  if (o.child.exitCode !== null) return o.child.exitCode;
  const exited = new Promise<number | null>((resolve) => o.child.once("exit", resolve));
  o.child.kill("SIGTERM");
  return exited;
}

async function busyPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** The one line a failed start must print: `pulse-learning-log: <reason>`, nothing else on stderr. */
function oneLine(o: StartOutcome): string {
  assert.equal(o.listened, false, "the start should have failed");
  const lines = o.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `a failed start says why in one line on stderr, got:\n${o.stderr}`);
  assert.match(lines[0], /^pulse-learning-log: \S/);
  return lines[0];
}

describe("a start that fails says why in one line, and a restart succeeds", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let logPath: string;
  const running: StartOutcome[] = [];
  const held: Server[] = [];
  beforeEach(async () => {
    dir = await tempDir("pulse-start-");
    logPath = join(dir.path, "log.jsonl");
  });
  afterEach(async () => {
    for (const o of running.splice(0)) o.child.kill("SIGKILL");
    for (const s of held.splice(0)) s.close();
    await dir.remove();
  });

  it("a busy gRPC port: one line naming the port, exit 1, nothing created on disk", async () => {
    const { server, port } = await busyPort();
    held.push(server);
    const nested = join(dir.path, "never", "log.jsonl");
    const o = await start(["--addr", `127.0.0.1:${port}`, "--log-path", nested]);
    running.push(o);
    assert.equal(oneLine(o), `pulse-learning-log: port 127.0.0.1:${port} is in use (another process is listening on it)`);
    assert.equal(o.code, 1);
    assert.equal(existsSync(dirname(nested)), false, "no log folder, file or lock");
    // The supervisor's next start, once the port is free, succeeds (the lock was released).
    server.close();
    const again = await start(["--addr", `127.0.0.1:${port}`, "--log-path", logPath]);
    running.push(again);
    assert.equal(again.listened, true, again.stderr);
    assert.equal(await stop(again), 0);
  });

  it("a port still held for a moment at a restart: the start waits for it instead of failing", async () => {
    const { server, port } = await busyPort();
    held.push(server);
    let waiting = false;
    // Freed as soon as the new server says it waits for it (no timer: on a loaded machine a delay could outlast its wait).
    const o = await start(["--addr", `127.0.0.1:${port}`, "--log-path", logPath], 30_000, (line) => {
      if (!waiting && line.includes('"msg":"address in use; waiting for it to be free"')) {
        waiting = true;
        server.close();
      }
    });
    running.push(o);
    assert.equal(waiting, true, `the server should have said it waits for the port; stdout:\n${o.stdout}\nstderr:\n${o.stderr}`);
    assert.equal(o.listened, true, `it should have waited for the port; stderr:\n${o.stderr}`);
    assert.equal(await stop(o), 0);
  });

  it("a usage error: one line naming the wrong flag or variable and pointing to --help, exit 2, nothing created", async () => {
    const nested = join(dir.path, "never", "log.jsonl");
    const o = await start(["--addr", "127.0.0.1:0", "--log-path", nested, "--queue-bytes-max", "lots"]);
    assert.equal(oneLine(o), 'pulse-learning-log: --queue-bytes-max must be a positive integer; got "lots" (see --help)');
    assert.equal(o.code, 2);
    const env = await start(["--addr", "127.0.0.1:0", "--log-path", nested], 30_000, undefined, repoRoot, { PULSE_LEARNING_LOG_PII_MODE: "maybe" });
    assert.match(oneLine(env), /^pulse-learning-log: PULSE_LEARNING_LOG_PII_MODE \(environment\) must be one of off, redact, reject; got "maybe"/);
    assert.equal(existsSync(dirname(nested)), false, "a refused start creates nothing on disk");
    const version = await start(["--version"]);
    assert.deepEqual([version.code, version.stdout], [0, `pulse-learning-log ${productVersion()}\n`]);
  });

  it("a TLS file missing or not PEM, a log path the server cannot write: one line naming the flag and the fix, exit 2, nothing created", async () => {
    const nested = join(dir.path, "never", "log.jsonl");
    await writeFile(join(dir.path, "junk.pem"), "not a certificate\n");
    const missing = await start(["--addr", "127.0.0.1:0", "--log-path", nested, "--tls-cert", join(dir.path, "nope.pem"), "--tls-key", join(dir.path, "junk.pem")]);
    assert.equal(oneLine(missing), `pulse-learning-log: --tls-cert ${join(dir.path, "nope.pem")}: no such file; give the server's certificate chain (PEM)`);
    assert.equal(missing.code, 2);
    const junk = await start(["--addr", "127.0.0.1:0", "--log-path", nested, "--tls-cert", join(dir.path, "junk.pem"), "--tls-key", join(dir.path, "junk.pem")]);
    assert.match(oneLine(junk), new RegExp(`^pulse-learning-log: --tls-cert ${join(dir.path, "junk.pem")} is not a PEM certificate \\(`));
    assert.equal(junk.code, 2);
    assert.equal(existsSync(dirname(nested)), false, "no log folder, file or lock");
    // A file where the log's folder should be (EACCES says "permission denied" the same way; root is not refused it).
    await writeFile(join(dir.path, "a-file"), "");
    const notDir = await start(["--addr", "127.0.0.1:0", "--log-path", join(dir.path, "a-file", "logs", "log.jsonl")]);
    assert.match(oneLine(notDir), /^pulse-learning-log: --log-path \S+: a file is in the way where a folder of the path should be \(ENOTDIR on mkdir \S+\); choose a log path the server's user can write$/);
    assert.equal(notDir.code, 2);
  });

  it("a busy metrics port: one line naming it", async () => {
    const { server, port } = await busyPort();
    held.push(server);
    const nested = join(dir.path, "never", "log.jsonl");
    const o = await start(["--addr", "127.0.0.1:0", "--log-path", nested, "--metrics-addr", `127.0.0.1:${port}`]);
    running.push(o);
    assert.equal(oneLine(o), `pulse-learning-log: port 127.0.0.1:${port} is in use (another process is listening on it)`);
    assert.equal(existsSync(dirname(nested)), false, "no log folder, file or lock");
    assert.equal(o.code, 1);
  });

  it("a log held by a live process: one line naming it, exit 3", async () => {
    const first = await start(["--addr", "127.0.0.1:0", "--log-path", logPath]);
    running.push(first);
    assert.equal(first.listened, true, first.stderr);
    const second = await start(["--addr", "127.0.0.1:0", "--log-path", logPath]);
    running.push(second);
    assert.match(oneLine(second), new RegExp(`^pulse-learning-log: the log is already being written by process ${first.child.pid} on `));
    assert.equal(second.code, 3);
  });

  it("a lock file that cannot be used: one line naming it, exit 1", async () => {
    await mkdir(`${logPath}.lock`, { recursive: true });
    const o = await start(["--addr", "127.0.0.1:0", "--log-path", logPath]);
    running.push(o);
    assert.ok(oneLine(o).startsWith(`pulse-learning-log: lock file ${logPath}.lock: `), o.stderr);
    assert.equal(o.code, 1);
  });

  it("a damaged trust snapshot: one line naming it (no bare stack trace); the stack follows at --log-level debug", async () => {
    const first = await start(["--addr", "127.0.0.1:0", "--log-path", logPath]);
    assert.equal(first.listened, true, first.stderr);
    assert.equal(await stop(first), 0);
    const snapshot = join(dir.path, "log.trust-state", "snapshot.json");
    const text = await readFile(snapshot, "utf8");
    await writeFile(snapshot, text.slice(0, text.length >> 1));
    const o = await start(["--addr", "127.0.0.1:0", "--log-path", logPath]);
    running.push(o);
    assert.ok(oneLine(o).startsWith(`pulse-learning-log: trust snapshot ${snapshot} is not valid JSON`), o.stderr);
    assert.equal(o.code, 1);
    const debug = await start(["--addr", "127.0.0.1:0", "--log-path", logPath, "--log-level", "debug"]);
    running.push(debug);
    const lines = debug.stderr.split("\n");
    assert.ok(lines[0].startsWith(`pulse-learning-log: trust snapshot ${snapshot} is not valid JSON`), debug.stderr);
    assert.match(lines.slice(1).join("\n"), /\n?\s+at /, "the stack follows the line at debug");
  });

  /** A copy of the sources (gen/ and node_modules linked) where `edit` changes files, as a build caught half-way leaves them. */
  async function sourcesWith(edit: (src: string) => Promise<void>): Promise<string> {
    const root = join(dir.path, "code");
    await cp(join(repoRoot, "src"), join(root, "src"), { recursive: true });
    await symlink(join(repoRoot, "gen"), join(root, "gen"));
    await symlink(join(repoRoot, "node_modules"), join(root, "node_modules"));
    await writeFile(join(root, "package.json"), JSON.stringify({ type: "module" }));
    await edit(join(root, "src"));
    return root;
  }

  it("a module caught empty by a build rewriting the code: one line naming the code's folder, exit 1 (not the module loader's bare stack)", async () => {
    const root = await sourcesWith((src) => writeFile(join(src, "store", "write-queue.ts"), ""));
    const o = await start(["--addr", "127.0.0.1:0", "--log-path", logPath], 30_000, undefined, root);
    running.push(o);
    const line = oneLine(o);
    assert.ok(line.startsWith(`pulse-learning-log: cannot load the server's code in ${join(root, "src")}/ (SyntaxError: The requested module `), line);
    assert.match(line, /The requested module '[./]+write-queue\.js' does not provide an export named/);
    assert.equal(o.code, 1);
  });

  it("the entry's own imports caught empty: one line too", async () => {
    const root = await sourcesWith((src) => writeFile(join(src, "server.ts"), ""));
    const o = await start(["--addr", "127.0.0.1:0", "--log-path", logPath], 30_000, undefined, root);
    running.push(o);
    assert.match(oneLine(o), /^pulse-learning-log: cannot load the server's code in .* \(Error: missing server\.js: PulseServer\): was a build rewriting it/);
    assert.equal(o.code, 1);
  });

  it("the lock of a killed server not yet reaped (a zombie) is taken over: the restart succeeds", async function () {
    const { pid, parent } = await zombie();
    try {
      await writeFile(`${logPath}.lock`, JSON.stringify({ pid, host: hostname(), since: new Date().toISOString() }) + "\n");
      const o = await start(["--addr", "127.0.0.1:0", "--log-path", logPath]);
      running.push(o);
      assert.equal(o.listened, true, o.stderr);
      assert.match(o.stdout, /"msg":"took over the lock of a process that is gone"/);
      assert.equal(await stop(o), 0);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
