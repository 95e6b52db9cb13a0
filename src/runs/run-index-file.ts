import { open, readFile, rename, unlink } from "node:fs/promises";
import type { Logger } from "pino";
import type { IndexedLog, IndexSnapshot, RunIndex } from "./run-index.js";
import { errnoOf } from "../errors.js";

/** The checkpoint file's format: a newer one is not read (the index is rebuilt from the log). */
const FORMAT = 1;

/** Options of a {@link RunIndexFile}. */
export interface RunIndexFileOptions {
  /** Longest time between checkpoints while the index changes, in ms. Default 30,000. */
  intervalMs?: number;
}

/**
 * Keeps the run index's checkpoint in a file (JSON, 0600, written to a
 * temporary file, fsynced and renamed in): at start the index is restored
 * from it and reads only the records after it. A checkpoint is trusted only
 * when the log still holds, at its seq, the record it names; otherwise (a
 * restored backup, another log at the path) the index is rebuilt from the
 * whole log. After kill -9 the checkpoint is at most one interval old, and
 * the catch-up reads what came after it: nothing is counted twice or missed.
 */
export class RunIndexFile {
  private timer: NodeJS.Timeout | undefined;
  private savedChanges = -1;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly index: RunIndex,
    private readonly logger: Logger,
    private readonly options: RunIndexFileOptions = {},
  ) {}

  /** Restores the index from the checkpoint when it matches the log; logs why not otherwise. Never throws: the index can always be rebuilt. */
  async load(log: IndexedLog): Promise<void> {
    let snapshot: IndexSnapshot;
    try {
      const json = JSON.parse(await readFile(this.path, "utf8")) as { format?: number } & IndexSnapshot;
      if (json.format !== FORMAT || !Number.isSafeInteger(json.seq) || !Array.isArray(json.runs)) throw new Error(`not a run index checkpoint of format ${FORMAT}`);
      snapshot = json;
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") this.logger.warn({ err, path: this.path }, "run index checkpoint unreadable: rebuilding the index from the log");
      return;
    }
    const why = await this.mismatch(snapshot, log);
    if (why !== undefined) {
      this.logger.warn({ path: this.path, seq: snapshot.seq, why }, "run index checkpoint does not match the log: rebuilding the index from the log");
      return;
    }
    this.index.restore(snapshot);
    this.savedChanges = this.index.changes;
    this.logger.info({ seq: snapshot.seq, runs: snapshot.runs.length }, "run index restored from its checkpoint");
  }

  /** Why the checkpoint does not describe this log, or undefined when it does. */
  private async mismatch(snapshot: IndexSnapshot, log: IndexedLog): Promise<string | undefined> {
    if (snapshot.seq === 0) return undefined;
    if (snapshot.seq > log.lastSeq) return `the log ends at seq ${log.lastSeq}, before the checkpoint's ${snapshot.seq}`;
    const cursor = await log.records.open({ fromSeq: snapshot.seq, limit: 1 });
    try {
      for await (const batch of cursor.batches(snapshot.seq)) {
        const r = batch[0];
        if (r.seq !== snapshot.seq) break;
        return r.eventId === snapshot.eventId ? undefined : `seq ${r.seq} is event ${r.eventId}, not ${snapshot.eventId}`;
      }
    } finally {
      await cursor.close();
    }
    return `the log holds no record at seq ${snapshot.seq}`;
  }

  /** Writes a checkpoint every interval while the index changes. */
  start(): void {
    this.timer = setInterval(() => void this.save(), this.options.intervalMs ?? 30_000);
    this.timer.unref();
  }

  /** Catches the index up and writes its checkpoint if it changed; failures are logged (the index can be rebuilt). */
  save(): Promise<void> {
    this.saving = this.saving.then(() => this.write()).catch((err: unknown) => this.logger.warn({ err, path: this.path }, "run index checkpoint not written; the next start reads more of the log"));
    return this.saving;
  }

  private async write(): Promise<void> {
    // A catch-up cut short (closing) still leaves a consistent prefix to keep.
    await this.index.catchUp().catch(() => undefined);
    if (this.index.changes === this.savedChanges) return;
    const snapshot = this.index.snapshot();
    if (snapshot === undefined) return; // records beyond a gap: the next save
    const changes = this.index.changes;
    const tmp = `${this.path}.tmp`;
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(JSON.stringify({ format: FORMAT, ...snapshot }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    this.savedChanges = changes;
  }

  /** Stops the timer (a start that failed: nothing more is written). */
  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Stops the timer, stops a catch-up under way (a shutdown does not wait
   * for a rebuild to end: the next start goes on from where it stopped) and
   * writes a last checkpoint (the log must still be open).
   */
  async close(): Promise<void> {
    this.stop();
    this.index.close();
    await this.save();
  }
}
