import assert from "node:assert/strict";
import { copyFile, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { v4 as uuidv4 } from "uuid";
import { Appender } from "../../src/store/file/appender.js";
import { createAuditWriter } from "../../src/trust/audit-writer.js";
import { LocalTrustTracker, type RestoreReport } from "../../src/trust/local-tracker.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { opArb, recordsArb, type Op } from "./helpers/arbitraries.js";
import { recordsOfType } from "./helpers/log.js";

/** A tracker over a real appender in `dir`, as the server builds it (without gRPC). */
async function openTracker(dir: string, options: { snapshotChanges?: number; snapshotAfterScanRecords?: number; segmentBytesMax?: number; onBackgroundError?: (err: unknown) => void; onSnapshot?: (seq: number) => void } = {}) {
  const logPath = join(dir, "log.jsonl");
  const { appender } = await Appender.open({ path: logPath, lock: false, segmentBytesMax: options.segmentBytesMax });
  let opened: { tracker: LocalTrustTracker; restore: RestoreReport };
  try {
    opened = await LocalTrustTracker.open({
      audit: createAuditWriter(appender, 1024 * 1024),
      trustDir: join(dir, "trust"),
      durability: {
        stateDir: join(dir, "state"),
        logSeq: () => appender.lastSeq,
        records: appender.records,
        snapshotChanges: options.snapshotChanges ?? 1000,
        snapshotIntervalMs: 3_600_000,
        snapshotAfterScanRecords: options.snapshotAfterScanRecords,
      },
      onSnapshot: options.onSnapshot,
      onBackgroundError: options.onBackgroundError,
    });
  } catch (err) {
    await appender.close();
    throw err;
  }
  return {
    ...opened,
    appender,
    logPath,
    /** A crash: the tracker writes nothing more (no last snapshot); what the log acked stays. */
    async crash() {
      await appender.close();
    },
    async stop() {
      await opened.tracker.close();
      await appender.close();
    },
  };
}

async function apply(tracker: LocalTrustTracker, op: Op): Promise<void> {
  if (op.kind === "update") await tracker.update(op.outcomes);
  else await tracker.applyDecay(op.key, op.factor, op.minCount);
}

/** Appends `count` events that are not trust records. */
async function appendNoise(appender: Appender, count: number): Promise<void> {
  for (let done = 0; done < count; ) {
    const n = Math.min(10_000, count - done);
    await appender.append(Array.from({ length: n }, (_, i) => ({ eventId: uuidv4(), clientChosenId: false, body: `"event_type":"noise","data":{"i":${done + i}}` })));
    done += n;
  }
}

describe("trust state restore (in process, over a real log)", () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await tempDir("pulse-trust-restore-");
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("starts fresh: a new audit key, an empty tracker and a first snapshot (0600 in a 0700 folder)", async () => {
    const t = await openTracker(dir.path);
    assert.deepEqual([t.restore.fresh, t.restore.keys, t.restore.replayed], [true, 0, 0]);
    const state = join(dir.path, "state");
    assert.equal((await stat(state)).mode & 0o777, 0o700);
    assert.equal((await stat(join(state, "snapshot.json"))).mode & 0o777, 0o600);
    assert.equal((await stat(join(state, "audit-key"))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir.path, "trust"))).mode & 0o777, 0o700);
    await t.stop();
  });

  it("after a crash, restores the snapshot plus the audit records after it, identically", async () => {
    const t = await openTracker(dir.path);
    await t.tracker.update([{ key: "a", success: true }]);
    await t.tracker.update([{ key: "b", success: false, weight: 2 }]);
    await t.tracker.applyDecay(undefined, 0.5, 0);
    await t.tracker.snapshot();
    await t.tracker.update([{ key: "a", success: false, weight: 0.3 }]);
    await t.tracker.update([{ key: "c", success: true }, { key: "a", success: true }]);
    await t.tracker.applyDecay("a", 0.9, 1);
    const before = await t.tracker.exportRecords();
    await t.crash();

    const again = await openTracker(dir.path);
    assert.equal(again.restore.replayed, 3);
    assert.deepEqual(await again.tracker.exportRecords(), before);
    // The chain continues: more changes and another restart still agree.
    await again.tracker.update([{ key: "d", success: true }]);
    const after = await again.tracker.exportRecords();
    await again.crash();
    const third = await openTracker(dir.path);
    assert.deepEqual(await third.tracker.exportRecords(), after);
    await third.stop();
  });

  it("snapshots every N changes and at close; a start after a close replays nothing", async () => {
    const seen: number[] = [];
    let wake: (() => void) | undefined;
    const t = await openTracker(dir.path, {
      snapshotChanges: 3,
      onSnapshot: (seq) => {
        seen.push(seq);
        wake?.();
      },
    });
    const snapshotTaken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    for (let i = 0; i < 3; i++) await t.tracker.update([{ key: "k", success: true }]);
    await snapshotTaken;
    const text = JSON.parse(await readFile(join(dir.path, "state", "snapshot.json"), "utf8")) as { seq: number; trust_seq: number; records: unknown[] };
    const audit = await recordsOfType(t.logPath, "trust_updated");
    assert.equal(text.trust_seq, audit[2].seq);
    assert.equal(text.records.length, 1);
    await t.tracker.update([{ key: "k", success: false }]);
    const before = await t.tracker.exportRecords();
    await t.stop();
    const again = await openTracker(dir.path);
    assert.deepEqual([again.restore.replayed, again.restore.recordsScanned], [0, 0]);
    assert.deepEqual(await again.tracker.exportRecords(), before);
    await again.stop();
  });

  it("reads only what was logged after the snapshot, however long the log is", async () => {
    const scanned: number[] = [];
    for (const prefix of [1_000, 100_000]) {
      const sub = join(dir.path, `prefix-${prefix}`);
      await mkdir(sub);
      let t = await openTracker(sub);
      await appendNoise(t.appender, prefix);
      await t.tracker.update([{ key: "early", success: true }]);
      await t.stop(); // snapshot covers everything so far
      t = await openTracker(sub);
      for (let i = 0; i < 7; i++) await t.tracker.update([{ key: `k${i % 2}`, success: i % 3 === 0 }]);
      await appendNoise(t.appender, 5);
      const before = await t.tracker.exportRecords();
      await t.crash();
      const again = await openTracker(sub);
      assert.equal(again.restore.replayed, 7);
      assert.deepEqual(await again.tracker.exportRecords(), before);
      scanned.push(again.restore.recordsScanned);
      await again.stop();
    }
    // 7 trust records + 5 other events after the snapshot's seq, whatever came before.
    assert.deepEqual(scanned, [12, 12]);
  });

  it("a start that read far past the snapshot with nothing to replay snapshots, so the next start after a crash reads nothing again", async () => {
    let t = await openTracker(dir.path, { snapshotAfterScanRecords: 50 });
    await t.tracker.update([{ key: "k", success: true }]);
    await t.stop(); // snapshot at the log's end
    t = await openTracker(dir.path, { snapshotAfterScanRecords: 50 });
    await appendNoise(t.appender, 200); // no trust change: no periodic snapshot would be taken
    await t.crash();
    const first = await openTracker(dir.path, { snapshotAfterScanRecords: 50 });
    assert.equal(first.restore.replayed, 0);
    assert.equal(first.restore.recordsScanned, 200);
    await first.crash();
    const second = await openTracker(dir.path, { snapshotAfterScanRecords: 50 });
    assert.equal(second.restore.recordsScanned, 0, "the start before took a snapshot at the log's end");
    assert.equal(second.restore.keys, 1);
    await second.stop();
  });

  it("replays an import from its staged copy when the crash came before the snapshot after it", async () => {
    const failures: unknown[] = [];
    const t = await openTracker(dir.path, { onBackgroundError: (err) => failures.push(err) });
    await t.tracker.update([{ key: "before", success: true }]);
    await t.tracker.snapshot();
    // Block the next snapshot: a folder (not empty) where the snapshot file goes.
    const snapshotPath = join(dir.path, "state", "snapshot.json");
    await copyFile(snapshotPath, join(dir.path, "kept-snapshot.json"));
    await unlink(snapshotPath);
    await mkdir(snapshotPath);
    await writeFile(join(snapshotPath, "block"), "");
    await t.tracker.importRecords(
      [
        { key: "imported", alpha: 4, beta: 2, lastUpdate: 123.5, history: [{ time: 123.5, trust: 2 / 3 }] },
        { key: "other", alpha: 1, beta: 7, history: [] },
      ],
      "replace",
    );
    await t.tracker.update([{ key: "imported", success: false }]);
    assert.equal(failures.length, 1, "the snapshot after the import should have failed");
    const staged = (await readdir(join(dir.path, "state"))).filter((n) => n.startsWith("import-"));
    assert.equal(staged.length, 1);
    const before = await t.tracker.exportRecords();
    await t.crash();
    // Put the last good snapshot back: the import is after it, in the log.
    await rm(snapshotPath, { recursive: true });
    await copyFile(join(dir.path, "kept-snapshot.json"), snapshotPath);
    const again = await openTracker(dir.path);
    assert.equal(again.restore.replayed, 2);
    assert.deepEqual(await again.tracker.exportRecords(), before);
    // The new snapshot covers the import: its staged copy is gone.
    assert.deepEqual(
      (await readdir(join(dir.path, "state"))).filter((n) => n.startsWith("import-")),
      [],
    );
    await again.stop();
  });

  it("ignores records a client wrote with the tracker's event types: made up, or copied from the log", async () => {
    const t = await openTracker(dir.path);
    await t.tracker.update([{ key: "real", success: true }]);
    await t.stop();
    const t2 = await openTracker(dir.path);
    await t2.tracker.update([{ key: "real", success: false }]);
    const [, second] = await recordsOfType(t2.logPath, "trust_updated");
    const copy = JSON.stringify(second.data);
    const madeUp = JSON.stringify({ ...second.data, outcomes: [{ key: "real", success: true, weight: 1000 }] });
    // What LogEvent with event_type "trust_updated" would write.
    await t2.appender.append([
      { eventId: uuidv4(), clientChosenId: false, body: `"event_type":"trust_updated","data":${copy}` },
      { eventId: uuidv4(), clientChosenId: false, body: `"event_type":"trust_updated","data":${madeUp}` },
      { eventId: uuidv4(), clientChosenId: false, body: `"event_type":"trust_decayed","data":{"key":null,"factor":0.01,"min_count":0,"prev_seq":${second.seq},"mac":"forged"}` },
    ]);
    const before = await t2.tracker.exportRecords();
    await t2.crash();
    const again = await openTracker(dir.path);
    assert.deepEqual([again.restore.replayed, again.restore.ignored], [1, 3]);
    assert.deepEqual(await again.tracker.exportRecords(), before);
    // The chain goes on from the real record, not the forgeries.
    await again.tracker.update([{ key: "real", success: true }]);
    const after = await again.tracker.exportRecords();
    await again.crash();
    const last = await openTracker(dir.path);
    assert.deepEqual(await last.tracker.exportRecords(), after);
    await last.stop();
  });

  it("refuses to start when the snapshot is ahead of the log (the log was replaced), saying what to do", async () => {
    const t = await openTracker(dir.path);
    await t.tracker.update([{ key: "k", success: true }]);
    await t.stop();
    await unlink(join(dir.path, "log.jsonl"));
    await assert.rejects(openTracker(dir.path), /covers log seq 1 but the log ends at seq 0.*move the trust state folder/s);
  });

  it("refuses to start when the audit key is gone but the snapshot is there (nothing after it could be verified)", async () => {
    const t = await openTracker(dir.path);
    await t.tracker.update([{ key: "k", success: true }]);
    await t.crash();
    await unlink(join(dir.path, "state", "audit-key"));
    await assert.rejects(openTracker(dir.path), /audit key .* is missing but .*snapshot\.json is there/);
    // Still refused the second time: no new key was made.
    await assert.rejects(openTracker(dir.path), /is missing/);
  });

  it("refuses to start on a damaged snapshot rather than guess", async () => {
    const t = await openTracker(dir.path);
    await t.stop();
    await writeFile(join(dir.path, "state", "snapshot.json"), '{"format":"pulse-trust-snapshot","version":1,"seq":');
    await assert.rejects(openTracker(dir.path), /snapshot.*not valid JSON/);
  });

  it("property: any changes, snapshots and crashes, and every restart gives back the same state", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ weight: 6, arbitrary: opArb.map((op) => ({ kind: "op" as const, op })) }, { weight: 1, arbitrary: recordsArb.map((records) => ({ kind: "import" as const, records })) }, { weight: 1, arbitrary: fc.constantFrom({ kind: "crash" as const }, { kind: "close" as const }) }), { maxLength: 25 }),
        fc.integer({ min: 1, max: 6 }),
        async (steps, snapshotChanges) => {
          const run = await tempDir("pulse-trust-restore-prop-");
          try {
            let t = await openTracker(run.path, { snapshotChanges });
            for (const step of steps) {
              if (step.kind === "op") await apply(t.tracker, step.op);
              else if (step.kind === "import") await t.tracker.importRecords(step.records, "merge");
              else {
                const before = await t.tracker.exportRecords();
                if (step.kind === "crash") await t.crash();
                else await t.stop();
                t = await openTracker(run.path, { snapshotChanges });
                assert.deepEqual(await t.tracker.exportRecords(), before);
              }
            }
            await t.stop();
          } finally {
            await run.remove();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it("replays the changes after the snapshot across closed log segments", async () => {
    const t = await openTracker(dir.path, { segmentBytesMax: 4_000 });
    for (let i = 0; i < 60; i++) {
      await t.tracker.update([{ key: `k${i % 7}`, success: i % 3 !== 0, weight: 1 + (i % 4) / 4 }]);
      await appendNoise(t.appender, 5);
    }
    const before = await t.tracker.exportRecords();
    await t.crash();
    const segments = (await readdir(dir.path)).filter((n) => /^log\.\d+-\d+\.jsonl$/.test(n));
    assert.ok(segments.length >= 3, `the changes span ${segments.length} closed segments`);
    const again = await openTracker(dir.path, { segmentBytesMax: 4_000 });
    assert.equal(again.restore.replayed, 60);
    assert.deepEqual(await again.tracker.exportRecords(), before);
    await again.stop();
  });
});
