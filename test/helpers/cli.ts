import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { builtCodeProblem } from "../../bin/built-code.js";

/** The pulse-log launcher. */
export const PULSE_LOG_BIN = fileURLToPath(new URL("../../bin/pulse-log.js", import.meta.url));

/**
 * How a test runs `pulse-log`: the launcher, which runs the built code (`npm test`
 * builds dist/ first); when dist/ is older than the sources (one test file run by
 * hand after an edit), the sources through tsx directly, so that the launcher's
 * "dist/ is stale" notice does not land in the output the tests compare.
 */
export function pulseLogCommand(): string[] {
  return builtCodeProblem() === undefined ? [PULSE_LOG_BIN] : ["--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href, fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))];
}

/** What a pulse-log run printed and how it ended. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pulse-log args` from `cwd` (never the repository) with a clean environment. */
export function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [...pulseLogCommand(), ...args], { cwd, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}
