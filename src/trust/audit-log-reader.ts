import type { RecordSource } from "../store/store.js";
import { AUDIT_EVENT_TYPES, parseAuditRecord, type AuditRecord } from "./audit.js";

/** What a scan of the log after a snapshot found. */
export interface AuditScan {
  /** Audit-shaped records with seq > afterSeq, oldest first (not yet verified). */
  records: AuditRecord[];
  /** Records of the log after the snapshot (all are read past to find the audit ones). */
  recordsScanned: number;
}

/**
 * Collects the trust audit records written after `afterSeq`, reading the
 * store's records forward from `afterSeq + 1` up to `lastSeq` (the source
 * seeks to the seq and filters on the audit event types), so the cost
 * depends on what came after the snapshot, never on the log's length.
 */
export async function readAuditRecordsAfter(source: RecordSource, afterSeq: number, lastSeq: number): Promise<AuditScan> {
  const found: AuditRecord[] = [];
  // Every record after the snapshot is read past (the source filters them), audit or not.
  const recordsScanned = Math.max(0, lastSeq - afterSeq);
  if (recordsScanned === 0) return { records: found, recordsScanned };
  const cursor = await source.open({ fromSeq: afterSeq + 1, eventTypes: AUDIT_EVENT_TYPES });
  try {
    for await (const batch of cursor.batches(lastSeq)) {
      for (const r of batch) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(r.json);
        } catch {
          continue;
        }
        const record = parseAuditRecord(parsed);
        if (record) found.push(record);
      }
    }
  } finally {
    await cursor.close();
  }
  return { records: found, recordsScanned };
}
