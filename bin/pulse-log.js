#!/usr/bin/env node
// Launcher of the `pulse-log` command: TypeScript runs through tsx (no build
// step), from wherever the command is invoked. The command runs in this very
// process (tsx is registered as a loader, nothing is forked), so a SIGTERM or
// SIGINT sent to `pulse-log` reaches the command itself: `pulse-log serve`
// drains and exits.
import { register } from "tsx/esm/api";

stopWithTheNpxShell();
register();
await import("../src/cli/main.ts");

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
