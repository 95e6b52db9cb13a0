import { ExitCode } from "./exit-codes.js";
import { Output } from "./output.js";
import { run } from "./program.js";

/**
 * Entry point of the `pulse-log` command (bin/pulse-log.js loads its built
 * JavaScript from dist/). Exit codes are listed in `pulse-log --help` and docs/operations.md.
 */
// A consumer that closes the pipe (`pulse-log replay | head`) is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(ExitCode.ok);
  throw err;
});

const code = await run(process.argv.slice(2), {
  out: (options) => new Output(options),
  err: (text) => process.stderr.write(text + "\n"),
  env: process.env,
});
// Let stdout flush, then exit even if a channel or timer is still open.
process.stdout.write("", () => process.exit(code));
