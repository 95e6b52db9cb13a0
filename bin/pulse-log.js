#!/usr/bin/env node
// Launcher of the `pulse-log` command. It runs the built JavaScript in dist/
// (`npm ci` and `npm run build` make it), which starts in a fraction of a
// second. When dist/ is missing or older than the sources it says so and runs
// the sources through tsx (a development tool: seconds per call), never stale
// code. The command runs in this very process (nothing is forked), so a SIGTERM
// or SIGINT sent to `pulse-log` reaches the command itself: `pulse-log serve`
// drains and exits.
import { pathToFileURL } from "node:url";
import { builtCliEntry, builtCodeProblem, packageRoot } from "./built-code.js";

stopWithTheNpxShell();
const problem = builtCodeProblem();
if (problem === undefined) {
  await import(pathToFileURL(builtCliEntry).href);
} else {
  let register;
  try {
    ({ register } = await import("tsx/esm/api"));
  } catch {
    process.stderr.write(`pulse-log: ${problem}, and tsx (to run the sources) is not installed: run \`npm run build\` in ${packageRoot}\n`);
    process.exit(1);
  }
  process.stderr.write(`pulse-log: ${problem}: running the sources through tsx (slow); \`npm run build\` makes the command start at once\n`);
  register();
  await import(pathToFileURL(`${packageRoot}src/cli/main.ts`).href);
}

/**
 * `npx pulse-log ...` does not start this process itself: npm runs it through
 * `sh -c`, and on SIGTERM or SIGINT npm forwards the signal to that shell only.
 * The shell dies of it without passing it on, and this process would be left
 * running on its own (a server keeping its port and its log's lock). So, when
 * npx started us and the shell that was our parent is gone, stop as on SIGTERM:
 * `serve` drains, other commands end. Outside npx nothing is watched: a server
 * started in the background by a script that then exits keeps running.
 */
function stopWithTheNpxShell() {
  if (process.env.npm_lifecycle_event !== "npx" || process.platform === "win32") return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.stderr.write("pulse-log: the shell npx ran this command in is gone (npx was stopped); stopping as on SIGTERM\n");
    process.kill(process.pid, "SIGTERM");
  }, 200);
  timer.unref();
}
