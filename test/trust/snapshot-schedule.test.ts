import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { systemClock } from "../../src/clock.js";
import { SnapshotSchedule } from "../../src/trust/snapshot-schedule.js";
import { TrustStateStore } from "../../src/trust/state-store.js";
import type { TrustRecord } from "../../src/trust/tracker.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const record = (key: string): TrustRecord => ({ key, alpha: 2, beta: 1, history: [] });

describe("SnapshotSchedule", () => {
  let dir: TempDir;
  let store: TrustStateStore;
  let logSeq: number;
  beforeEach(async () => {
    dir = await tempDir();
    store = await TrustStateStore.open(join(dir.path, "state"));
    logSeq = 0;
  });
  afterEach(() => dir.remove());

  it("takes one snapshot when the changes reach the threshold, not one per change while it runs", async () => {
    let taken = 0;
    let release!: () => void;
    const running = new Promise<void>((r) => (release = r));
    const schedule = new SnapshotSchedule({ store, clock: systemClock, logSeq: () => logSeq, snapshotChanges: 3, take: () => (taken++, running) });
    schedule.noteChange();
    schedule.noteChange();
    assert.equal(taken, 0);
    schedule.noteChange();
    assert.equal(taken, 1);
    // Still running: more changes past the threshold queue nothing more.
    for (let i = 0; i < 5; i++) schedule.noteChange();
    assert.equal(taken, 1);
    release();
    await running;
  });

  it("a snapshot covers the log's last seq, never goes back, and drops the staged imports it covers", async () => {
    const seen: number[] = [];
    const schedule = new SnapshotSchedule({ store, clock: systemClock, logSeq: () => logSeq, take: async () => undefined, onSnapshot: (seq) => seen.push(seq) });
    await store.stageImport("00000000-0000-4000-8000-000000000001", "replace", [record("a")]);
    schedule.staged(4, "00000000-0000-4000-8000-000000000001");
    logSeq = 3;
    // The import at seq 4 is not applied yet at trust seq 2: not covered.
    const early = schedule.capture(2, [record("a")]);
    assert.deepEqual(early.importIds, []);
    assert.equal(early.seq, 3);
    logSeq = 9;
    const later = schedule.capture(4, [record("a")]);
    assert.deepEqual(later.importIds, ["00000000-0000-4000-8000-000000000001"]);
    await schedule.persist(later, false);
    assert.equal(schedule.seq, 9);
    // An older capture written late does not replace the newer snapshot.
    await schedule.persist(early, true);
    assert.deepEqual(seen, [9]);
    assert.equal((await store.readSnapshot())?.seq, 9);
    assert.ok(!(await readdir(store.dir)).some((n) => n.startsWith("import-")), "the covered import is removed");
  });
});
