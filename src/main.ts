/**
 * Entry point of `npm start` / `node dist/src/main.js`: config from flags and
 * environment, then serve until SIGTERM or SIGINT.
 *
 * A start that fails says why in one line on stderr, `pulse-learning-log:
 * <reason>`, and exits with a code a supervisor can act on (the stack follows
 * the line at --log-level debug or trace):
 *
 * - 0: stopped by SIGTERM/SIGINT after draining (also `--help`); SIGHUP
 *      does not stop it: it reloads the tokens file;
 * - 1: any other failure: the port in use, a lock file that cannot be used,
 *      a damaged trust state, a disk error, the server's own code that could
 *      not be loaded (dist/ rewritten by a build while it started), a bug;
 * - 2: configuration: a bad flag or environment variable, the tokens file,
 *      a TLS file missing or not PEM, a log path the server cannot write;
 * - 3: the log is held by another live process.
 *
 * Only Node's own modules are imported statically. The server's modules are
 * loaded inside main(), so that one that cannot be loaded (an empty or
 * half-written file in dist/ while a build rewrites it) is reported like any
 * other failure, instead of as Node's bare module-loader stack trace.
 */
import { fileURLToPath } from "node:url";

const EXIT = { failure: 1, config: 2, locked: 3 } as const;

/** The log level, read before (or without) the config: the stack of a failed start is printed at debug and trace. */
let logLevel = process.env.PULSE_LEARNING_LOG_LEVEL ?? "info";

/** One line saying why, from any error: its message (newlines folded), its cause when that adds something. */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err).replace(/\s*\n\s*/g, " ");
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  let reason = e.message;
  // A Node socket error, e.g. the metrics address: "listen EADDRINUSE: address already in use 127.0.0.1:9464".
  if (e.code === "EADDRINUSE" && e.port !== undefined) reason = `port ${e.address ?? ""}:${e.port} is in use (another process is listening on it)`;
  const cause = e.cause instanceof Error ? e.cause.message : undefined;
  // Errors that word their cause themselves (a port, a TLS file) are printed as they are.
  if (cause && !["ListenError", "TlsFileError", "LogPathError"].includes(e.name) && !reason.includes(cause)) reason += `: ${cause}`;
  if (reason === "") reason = e.name || "unknown error";
  return reason.replace(/\s*\n\s*/g, " ");
}

/** Prints `pulse-learning-log: <reason>` (one line), the stack after it at debug/trace or when asked, and exits. */
function fail(code: number, err: unknown, withStack = false, reason = reasonOf(err)): never {
  process.stderr.write(`pulse-learning-log: ${reason}\n`);
  if ((withStack || logLevel === "debug" || logLevel === "trace") && err instanceof Error && err.stack) {
    process.stderr.write(`${err.stack.replace(/^/gm, "    ")}\n`);
  }
  process.exit(code);
}

// Whatever escapes during start-up (an error event nobody listens to, a rejection nobody
// handles) ends the process with its reason on one line first, then its stack (it is a bug:
// the stack is needed). Once the server runs, a rejection nobody handled is logged and
// counted and the server goes on (see PulseServer.reportUnhandledRejection); an uncaught
// exception still ends it, as the process's state is then unknown.
let onUnhandledRejection: (err: unknown) => void = (err) => fail(EXIT.failure, err, true);
process.on("uncaughtException", (err) => fail(EXIT.failure, err, true));
process.on("unhandledRejection", (err) => onUnhandledRejection(err));

