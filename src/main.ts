import { TokensFileError } from "./auth/tokens.js";
import { ConfigError, resolveConfig, usage } from "./config.js";
import { PulseServer } from "./server.js";
import { LogLockedError } from "./store/lock.js";
import { applyServerV8Settings } from "./v8-tuning.js";

/** Entry point of `npm start`: config from flags and environment, then serve until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  applyServerV8Settings();
  let config;
  try {
    config = resolveConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pulse-learning-log: ${err.message}\n\n${usage}`);
      process.exit(2);
    }
    throw err;
  }
  if (config.help) {
    process.stdout.write(usage);
    return;
  }
  const server = await PulseServer.start(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ signal }, "shutting down");
    server.shutdown().then(
      () => process.exit(0),
      (err) => {
        server.logger.fatal({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err) => {
  if (err instanceof TokensFileError) {
    process.stderr.write(`pulse-learning-log: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof LogLockedError) {
    // A second server on the same log: say who holds it and stop at once.
    process.stderr.write(`pulse-learning-log: ${err.message}\n`);
    process.exit(3);
  }
  process.stderr.write(`pulse-learning-log: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
