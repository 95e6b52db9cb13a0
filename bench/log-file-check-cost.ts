/**
 * What the writer's check that the log file is still its file costs per
 * commit (fstat of the open file and stat of its path, before and after each
 * durable write), beside what a commit costs: one run, the same disk. checkUs
 * is the wall time of one check (its two calls run side by side on libuv's
 * threads), checkCpuUs the process CPU it takes (all threads).
 * Run: `npx tsx bench/log-file-check-cost.ts [commits]`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Appender } from "../src/store/file/appender.js";
import { nodeFileSystem } from "../src/store/file/file-system.js";
import { checkLogFile } from "../src/store/file/log-file-check.js";

const commits = Number(process.argv[2] ?? 2_000);
const dir = await mkdtemp(join(tmpdir(), "pulse-check-cost-"));
try {
  const path = join(dir, "log.jsonl");
  const { appender } = await Appender.open({ path });
  const body = `"event_type":"t","data":{"n":1}`;
  // One record per append, each awaited: every append is one commit (write, O_DSYNC, two checks).
  let t = performance.now();
  for (let i = 0; i < commits; i++) await appender.append([{ eventId: `id-${i}`, clientChosenId: false, body }]);
  const commitUs = ((performance.now() - t) * 1000) / commits;
  await appender.close();

  const fh = await nodeFileSystem.openReadWrite(path, 0o600);
  const { size } = await fh.stat();
  t = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < commits; i++) {
    if ((await checkLogFile(fh, path, nodeFileSystem, size)) !== undefined) throw new Error("the file changed");
  }
  const checkUs = ((performance.now() - t) * 1000) / commits;
  const used = process.cpuUsage(cpu);
  const checkCpuUs = (used.user + used.system) / commits;
  await fh.close();
  const perCommitUs = 2 * checkUs;
  process.stdout.write(
    `${JSON.stringify({ commits, commitUs: Math.round(commitUs), checkUs: Math.round(checkUs * 10) / 10, checkCpuUs: Math.round(checkCpuUs * 10) / 10, checksPerCommit: 2, checkShareOfCommit: Math.round((perCommitUs / commitUs) * 1000) / 1000 })}\n`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
