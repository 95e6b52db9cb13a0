import assert from "node:assert/strict";
import { constants } from "node:fs";
import { readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { nodeFileSystem } from "../../../src/store/file/file-system.js";
import { tempDir, type TempDir } from "../../helpers/server.js";

/** The open flags of this process's descriptor on `path` (Linux /proc). */
async function openFlags(path: string): Promise<number> {
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
    if (target === path) {
      const info = await readFile(`/proc/self/fdinfo/${fd}`, "utf8");
      return parseInt(/flags:\s+([0-7]+)/.exec(info)![1], 8);
    }
  }
  throw new Error(`${path} is not open`);
}

describe("nodeFileSystem", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.remove());

  it("opens the log with O_DSYNC, so that a write returns only once it is durable", async function () {
    if (process.platform !== "linux") this.skip();
    const path = join(dir.path, "log.jsonl");
    const fh = await nodeFileSystem.openReadWrite(path, 0o600);
    try {
      const flags = await openFlags(path);
      assert.equal(flags & constants.O_DSYNC, constants.O_DSYNC, `flags 0${flags.toString(8)}`);
      const line = Buffer.from('{"seq":1}\n');
      assert.equal((await fh.write(line, 0, line.length, 0)).bytesWritten, line.length);
      await fh.truncate(4);
      await fh.datasync();
      assert.equal((await fh.stat()).size, 4);
    } finally {
      await fh.close();
    }
  });
});
