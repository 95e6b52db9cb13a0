import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import type { TestServer } from "../../helpers/server.js";

/** One record of the JSONL log, as the server writes it. */
export type LogLine = { event_id: string; timestamp: string; event_type: string; data: Record<string, unknown>; context?: Record<string, unknown>; seq: number };

/** The log's records by event_id; fails the test when an event_id was written twice. */
export async function recordsOf(path: string): Promise<Map<string, LogLine>> {
  const text = await readFile(path, "utf8");
  const records = text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as LogLine);
  const byId = new Map(records.map((r) => [r.event_id, r]));
  assert.equal(byId.size, records.length, "every event_id is written once");
  return byId;
}

/** Resolves once the server has committed at least `n` records (a following ReadEvents call). */
export async function committed(t: TestServer, n: number): Promise<void> {
  let seen = 0;
  for await (const res of t.client.readEvents({ follow: true })) {
    seen += res.records.length;
    if (seen >= n) return;
  }
}
