import type { RecordSource } from "../store/store.js";
import type { AuditRecord, AuditSigner, TrustChange } from "./audit.js";
import { readAuditRecordsAfter } from "./audit-log-reader.js";
import type { TrustStateStore } from "./state-store.js";
import type { BayesianTrustTracker, TrustRecord } from "./tracker.js";

/** What a start found and replayed. */
export interface RestoreReport {
  /** The log seq the snapshot covered (0: no snapshot). */
  snapshotSeq: number;
  /** Keys in the snapshot. */
  snapshotKeys: number;
  /** True when there was no trust state yet (a new audit key was made). */
  fresh: boolean;
  /** Log records after the snapshot, read past to find the audit records among them. */
  recordsScanned: number;
  /** Audit records applied after the snapshot. */
  replayed: number;
  /** Audit-shaped records not applied: not signed by this tracker, or not in its chain (a client's look-alike). */
  ignored: number;
  /** Keys after the restore. */
  keys: number;
  /** Time the restore took, in ms. */
  elapsedMs: number;
}

/** What a restore rebuilds into: the tracker's state, its signer, and how a change is applied (the same code as live). */
export interface RestoreTarget {
  tracker: BayesianTrustTracker;
  signer: AuditSigner;
  apply(change: TrustChange, loaded: readonly TrustRecord[] | undefined): void;
}

/** Where the restore read: the snapshot it started from and the audit trail after it. */
export interface Restored {
  /** The log seq the snapshot covered (0: no snapshot) and its key count. */
  snapshotSeq: number;
  snapshotKeys: number;
  /** True when there was a snapshot. */
  hadSnapshot: boolean;
  /** Seq of the last audit record applied: where the chain continues. */
  trustSeq: number;
  recordsScanned: number;
  replayed: number;
  ignored: number;
}

/**
 * Rebuilds the tracker's state at start: loads the snapshot, then replays the
 * audit records logged after it, read from the snapshot's seq on (the time
 * taken depends on what happened since the snapshot, not on the log's
 * length). Only the tracker's own records, in its chain, are applied. A
 * snapshot that covers more of the log than the log holds is refused: the
 * log was replaced or cut, and going on would skip changes.
 */
export async function restoreTrustState(store: TrustStateStore, log: { logSeq: () => number; records: RecordSource }, target: RestoreTarget): Promise<Restored> {
  const snapshot = await store.readSnapshot();
  const logSeq = log.logSeq();
  let trustSeq = 0;
  if (snapshot !== undefined) {
    if (snapshot.seq > logSeq) {
      throw new Error(
        `trust snapshot ${store.snapshotPath} covers log seq ${snapshot.seq} but the log ends at seq ${logSeq}: the log was replaced or cut. ` +
          `Restore the log, or move the trust state folder ${store.dir} away to start the tracker empty.`,
      );
    }
    target.tracker.load(snapshot.records, "replace");
    trustSeq = snapshot.trustSeq;
  }
  let recordsScanned = 0;
  let replayed = 0;
  let ignored = 0;
  // A new audit key cannot verify anything older: there is nothing to replay.
  if (!(snapshot === undefined && store.fresh)) {
    const scan = await readAuditRecordsAfter(log.records, snapshot?.seq ?? 0, logSeq);
    recordsScanned = scan.recordsScanned;
    for (const record of scan.records) {
      if (!inChain(target.signer, record, trustSeq)) {
        ignored++;
        continue;
      }
      const loaded = record.change.type === "trust_state_loaded" ? await store.readImport(record.change.importId, record.change.sha256) : undefined;
      target.apply(record.change, loaded);
      trustSeq = record.seq;
      replayed++;
    }
  }
  return { snapshotSeq: snapshot?.seq ?? 0, snapshotKeys: snapshot?.records.length ?? 0, hadSnapshot: snapshot !== undefined, trustSeq, recordsScanned, replayed, ignored };
}

/** The tracker's own record, next in its chain: a client's look-alike (LogEvent with the same event_type) or a re-logged copy of an old record is not. */
function inChain(signer: AuditSigner, record: AuditRecord, trustSeq: number): boolean {
  return signer.verify(record) && record.prevSeq === trustSeq;
}
