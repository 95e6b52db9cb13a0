import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

/** One record of the log, as the fault tests look at it. */
export interface LoggedRecord {
  event_id: string;
  timestamp: string;
  event_type: string;
  data: unknown;
  context?: unknown;
  seq: number;
}

/** A checked stretch of the log. */
export interface CheckedLog {
  /** The records, in file order. */
  records: LoggedRecord[];
  /** The whole file as read. */
  bytes: Buffer;
}

// Characters that may never appear raw in a line: every C0/C1 control
// character is escaped by JSON, and U+2028/U+2029/U+0085 split lines for
// Python's str.splitlines().
const RAW_LINE_BREAK = /[\u0085\u2028\u2029]/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Options of {@link checkLog}. */
export interface CheckLogOptions {
  /** Byte offset where checking starts (a line start already checked before). Default 0. */
  fromByte?: number;
  /** The seq the record at `fromByte` must have. Default 1. */
  firstSeq?: number;
}

/**
 * Asserts that `bytes` is a valid JSONL log from `fromByte` on: every line
 * complete (the file ends with a newline), every line one JSON object with a
 * string event_id, timestamp and event_type (no control characters in it) and
 * an integer seq, seqs increasing by exactly 1, no raw line separator. Returns
 * the records.
 */
export function checkLogBytes(bytes: Buffer, options: CheckLogOptions = {}): LoggedRecord[] {
  const from = options.fromByte ?? 0;
  let expectedSeq = options.firstSeq ?? 1;
  assert.ok(bytes.length === from || bytes[bytes.length - 1] === 0x0a, `the log ends in a partial line: ${JSON.stringify(bytes.subarray(Math.max(from, bytes.length - 200)).toString("utf8"))}`);
  const records: LoggedRecord[] = [];
  let start = from;
  while (start < bytes.length) {
    const end = bytes.indexOf(0x0a, start);
    const text = bytes.toString("utf8", start, end);
    const where = `line at byte ${start} (${JSON.stringify(text.slice(0, 160))})`;
    assert.ok(!RAW_LINE_BREAK.test(text), `${where} holds a raw U+0085/U+2028/U+2029, which splits it for Python's splitlines()`);
    let record: LoggedRecord;
    try {
      record = JSON.parse(text) as LoggedRecord;
    } catch (err) {
      assert.fail(`${where} is not valid JSON: ${(err as Error).message}`);
    }
    assert.ok(record !== null && typeof record === "object" && !Array.isArray(record), `${where} is not a JSON object`);
    assert.equal(typeof record.event_id, "string", `${where}: event_id`);
    assert.equal(typeof record.timestamp, "string", `${where}: timestamp`);
    assert.equal(typeof record.event_type, "string", `${where}: event_type`);
    assert.ok(!CONTROL.test(record.event_type), `${where}: event_type holds a control character`);
    assert.equal(record.seq, expectedSeq, `${where}: seq must be ${expectedSeq} (previous + 1)`);
    expectedSeq++;
    records.push(record);
    start = end + 1;
  }
  return records;
}

/** Reads the log file and checks it with {@link checkLogBytes}. */
export async function checkLog(path: string, options: CheckLogOptions = {}): Promise<CheckedLog> {
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return Buffer.alloc(0);
    throw err;
  });
  return { records: checkLogBytes(bytes, options), bytes };
}

function isJsonObject(line: Buffer): boolean {
  try {
    const value: unknown = JSON.parse(line.toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * How many bytes at the end of `bytes` are a torn tail, worked out here
 * independently of the server: whatever follows the last newline, plus the
 * complete lines before it that are not JSON objects.
 */
export function tornTailBytes(bytes: Buffer): number {
  let end = bytes.lastIndexOf(0x0a) + 1;
  while (end > 0) {
    const start = end >= 2 ? bytes.lastIndexOf(0x0a, end - 2) + 1 : 0;
    if (isJsonObject(bytes.subarray(start, end - 1))) break;
    end = start;
  }
  return bytes.length - end;
}
