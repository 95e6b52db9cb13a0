import * as fsp from "node:fs/promises";
import { scanned, scanRecord } from "../record/layout.js";
import { lineTextOf, parseRecordText } from "../record/line.js";
import { listSegments } from "../store/segments.js";
import type { RecordSource } from "../store/store.js";
import { linesBackward } from "../store/lines.js";
import { AUDIT_EVENT_TYPES, parseAuditRecord, type AuditRecord } from "./audit.js";

/** What a backward scan of the log found. */
export interface AuditScan {
  /** Audit-shaped records with seq > afterSeq, oldest first (not yet verified). */
  records: AuditRecord[];
  /** Lines read. */
  linesScanned: number;
}

// Every audit event type starts so (AUDIT_EVENT_TYPES): other records are skipped without parsing.
const AUDIT_TYPE_PREFIX = "trust_";

/**
 * Collects the trust audit records written after `afterSeq`, reading the log
 * backwards from its end (the active file, then closed segments, newest
 * first) until a record with seq <= afterSeq (or a record of the original
 * module, which has no seq and precedes all of ours). The cost depends on
 * the records after `afterSeq`, never on the log's length.
 */
export async function readAuditRecordsAfter(logPath: string, afterSeq: number): Promise<AuditScan> {
  const found: AuditRecord[] = [];
  let linesScanned = 0;
  const files = (await listSegments(logPath)).reverse();
  for (const file of files) {
    if (file.lastSeq !== undefined && file.lastSeq <= afterSeq) break;
    const scan = await scanFile(file.path, afterSeq, found);
    linesScanned += scan.lines;
    if (scan.reachedEnd) break;
  }
  found.reverse();
  return { records: found, linesScanned };
}

/**
 * The same records from any {@link RecordSource} (a JetStream stream): read
 * forward from `afterSeq + 1` up to `lastSeq`, the source filtering on the
 * audit event types, so the cost again depends on what came after the snapshot.
 */
export async function readAuditRecordsFromSource(source: RecordSource, afterSeq: number, lastSeq: number): Promise<AuditScan> {
  const found: AuditRecord[] = [];
  let linesScanned = 0;
  if (lastSeq <= afterSeq) return { records: found, linesScanned };
  const cursor = await source.open({ fromSeq: afterSeq + 1, eventTypes: AUDIT_EVENT_TYPES });
  try {
    for await (const batch of cursor.batches(lastSeq)) {
      for (const r of batch) {
        linesScanned++;
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
  return { records: found, linesScanned };
}

/** Scans one file backwards, pushing audit records newest first; reachedEnd when it met seq <= afterSeq. */
async function scanFile(path: string, afterSeq: number, found: AuditRecord[]): Promise<{ lines: number; reachedEnd: boolean }> {
  let fh;
  try {
    fh = await fsp.open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { lines: 0, reachedEnd: false };
    throw err;
  }
  let lines = 0;
  try {
    const { size } = await fh.stat();
    // The appender repaired the tail before we get here; still, only read
    // complete lines.
    let end = size;
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) end = await lastNewlineEnd(fh, size);
    }
    for await (const line of linesBackward(fh, end)) {
      lines++;
      const bytes = lineTextOf(line.bytes);
      if (!scanRecord(bytes, 0, bytes.length)) {
        // Not in our layout: an empty or damaged line (nothing of ours), or the original module's records (none of ours before them).
        const parsed = parseRecordText(bytes.toString("utf8"));
        if (parsed.ok && !("seq" in parsed.value)) return { lines, reachedEnd: true };
        continue;
      }
      if (scanned.seq <= afterSeq) return { lines, reachedEnd: true };
      if (!bytes.toString("latin1", scanned.typeStart, scanned.typeEnd).startsWith(AUDIT_TYPE_PREFIX)) continue;
      const parsed = parseRecordText(bytes.toString("utf8"));
      if (!parsed.ok) continue;
      const record = parseAuditRecord(parsed.value);
      if (record !== undefined && AUDIT_EVENT_TYPES.has(record.change.type)) found.push(record);
    }
    return { lines, reachedEnd: false };
  } finally {
    await fh.close();
  }
}

async function lastNewlineEnd(fh: fsp.FileHandle, size: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  for (let pos = size; pos > 0; ) {
    const len = Math.min(chunk.length, pos);
    pos -= len;
    await fh.read(chunk, 0, len, pos);
    const i = chunk.subarray(0, len).lastIndexOf(0x0a);
    if (i >= 0) return pos + i + 1;
  }
  return 0;
}
