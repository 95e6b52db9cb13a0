import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../helpers/child-server.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

const run = promisify(execFile);

/** The ```js block of docs/opentelemetry.md: the complete example a user copies. */
async function docExample(): Promise<string> {
  const doc = await readFile(join(repoRoot, "docs", "opentelemetry.md"), "utf8");
  const blocks = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1, "one JavaScript example");
  return blocks[0];
}

describe("docs/opentelemetry.md: the JavaScript example runs as written", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let t: TestServer;
  before(async () => {
    dir = await tempDir("pulse-otel-doc-");
    t = await startServer(join(dir.path, "server"));
  });
  after(async () => {
    await t?.stop();
    await dir?.remove();
  });

  it("a script of only the example (its imports, shutdown) writes both events with the span's trace context", async () => {
    const script = (await docExample()).replace("http://127.0.0.1:50051", `http://${t.address}`);
    assert.match(script, /diag\.setLogger\(/, "shows how to see partial success");
    await writeFile(join(dir.path, "trainer.mjs"), script);
    await symlink(join(repoRoot, "node_modules"), join(dir.path, "node_modules"));
    await run(process.execPath, ["trainer.mjs"], { cwd: dir.path });
    const records = (await readFile(t.logPath, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { event_type: string; data: unknown; context: Record<string, unknown> });
    assert.deepEqual(records.map((r) => r.event_type), ["variable_weight_update", "symbolic_revision_triggered"]);
    assert.deepEqual(records[0].data, { variable: "temperature", from: 0.5, to: 0.75 });
    assert.equal(records[0].context.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert.equal(records[0].context.span_id, "b7ad6b7169203331");
    assert.equal(records[0].context.run, "r1");
  });
});