/** The server's modules, loaded here rather than imported statically (see the file's comment). */
async function loadModules() {
  try {
    const [v8, config, server, lock, tokens, version, tls, fileStore] = await Promise.all([
      import("./v8-tuning.js"),
      import("./config.js"),
      import("./server.js"),
      import("./store/file/lock.js"),
      import("./auth/tokens.js"),
      import("./version.js"),
      import("./auth/tls.js"),
      import("./store/file/open-file-store.js"),
    ]);
    // A file caught empty by the load is a module without exports: its import does not fail, so check.
    const expected: Array<[string, unknown]> = [
      ["v8-tuning.js: applyServerV8Settings", v8.applyServerV8Settings],
      ["config.js: resolveConfig", config.resolveConfig],
      ["config.js: ConfigError", config.ConfigError],
      ["server.js: PulseServer", server.PulseServer],
      ["store/file/lock.js: LogLockedError", lock.LogLockedError],
      ["auth/tokens.js: TokensFileError", tokens.TokensFileError],
      ["version.js: productVersion", version.productVersion],
      ["auth/tls.js: TlsFileError", tls.TlsFileError],
      ["store/file/open-file-store.js: LogPathError", fileStore.LogPathError],
    ];
    const missing = expected.filter(([, value]) => value === undefined).map(([name]) => name);
    if (missing.length > 0) throw new Error(`missing ${missing.join(", ")}`);
    return { ...v8, ...config, ...server, ...lock, ...tokens, ...version, TlsFileError: tls.TlsFileError, LogPathError: fileStore.LogPathError };
  } catch (err) {
    const dir = fileURLToPath(new URL(".", import.meta.url));
    fail(
      EXIT.failure,
      err,
      false,
      `cannot load the server's code in ${dir} (${err instanceof Error ? `${err.name}: ${reasonOf(err)}` : String(err)}): ` +
        "was a build rewriting it (its files are empty or mixed for a moment)? Start again once the build is done, or rebuild",
    );
  }
}

// SIGHUP (a reload request, or the terminal of a server started by hand closing) never ends the
// server: before it runs there is nothing to reload; once it runs, it reloads the tokens file.
let onHangup: () => void = () => undefined;
process.on("SIGHUP", () => onHangup());

async function main(): Promise<void> {
  const m = await loadModules();
  try {
    m.applyServerV8Settings();
    let config;
    try {
      config = m.resolveConfig(process.argv.slice(2), process.env);
    } catch (err) {
      if (err instanceof m.ConfigError) {
        // The one wrong thing, not the whole help.
        process.stderr.write(`pulse-learning-log: ${err.message} (see --help)\n`);
        process.exit(EXIT.config);
      }
      throw err;
    }
    if (config.help) {
      process.stdout.write(m.usage);
      return;
    }
    if (config.version) {
      process.stdout.write(`pulse-learning-log ${m.productVersion()}\n`);
      return;
    }
    logLevel = config.logLevel;
    // Handled from before the start: a signal sent on seeing the "listening" line can
    // arrive before start() has returned, and must drain the server, not kill it
    // outright. One sent during the start stops the server once it runs.
    let requested: string | undefined;
    let onStop: (signal: string) => void = (signal) => void (requested ??= signal);
    process.on("SIGTERM", () => onStop("SIGTERM"));
    process.on("SIGINT", () => onStop("SIGINT"));
    const server = await m.PulseServer.start(config);
    onUnhandledRejection = (err) => server.reportUnhandledRejection(err);
    onHangup = () => void server.reloadTokens();
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      server.logger.info({ signal }, "shutting down");
      server.shutdown().then(
        () => process.exit(0),
        (err) => {
          server.logger.fatal({ err }, "shutdown failed");
          process.exit(EXIT.failure);
        },
      );
    };
    onStop = stop;
    if (requested !== undefined) stop(requested);
  } catch (err) {
    // Configuration that will not fix itself by a restart.
    if (err instanceof m.TokensFileError || err instanceof m.TlsFileError || err instanceof m.LogPathError) fail(EXIT.config, err);
    // A second server on the same log: say who holds it and stop at once.
    if (err instanceof m.LogLockedError) fail(EXIT.locked, err);
    // Everything else (the port in use, a lock file that cannot be used, a damaged trust state, a disk error): one line.
    fail(EXIT.failure, err);
  }
}

void main();
