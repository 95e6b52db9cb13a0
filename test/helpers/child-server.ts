import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { builtCodeProblem } from "../../bin/built-code.js";

/** The repository root: the server runs from here. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The node arguments that run the server from {@link repoRoot}: the built
 * `dist/src/main.js` (`npm test` builds it; it starts in a fraction of the
 * time tsx takes to compile the sources), or `--import tsx src/main.ts` when
 * dist/ is missing or older than the sources (one test file run by hand
 * after an edit).
 */
export function serverEntry(): string[] {
  return builtCodeProblem() === undefined ? ["dist/src/main.js"] : ["--import", "tsx", "src/main.ts"];
}

/** One pino line the server printed on stdout. */
export type ServerLogLine = { level: number; msg: string } & Record<string, unknown>;

/** Options of {@link spawnServer}. */
export interface SpawnServerOptions {
  /** The JSONL log (flag --log-path). Required. */
  logPath: string;
  /** Loopback port to listen on. Default 0: the server picks one and prints it in its "listening" line. */
  port?: number;
  /** More command-line flags of `npm start`. Default none. */
  flags?: readonly string[];
  /** Environment added to this process's (e.g. UV_THREADPOOL_SIZE). Default none. */
  env?: Readonly<Record<string, string>>;
  /**
   * A command that runs the server, e.g. `["strace", "-f", "-o", "/dev/null"]`;
   * `node ...` is appended to it. Default none: node is the child itself.
   */
  wrapper?: readonly string[];
  /** Time to wait for the "listening" line, in ms. Default 30,000 (tsx start-up is slow under strace). */
  startTimeoutMs?: number;
}

/** The real server running as a child process. */
export interface ChildServer {
  /** The port the server listens on. */
  readonly port: number;
  /** `127.0.0.1:<port>`, for clients. */
  readonly address: string;
  /** The child's process id (the wrapper's when there is one); it leads its own process group. */
  readonly pid: number;
  /** Every pino line printed so far, in order (lines that are not JSON are in {@link ChildServer.output}). */
  readonly logs: readonly ServerLogLine[];
  /** Everything printed on stdout and stderr that is not a pino line, for failure messages. */
  output(): string;
  /** Sends `signal` (default SIGKILL) to the child's whole process group (the server and any wrapper). */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code once the child has exited (null when a signal ended it). */
  readonly stopped: Promise<number | null>;
  /** Resolves with the first log line (already printed or to come) that matches, or rejects after `timeoutMs` or when the child exits. */
  waitForLog(match: (line: ServerLogLine) => boolean, timeoutMs?: number): Promise<ServerLogLine>;
  /** SIGTERM (graceful shutdown), then waits for the exit; SIGKILL after `timeoutMs` (default 15,000). */
  stop(timeoutMs?: number): Promise<number | null>;
}

// Children still running; killed when this process exits so none outlives a failed test run.
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) killGroup(child, "SIGKILL");
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    // detached: the child leads a process group of its own; a wrapper's tracee is in it too.
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * Starts `node dist/src/main.js --addr 127.0.0.1:PORT --log-path LOG` (the
 * built code `npm test` makes; `node --import tsx src/main.ts` when dist/ is
 * older than the sources)
 * from the repository root as a child process and resolves once its pino
 * "listening" line appears on stdout. Rejects (with the child's output) when
 * the child exits first or does not listen in time.
 */
export async function spawnServer(options: SpawnServerOptions): Promise<ChildServer> {
  const args = [...serverEntry(), "--addr", `127.0.0.1:${options.port ?? 0}`, "--log-path", options.logPath, ...(options.flags ?? [])];
  const [command, ...commandArgs] = [...(options.wrapper ?? []), process.execPath, ...args];
  const child = spawn(command, commandArgs, {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  live.add(child);
  const stopped = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      live.delete(child);
      resolve(code);
    });
    child.once("error", () => {
      live.delete(child);
      resolve(null);
    });
  });

  const logs: ServerLogLine[] = [];
  const other: string[] = [];
  const waiters = new Set<() => void>();
  const onLine = (line: string, fromStdout: boolean) => {
    if (fromStdout && line.startsWith("{")) {
      try {
        const parsed = JSON.parse(line) as ServerLogLine;
        if (typeof parsed.msg === "string") {
          logs.push(parsed);
          for (const wake of waiters) wake();
          return;
        }
      } catch {
        /* not a pino line */
      }
    }
    other.push(line);
  };
  createInterface({ input: child.stdout! }).on("line", (l) => onLine(l, true));
  createInterface({ input: child.stderr! }).on("line", (l) => onLine(l, false));
  let exited = false;
  void stopped.then(() => {
    exited = true;
    for (const wake of waiters) wake();
  });

  const output = () => other.join("\n");
  const waitForLog = (match: (line: ServerLogLine) => boolean, timeoutMs = 10_000) =>
    new Promise<ServerLogLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no such server log line within ${timeoutMs} ms; its output:\n${output()}\n${logs.map((l) => JSON.stringify(l)).join("\n")}`));
      }, timeoutMs);
      const check = () => {
        const found = logs.find(match);
        if (found === undefined && !exited) return;
        waiters.delete(check);
        clearTimeout(timer);
        if (found !== undefined) resolve(found);
        else reject(new Error(`server exited before the awaited log line; its output:\n${output()}\n${logs.map((l) => JSON.stringify(l)).join("\n")}`));
      };
      waiters.add(check);
      check();
    });

  let listening: ServerLogLine;
  try {
    listening = await waitForLog((l) => l.msg === "listening", options.startTimeoutMs ?? 30_000);
  } catch (err) {
    killGroup(child, "SIGKILL");
    await stopped;
    throw err;
  }
  const port = Number(listening.port);
  const kill = (signal: NodeJS.Signals = "SIGKILL") => killGroup(child, signal);
  return {
    port,
    address: `127.0.0.1:${port}`,
    pid: child.pid!,
    logs,
    output,
    kill,
    stopped,
    waitForLog,
    async stop(timeoutMs = 15_000) {
      kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), timeoutMs);
      });
      if ((await Promise.race([stopped, late])) === "late") kill("SIGKILL");
      clearTimeout(timer);
      return stopped;
    },
  };
}
