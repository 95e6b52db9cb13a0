import { readFile } from "node:fs/promises";
import { BayesianTrustTracker } from "../../../src/trust/tracker.js";

/** One record of the JSONL log, parsed. */
export interface LogRecord {
  event_id: string;
  timestamp: string;
  event_type: string;
  data: Record<string, unknown>;
  seq: number;
}

/** Every record of a log file, in order. */
export async function readLog(path: string): Promise<LogRecord[]> {
  const text = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return "";
    throw err;
  });
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as LogRecord);
}

/** The records of one event type. */
export async function recordsOfType(path: string, type: string): Promise<LogRecord[]> {
  return (await readLog(path)).filter((r) => r.event_type === type);
}

/**
 * Rebuilds the trust state from the audit trail alone, the way a person
 * auditing the log would: every "trust_updated" adds its outcomes at its
 * time, every "trust_decayed" decays. (Imports are not covered: tests using
 * this make none.)
 */
export async function stateFromAuditTrail(path: string): Promise<BayesianTrustTracker> {
  const tracker = new BayesianTrustTracker();
  for (const r of await readLog(path)) {
    if (r.event_type === "trust_updated") {
      const d = r.data as { time: number; outcomes: Array<{ key: string; success: boolean; weight: number }> };
      for (const o of d.outcomes) tracker.update(o.key, o.success, o.weight, d.time);
    } else if (r.event_type === "trust_decayed") {
      const d = r.data as { key: string | null; factor: number; min_count: number };
      tracker.decay(d.key ?? undefined, d.factor, d.min_count);
    } else if (r.event_type === "trust_state_loaded") {
      throw new Error("stateFromAuditTrail does not replay imports");
    }
  }
  return tracker;
}
