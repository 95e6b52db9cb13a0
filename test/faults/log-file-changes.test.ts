import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, rename, rm, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { v4 as uuidv4 } from "uuid";
import { ServiceError } from "../../src/errors.js";
import { Appender } from "../../src/store/file/appender.js";
import { LogFileChangedError } from "../../src/store/file/log-file-check.js";
import type { AppendEntry, StorageFailure } from "../../src/store/store.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const entry = (n: number): AppendEntry => ({ eventId: uuidv4(), clientChosenId: true, body: `"event_type":"test","data":{"n":${n},"pad":"${"x".repeat(200)}"}` });

/** Every seq in every file of the folder (when it exists). */
async function seqsIn(dir: string): Promise<number[]> {
  if (!existsSync(dir)) return [];
  const seqs: number[] = [];
  for (const name of await readdir(dir)) {
    if (!name.includes(".jsonl") || name.endsWith(".lock")) continue;
    for (const line of (await readFile(join(dir, name), "utf8")).split("\n")) if (line !== "") seqs.push((JSON.parse(line) as { seq: number }).seq);
  }
  return seqs.sort((a, b) => a - b);
}

/** What an operator does to the live log, with where the log's records end up afterwards. */
interface Mishap {
  name: string;
  change: LogFileChangedError["change"];
  act(logDir: string, logPath: string): Promise<void>;
}

const mishaps: Mishap[] = [
  { name: "the log folder deleted (rm -rf)", change: "removed", act: (dir) => rm(dir, { recursive: true, force: true }) },
  { name: "the log folder renamed (mv log log.moved)", change: "removed", act: (dir) => rename(dir, `${dir}.moved`) },
  { name: "the log file renamed", change: "removed", act: (_dir, path) => rename(path, `${path}.moved`) },
  { name: "the log file deleted", change: "removed", act: (_dir, path) => unlink(path) },
  {
    name: "the log file replaced by another file",
    change: "replaced",
    act: async (_dir, path) => {
      await writeFile(`${path}.new`, "");
      await rename(`${path}.new`, path);
    },
  },
  { name: "the log file truncated", change: "truncated", act: (_dir, path) => truncate(path, 0) },
];

const segmentings = [
  { name: "default segment size", segmentBytesMax: undefined },
  // About three records per segment: every few commits close a segment.
  { name: "rotation on", segmentBytesMax: 1_000 },
];

describe("a log file that vanishes or changes under the writer fails closed", () => {
  let tmp: TempDir;
  let logDir: string;
  let logPath: string;
  beforeEach(async () => {
    tmp = await tempDir("pulse-vanish-");
    logDir = join(tmp.path, "log");
    logPath = join(logDir, "pulse_learning_log.jsonl");
  });
  afterEach(() => tmp.remove());

  for (const segmenting of segmentings) {
    for (const mishap of mishaps) {
      it(`${mishap.name}, ${segmenting.name}: every later append is refused UNAVAILABLE, reported once, and no seq is used twice`, async () => {
        const failures: StorageFailure[] = [];
        const { appender } = await Appender.open({ path: logPath, segmentBytesMax: segmenting.segmentBytesMax, observer: { failed: (f) => failures.push(f) } });
        let acked: number[] = [];
        try {
          for (let i = 0; i < 10; i++) acked.push(...(await appender.append([entry(i)])).map((r) => r.seq));
          await mishap.act(logDir, logPath);
          for (let i = 0; i < 20; i++) {
            await assert.rejects(appender.append([entry(100 + i)]), (err: unknown) => {
              assert.ok(err instanceof ServiceError, String(err));
              assert.equal(err.code, status.UNAVAILABLE);
              assert.match(err.message, /^the log file was (removed|replaced|truncated)/);
              assert.match(err.message, /nothing was written; restart it after restoring the log/);
              if (i === 0) assert.ok(err instanceof LogFileChangedError && err.change === mishap.change, `${(err as LogFileChangedError).change}`);
              return true;
            });
          }
          // Appends in flight together are refused too.
          const together = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => appender.append([entry(200 + i)])));
          assert.ok(together.every((r) => r.status === "rejected"));
        } finally {
          await appender.close();
        }
        assert.equal(failures.length, 1, "the change is reported (logged at error) once");
        assert.ok(failures[0].err instanceof LogFileChangedError);
        // Nothing acked after the change; nothing written past the acked seqs anywhere in the folder or where it moved.
        acked = acked.sort((a, b) => a - b);
        const everywhere = [...(await seqsIn(logDir)), ...(await seqsIn(`${logDir}.moved`))];
        assert.deepEqual([...new Set(everywhere)].length, everywhere.length, "no seq was written twice");
        assert.ok(everywhere.every((s) => s <= acked[acked.length - 1]), `no record past the last ack: ${everywhere.join(",")}`);
        if (mishap.change === "truncated") {
          // No hole of NUL bytes: the file holds nothing the writer wrote after the cut.
          const bytes = await readFile(logPath);
          assert.equal(bytes.indexOf(0), -1);
        }
      });
    }
  }

  it("a second writer appending to the file is noticed before the next commit overwrites it", async () => {
    const { appender } = await Appender.open({ path: logPath, lock: false });
    try {
      await appender.append([entry(1)]);
      await writeFile(logPath, '{"event_id":"x","timestamp":"t","event_type":"other","data":{},"seq":2}\n', { flag: "a" });
      await assert.rejects(appender.append([entry(2)]), (err: unknown) => err instanceof LogFileChangedError && err.change === "written");
    } finally {
      await appender.close();
    }
    assert.equal((await readFile(logPath, "utf8")).split("\n").filter((l) => l.includes('"other"')).length, 1, "the other writer's line is intact");
  });
});
