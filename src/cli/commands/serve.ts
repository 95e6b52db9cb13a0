import { ConfigError, resolveConfig, usage } from "../../config.js";
import { PulseServer } from "../../server.js";
import { applyServerV8Settings } from "../../v8-tuning.js";
import { productVersion } from "../../version.js";
import { CliError, ExitCode } from "../exit-codes.js";

/** The server's usage text, as `pulse-log serve` takes the same flags as `npm start`. */
export const serveUsage = usage.replace("Usage: npm start -- [options]", "Usage: pulse-log serve [options]");

/**
 * `pulse-log serve [flags]`: runs the same server as `npm start`, configured
 * by the same resolveConfig (flags and environment), until SIGTERM or SIGINT,
 * then shuts down gracefully. SIGHUP reloads the tokens file.
 */
export async function serve(args: readonly string[]): Promise<void> {
  applyServerV8Settings();
  let config;
  try {
    config = resolveConfig(args, process.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(ExitCode.usage, `${err.message} (see pulse-log serve --help)`);
    throw err;
  }
  if (config.help) {
    process.stdout.write(serveUsage);
    return;
  }
  if (config.version) {
    process.stdout.write(`pulse-log ${productVersion()}\n`);
    return;
  }
  // SIGHUP never stops the server: ignored while it starts, then it reloads the tokens file.
  let onHangup: () => void = () => undefined;
  process.on("SIGHUP", () => onHangup());
  // Handled from before the start: a signal sent on seeing the "listening" line can
  // arrive before start() has returned, and must drain the server, not kill it
  // outright. One sent during the start stops the server once it runs.
  let requested: string | undefined;
  let onStop: (signal: string) => void = (signal) => void (requested ??= signal);
  process.on("SIGTERM", () => onStop("SIGTERM"));
  process.on("SIGINT", () => onStop("SIGINT"));
  const server = await PulseServer.start(config);
  onHangup = () => void server.reloadTokens();
  await new Promise<void>((resolve, reject) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      server.logger.info({ signal }, "shutting down");
      server.shutdown().then(resolve, (err: unknown) => {
        server.logger.fatal({ err }, "shutdown failed");
        reject(new CliError(ExitCode.failure, `shutdown failed: ${(err as Error).message}`));
      });
    };
    onStop = stop;
    if (requested !== undefined) stop(requested);
  });
}
