import { createHmac, timingSafeEqual } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import type { EventDraft } from "../events/catalog.js";
import type { ImportMode } from "./client.js";

/**
 * The trust tracker's audit records: every state change is written to the
 * learning log before it is applied, with everything needed to apply it
 * again on restart (the update time included), so the log explains every
 * number and restart replays it exactly.
 *
 * Any client may write a record with any event_type (LogEvent), so replay
 * must tell the tracker's own records from look-alikes. Each record carries
 * - `prev_seq`: the seq of the tracker's previous audit record, chaining
 *   them: a copy of an old record re-logged later does not fit the chain;
 * - `mac`: an HMAC-SHA256 over the change and prev_seq, keyed by a secret
 *   kept in the trust state folder: a record made up by a client does not verify.
 */

/** One state change of the tracker, as recorded and replayed. */
export type TrustChange =
  | { type: "trust_updated"; time: number; outcomes: Array<{ key: string; success: boolean; weight: number }> }
  | { type: "trust_decayed"; key: string | null; factor: number; minCount: number }
  | {
      type: "trust_state_loaded";
      mode: ImportMode;
      keyCount: number;
      /** "stream" or "file:<path in the trust directory>". */
      source: string;
      /** Name of the staged copy of the imported records in the state folder. */
      importId: string;
      /** SHA-256 (hex) of the staged copy. */
      sha256: string;
    };

/** The event types of audit records. */
export const AUDIT_EVENT_TYPES: ReadonlySet<string> = new Set(["trust_updated", "trust_decayed", "trust_state_loaded"]);

/** A verified-shape audit record read back from the log. */
export interface AuditRecord {
  seq: number;
  change: TrustChange;
  prevSeq: number;
  mac: string;
}

function canonical(change: TrustChange, prevSeq: number): string {
  switch (change.type) {
    case "trust_updated":
      return JSON.stringify([change.type, prevSeq, change.time, change.outcomes.map((o) => [o.key, o.success, o.weight])]);
    case "trust_decayed":
      return JSON.stringify([change.type, prevSeq, change.key, change.factor, change.minCount]);
    case "trust_state_loaded":
      return JSON.stringify([change.type, prevSeq, change.mode, change.keyCount, change.source, change.importId, change.sha256]);
  }
}

/** Signs and verifies audit records with the deployment's secret. */
export class AuditSigner {
  constructor(private readonly secret: Uint8Array) {}

  /** The MAC of a change at its place in the chain. */
  mac(change: TrustChange, prevSeq: number): string {
    return createHmac("sha256", this.secret).update(canonical(change, prevSeq)).digest("base64url");
  }

  /** True when the record was written by a tracker holding the same secret. */
  verify(record: AuditRecord): boolean {
    const expected = Buffer.from(this.mac(record.change, record.prevSeq));
    const actual = Buffer.from(record.mac);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  /** The log draft of a change: its data, then prev_seq and mac. */
  draft(change: TrustChange, prevSeq: number): EventDraft {
    let data: JsonObject;
    switch (change.type) {
      case "trust_updated":
        data = { time: change.time, outcomes: change.outcomes.map((o) => ({ key: o.key, success: o.success, weight: o.weight })) };
        break;
      case "trust_decayed":
        data = { key: change.key, factor: change.factor, min_count: change.minCount };
        break;
      case "trust_state_loaded":
        data = { mode: change.mode, key_count: change.keyCount, source: change.source, import_id: change.importId, sha256: change.sha256 };
        break;
    }
    data.prev_seq = prevSeq;
    data.mac = this.mac(change, prevSeq);
    return { eventType: change.type, data };
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObject = (v: unknown): v is { [k: string]: Json } => typeof v === "object" && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function changeOf(type: string, d: { [k: string]: Json }): TrustChange | undefined {
  switch (type) {
    case "trust_updated": {
      if (!isNumber(d.time) || !Array.isArray(d.outcomes)) return undefined;
      const outcomes: Array<{ key: string; success: boolean; weight: number }> = [];
      for (const o of d.outcomes) {
        if (!isObject(o) || typeof o.key !== "string" || typeof o.success !== "boolean" || !isNumber(o.weight)) return undefined;
        outcomes.push({ key: o.key, success: o.success, weight: o.weight });
      }
      return { type, time: d.time, outcomes };
    }
    case "trust_decayed":
      if ((d.key !== null && typeof d.key !== "string") || !isNumber(d.factor) || !isNumber(d.min_count)) return undefined;
      return { type, key: d.key, factor: d.factor, minCount: d.min_count };
    case "trust_state_loaded":
      if ((d.mode !== "replace" && d.mode !== "merge") || !isNumber(d.key_count) || typeof d.source !== "string") return undefined;
      if (typeof d.import_id !== "string" || typeof d.sha256 !== "string") return undefined;
      return { type, mode: d.mode, keyCount: d.key_count, source: d.source, importId: d.import_id, sha256: d.sha256 };
    default:
      return undefined;
  }
}

/**
 * Reads an audit record from a parsed log line; undefined when the line is
 * not shaped like one (whoever wrote it). The MAC is checked by the caller.
 */
export function parseAuditRecord(record: unknown): AuditRecord | undefined {
  if (!isObject(record) || !isNumber(record.seq) || typeof record.event_type !== "string" || !isObject(record.data)) return undefined;
  const d = record.data;
  if (!isNumber(d.prev_seq) || typeof d.mac !== "string") return undefined;
  const change = changeOf(record.event_type, d);
  return change && { seq: record.seq, change, prevSeq: d.prev_seq, mac: d.mac };
}
