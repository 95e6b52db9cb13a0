import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The repository root (bench/servers/../..): servers and drivers run from there. */

/** The real server as `npm start` runs it: the build of src/main.ts (`npm run build`; `npm run bench` builds first). */
export const PULSE_SERVER_SCRIPT = "dist/src/main.js";
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** How to start one server process. */
export interface ServerSpec {
  /** Name for messages, e.g. "pulse". */
  name: string;
  /** Script to run, relative to the repository root: TypeScript runs with tsx, JavaScript (the built server, `npm run build`) as is. */
  script: string;
  /** Arguments of the script. */
  args: string[];
  /** Extra node flags, e.g. --cpu-prof. Default none. */
  nodeFlags?: string[];
  /** Time to wait for the "listening" line, in ms. Default 30,000. */
  startTimeoutMs?: number;
}

/**
 * A server under test, in its own process so its RSS is its own. It must
 * print a JSON line with `"msg":"listening"` and the bound `port` on stdout
 * (the real server's pino line at level info, the baselines' own line).
 */
export class ServerProcess {
  private stderrTail = "";
  private exited: Promise<void>;
  private readonly stderrListeners = new Set<(line: string) => void>();

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    /** host:port the server listens on. */
    readonly address: string,
    /** Time from spawning the process to its "listening" line, in ms. */
    readonly startupMs: number,
  ) {
    this.exited = once(child, "exit").then(() => undefined);
    createInterface({ input: child.stderr! }).on("line", (line) => {
      for (const listener of this.stderrListeners) listener(line);
    });
  }

  /** Calls `listener` with every line the server writes on stderr from now on; returns what stops it. */
  onStderrLine(listener: (line: string) => void): () => void {
    this.stderrListeners.add(listener);
    return () => this.stderrListeners.delete(listener);
  }

  /** Sends the server a signal (e.g. SIGUSR2 to a server running bench/server-probe.mjs). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** The server's process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /** Starts the process and resolves once it listens. */
  static async start(spec: ServerSpec): Promise<ServerProcess> {
    const spawnedAt = performance.now();
    const loader = spec.script.endsWith(".ts") ? ["--import", "tsx"] : [];
    const child = spawn(process.execPath, [...(spec.nodeFlags ?? []), ...loader, spec.script, ...spec.args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8");
    const keepStderr = (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    };
    child.stderr!.on("data", keepStderr);
    const lines = createInterface({ input: child.stdout! });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => fail(`did not listen within ${spec.startTimeoutMs ?? 30_000} ms`), spec.startTimeoutMs ?? 30_000);
      const fail = (why: string) => {
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(new Error(`${spec.name} server ${why}\n${stderr}`));
      };
      child.once("exit", (code, signal) => fail(`exited (${signal ?? code}) before listening`));
      lines.on("line", (line) => {
        let msg: { msg?: unknown; port?: unknown };
        try {
          msg = JSON.parse(line);
        } catch {
          return;
        }
        if (msg.msg === "listening" && typeof msg.port === "number") {
          clearTimeout(timer);
          child.removeAllListeners("exit");
          resolve(msg.port);
        }
      });
    });
    // Keep draining stdout so the server never blocks on a full pipe.
    lines.on("line", () => undefined);
    const server = new ServerProcess(spec.name, child, `127.0.0.1:${port}`, performance.now() - spawnedAt);
    child.stderr!.off("data", keepStderr);
    server.stderrTail = stderr;
    child.stderr!.on("data", (chunk: string) => {
      server.stderrTail = (server.stderrTail + chunk).slice(-4000);
    });
    return server;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the server last wrote on stderr (for error messages). */
  get stderr(): string {
    return this.stderrTail;
  }

  /**
   * Stops the server with SIGTERM (it drains and, with --cpu-prof, writes its
   * profile), and with SIGKILL if it has not exited within `timeoutMs` (default 30,000).
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
