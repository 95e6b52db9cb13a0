import { createHash, randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { errnoOf } from "../errors.js";
import type { ImportMode } from "./client.js";
import { ensurePrivateDir, syncDir, writeFileAtomically } from "./atomic-file.js";
import type { TrustRecord } from "./tracker.js";

/**
 * The tracker's own durable state, in a private folder (mode 0700, files
 * 0600) that clients never name:
 * - `snapshot.json`: every key's state and the log seq it covers;
 * - `audit-key`: the secret that signs audit records (see audit.ts);
 * - `import-<id>.json`: a staged copy of imported records, written before the
 *   import's audit record so replay can apply the import; removed once a
 *   snapshot covers the import.
 * Every file is replaced atomically (temporary file, fsync, rename, fsync of the folder).
 */

/** A snapshot: the state after every audit record up to `trustSeq`, and no trust record in (trustSeq, seq]. */
export interface Snapshot {
  /** Log seq the snapshot covers: replay starts after it. */
  seq: number;
  /** Seq of the last audit record applied (0: none), where the chain of prev_seq continues. */
  trustSeq: number;
  /** Every key's state, sorted by key. */
  records: TrustRecord[];
}

const SNAPSHOT_FORMAT = "pulse-trust-snapshot";
const SNAPSHOT_VERSION = 1;
const IMPORT_NAME = /^import-([0-9a-f-]{36})\.json$/;

/**
 * Records as the state folder stores them, one JSON object per key:
 * `{"key":..,"alpha":..,"beta":..,"last_update":..,"history":[t0,v0,t1,v1,...]}`
 * (last_update only when there is one; history flat, for speed). Built as
 * text directly: a number's shortest round-trip form is what JSON.stringify
 * writes, so every double reads back exactly.
 */
async function encodeRecords(records: ReadonlyArray<Readonly<TrustRecord>>): Promise<string> {
  const parts: string[] = new Array(records.length);
  let sinceYield = 0;
  for (let i = 0; i < records.length; i++) {
    // Encoding a large state takes a while: let calls in between every ~20,000 numbers.
    sinceYield += records[i].history.length * 2 + 3;
    if (sinceYield > 20_000) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const r = records[i];
    const flat: number[] = new Array(r.history.length * 2);
    for (let j = 0; j < r.history.length; j++) {
      flat[2 * j] = r.history[j].time;
      flat[2 * j + 1] = r.history[j].trust;
    }
    const last = r.lastUpdate === undefined ? "" : `,"last_update":${r.lastUpdate}`;
    parts[i] = `{"key":${JSON.stringify(r.key)},"alpha":${r.alpha},"beta":${r.beta}${last},"history":[${flat.join(",")}]}`;
  }
  return `[${parts.join(",")}]`;
}

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function recordsFromJson(value: unknown, what: string): TrustRecord[] {
  if (!Array.isArray(value)) throw new Error(`${what}: "records" is not a list`);
  return value.map((r: { key?: unknown; alpha?: unknown; beta?: unknown; last_update?: unknown; history?: unknown }, i) => {
    const h = r?.history;
    const ok =
      typeof r === "object" &&
      r !== null &&
      typeof r.key === "string" &&
      isNumber(r.alpha) &&
      isNumber(r.beta) &&
      (r.last_update === undefined || isNumber(r.last_update)) &&
      Array.isArray(h) &&
      h.length % 2 === 0 &&
      h.every(isNumber);
    if (!ok) throw new Error(`${what}: record ${i} is malformed`);
    const flat = h as number[];
    const history = new Array<{ time: number; trust: number }>(flat.length / 2);
    for (let j = 0; j < history.length; j++) history[j] = { time: flat[2 * j], trust: flat[2 * j + 1] };
    const record: TrustRecord = { key: r.key as string, alpha: r.alpha as number, beta: r.beta as number, history };
    if (r.last_update !== undefined) record.lastUpdate = r.last_update as number;
    return record;
  });
}

/** Decodes a snapshot's text; throws an Error starting with `what` when it is not a valid snapshot. */
export function decodeSnapshot(text: string, what: string): Snapshot {
  let value: { format?: unknown; version?: unknown; seq?: unknown; trust_seq?: unknown; records?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch (err) {
    throw new Error(`${what} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (value?.format !== SNAPSHOT_FORMAT || value.version !== SNAPSHOT_VERSION) throw new Error(`${what} is not a version ${SNAPSHOT_VERSION} trust snapshot`);
  if (!Number.isSafeInteger(value.seq) || !Number.isSafeInteger(value.trust_seq)) throw new Error(`${what}: seq or trust_seq is malformed`);
  return { seq: value.seq as number, trustSeq: value.trust_seq as number, records: recordsFromJson(value.records, what) };
}


/** The trust state folder. */
export class TrustStateStore {
  private constructor(
    /** The folder. */
    readonly dir: string,
    /** The secret signing audit records. */
    readonly auditKey: Uint8Array,
    /** True when this open created the key: no earlier audit record can be verified. */
    readonly fresh: boolean,
  ) {}

  /** Opens the folder (created 0700 when missing) and its audit key (created when missing). */
  static async open(dir: string): Promise<TrustStateStore> {
    await ensurePrivateDir(dir);
    // Temporary files of writes a crash interrupted: never renamed, so never part of the state.
    for (const name of await fsp.readdir(dir)) {
      if (/^\..*\.tmp$/.test(name)) await fsp.unlink(join(dir, name)).catch(() => undefined);
    }
    const keyPath = join(dir, "audit-key");
    let text: string | undefined;
    try {
      text = (await fsp.readFile(keyPath, "utf8")).trim();
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") throw err;
    }
    if (text === undefined) {
      const snapshot = join(dir, "snapshot.json");
      if (await fsp.stat(snapshot).then(() => true, () => false)) {
        // Records logged after the snapshot were signed with the lost key: none could be replayed.
        throw new Error(`trust audit key ${keyPath} is missing but ${snapshot} is there: restore the key from a backup, or move ${dir} away to start the tracker empty`);
      }
      const key = randomBytes(32);
      await writeFileAtomically(keyPath, key.toString("hex") + "\n", 0o600);
      return new TrustStateStore(dir, key, true);
    }
    if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`trust audit key ${keyPath} is malformed; restore it from a backup`);
    return new TrustStateStore(dir, Buffer.from(text, "hex"), false);
  }

  /** Path of the snapshot file. */
  get snapshotPath(): string {
    return join(this.dir, "snapshot.json");
  }

  /** Reads the snapshot; undefined when there is none. A damaged snapshot throws (start-up must not guess). */
  async readSnapshot(): Promise<Snapshot | undefined> {
    let text: string;
    try {
      text = await fsp.readFile(this.snapshotPath, "utf8");
    } catch (err) {
      if (errnoOf(err) === "ENOENT") return undefined;
      throw err;
    }
    return decodeSnapshot(text, `trust snapshot ${this.snapshotPath}`);
  }

  /** Encodes a snapshot of captured records (see BayesianTrustTracker.view), yielding to other work now and then. */
  static async encodeSnapshot(snapshot: { seq: number; trustSeq: number; records: ReadonlyArray<Readonly<TrustRecord>> }, createdSeconds: number): Promise<string> {
    const head = JSON.stringify({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, seq: snapshot.seq, trust_seq: snapshot.trustSeq, created: createdSeconds });
    return `${head.slice(0, -1)},"records":${await encodeRecords(snapshot.records)}}`;
  }

  /** Replaces the snapshot atomically. */
  async writeSnapshot(encoded: string): Promise<void> {
    await writeFileAtomically(this.snapshotPath, encoded, 0o600);
  }

  /** Stages imported records durably under `id`; returns the SHA-256 (hex) of what was written. */
  async stageImport(id: string, mode: ImportMode, records: readonly TrustRecord[]): Promise<string> {
    const text = `{"mode":${JSON.stringify(mode)},"records":${await encodeRecords(records)}}`;
    await writeFileAtomically(join(this.dir, `import-${id}.json`), text, 0o600);
    return createHash("sha256").update(text).digest("hex");
  }

  /** Reads a staged import back, checking its hash. Throws when it is missing or altered. */
  async readImport(id: string, sha256: string): Promise<TrustRecord[]> {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`audit record names a malformed import id "${id}"`);
    const path = join(this.dir, `import-${id}.json`);
    let text: string;
    try {
      text = await fsp.readFile(path, "utf8");
    } catch (err) {
      if (errnoOf(err) === "ENOENT") throw new Error(`staged import ${path} is missing: the import logged in the audit trail cannot be replayed`, { cause: err });
      throw err;
    }
    if (createHash("sha256").update(text).digest("hex") !== sha256) throw new Error(`staged import ${path} does not match the hash in its audit record`);
    return recordsFromJson((JSON.parse(text) as { records?: unknown }).records, path);
  }

  /** Removes staged imports, `ids` or all when absent (once a snapshot covers them). */
  async removeImports(ids?: readonly string[]): Promise<void> {
    const names = ids ? ids.map((id) => `import-${id}.json`) : (await fsp.readdir(this.dir)).filter((n) => IMPORT_NAME.test(n));
    if (names.length === 0) return;
    for (const name of names) await fsp.unlink(join(this.dir, name)).catch(() => undefined);
    await syncDir(this.dir);
  }
}
