import { status } from "@grpc/grpc-js";
import { ServiceError } from "../errors.js";
import type { TrustPoint, TrustRecord } from "./tracker.js";
import { checkRecords } from "./validation.js";

/**
 * The original module's trust export file, both directions:
 *
 *     {"stats": {key: [alpha, beta]},
 *      "last_update": {key: time},
 *      "timestamps": {key: {"times": [...], "values": [...]}},
 *      "export_time": time}
 *
 * Times are Unix seconds as floats; "values" are the trust after each update.
 */

/**
 * Formats a number the way Python's json module writes a float, so Python
 * reads every number of our files back as a float, like the original's:
 * integral values get ".0" (JSON.stringify would write 2, an int in Python).
 */
export function pythonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`cannot write ${x} as JSON`);
  const text = String(x);
  return Number.isInteger(x) && !/[e.]/.test(text) ? `${text}.0` : text;
}

const key = (k: string) => JSON.stringify(k);

/**
 * Encodes records in the original's format (with Python's default
 * separators, as `json.dump` writes them). Keys without a last update are
 * left out of "last_update"; every key has its "timestamps" entry.
 */
export function encodeTrustFile(records: readonly TrustRecord[], exportTime: number): string {
  const stats = records.map((r) => `${key(r.key)}: [${pythonFloat(r.alpha)}, ${pythonFloat(r.beta)}]`);
  const lastUpdate = records.filter((r) => r.lastUpdate !== undefined).map((r) => `${key(r.key)}: ${pythonFloat(r.lastUpdate!)}`);
  const timestamps = records.map(
    (r) =>
      `${key(r.key)}: {"times": [${r.history.map((p) => pythonFloat(p.time)).join(", ")}], "values": [${r.history.map((p) => pythonFloat(p.trust)).join(", ")}]}`,
  );
  return `{"stats": {${stats.join(", ")}}, "last_update": {${lastUpdate.join(", ")}}, "timestamps": {${timestamps.join(", ")}}, "export_time": ${pythonFloat(exportTime)}}\n`;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isObject = (v: Json | undefined): v is { [k: string]: Json } => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Decodes a file in the original's format into records, sorted by key, all
 * checked (the rules of {@link checkRecords}). A file that is not such an
 * export is FAILED_PRECONDITION (the request was fine; the file is not),
 * with a message naming the file and the bad entry, e.g.
 * `file "a.json": stats["rule-1"][0]: must be a finite number >= 1`.
 * Keys that appear only in "last_update" or "timestamps" carry no Beta state
 * and are ignored. "export_time" is not read.
 */
export function decodeTrustFile(text: string, label: string): TrustRecord[] {
  const fail = (field: string, problem: string) => new ServiceError(status.FAILED_PRECONDITION, `file "${label}": ${field}: ${problem}`);
  let root: Json;
  try {
    // Python writes NaN and Infinity as bare words; JSON.parse refuses them, as it should here.
    root = JSON.parse(text) as Json;
  } catch (err) {
    throw new ServiceError(status.FAILED_PRECONDITION, `file "${label}": not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(root)) throw fail("(top level)", "must be an object with \"stats\"");
  const stats = root.stats;
  if (!isObject(stats)) throw fail("stats", "must be an object of key: [alpha, beta]");
  const lastUpdate = root.last_update ?? {};
  if (!isObject(lastUpdate)) throw fail("last_update", "must be an object of key: time");
  const timestamps = root.timestamps ?? {};
  if (!isObject(timestamps)) throw fail("timestamps", 'must be an object of key: {"times": [...], "values": [...]}');

  const number = (value: Json | undefined, field: string): number => {
    if (typeof value !== "number" || !Number.isFinite(value)) throw fail(field, `must be a finite number, got ${JSON.stringify(value ?? null)}`);
    return value;
  };
  const records: TrustRecord[] = [];
  for (const [k, pair] of Object.entries(stats)) {
    const at = `stats[${key(k)}]`;
    if (!Array.isArray(pair) || pair.length !== 2) throw fail(at, "must be [alpha, beta]");
    const alpha = number(pair[0], `${at}[0]`);
    const beta = number(pair[1], `${at}[1]`);
    const last = Object.hasOwn(lastUpdate, k) ? lastUpdate[k] : null;
    const record: TrustRecord = { key: k, alpha, beta, history: [] };
    if (last !== null) record.lastUpdate = number(last, `last_update[${key(k)}]`);
    if (Object.hasOwn(timestamps, k)) {
      const series = timestamps[k];
      const sAt = `timestamps[${key(k)}]`;
      if (!isObject(series)) throw fail(sAt, 'must be {"times": [...], "values": [...]}');
      const times = series.times ?? [];
      const values = series.values ?? [];
      if (!Array.isArray(times)) throw fail(`${sAt}.times`, "must be a list of times");
      if (!Array.isArray(values)) throw fail(`${sAt}.values`, "must be a list of trust values");
      if (times.length !== values.length) throw fail(sAt, `has ${times.length} times but ${values.length} values`);
      record.history = times.map((t, i): TrustPoint => ({ time: number(t, `${sAt}.times[${i}]`), trust: number(values[i], `${sAt}.values[${i}]`) }));
    }
    records.push(record);
  }
  records.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  checkRecords(records, (_i, k) => `stats[${key(k)}]`, fail);
  return records;
}
