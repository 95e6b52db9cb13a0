import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";

/** A process's state letter from /proc (R, S, Z...), undefined when it is gone. */
export async function stateOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "latin1").catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
}

/**
 * A zombie: the shell starts a child, prints its pid, then becomes `sleep 60`,
 * which never reaps it. The child exits only once its parent is `sleep` (a
 * child that exited earlier could be reaped by the shell itself, as happens
 * on a loaded machine). It has exited (its files are closed) but its pid
 * still answers kill(pid, 0), as a server's does between its kill -9 and its
 * reaping by the supervisor.
 */
export async function zombie(): Promise<{ pid: number; parent: ChildProcess }> {
  const child = `sh -c 'while [ "$(cat /proc/$PPID/comm)" != sleep ]; do sleep 0.01; done'`;
  const parent = spawn("sh", ["-c", `${child} & echo $!; exec sleep 60`], { stdio: ["ignore", "pipe", "ignore"] });
  const line = await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once("line", resolve));
  const pid = Number(line);
  // Polled: nothing announces that a process became a zombie. Generous for a loaded machine.
  for (let i = 0; i < 3000 && (await stateOf(pid)) !== "Z"; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await stateOf(pid), "Z", `pid ${pid} should be a zombie`);
  return { pid, parent };
}
