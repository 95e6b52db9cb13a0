import { open, stat } from "node:fs/promises";
import { lineTextOf, parseRecordText } from "../../record/line.js";
import { chainHash, splitHashedLine } from "../hash-chain.js";
import { linesForward } from "./lines.js";
import { listSegments } from "./segments.js";

/** Where and why the chain broke. */
export interface ChainBreak {
  /** The file holding the bad line. */
  file: string;
  /** Line number in that file, from 1. */
  line: number;
  /** The seq the line claims, when it has one. */
  seq?: number;
  /** The seq expected at that point. */
  expectedSeq?: number;
  reason: string;
}

/** The outcome of {@link verifyLog}. */
export interface VerifyReport {
  ok: boolean;
  /** Records checked. */
  records: number;
  /** Records whose hash was checked against the chain: 0 means no tampering could be ruled out (only seq order and JSON were checked). */
  hashedRecords: number;
  firstSeq?: number;
  lastSeq?: number;
  /** Hash of the last record: keep it elsewhere to anchor the chain. */
  lastHash?: string;
  /** Files read, in order. */
  files: string[];
  /** The first break, when the chain is not intact. */
  broken?: ChainBreak;
  /** Records holding the original module's NaN/Infinity tokens (valid for Python's json module, not strict JSON). */
  nonFiniteRecords: number;
}

/** Progress callback: bytes read so far and in all. */
export type VerifyProgress = (bytesRead: number, bytesTotal: number) => void;

/**
 * The chain's rules over a sequence of records, one line at a time: each is
 * a JSON object, seq goes up by exactly one, and each hash matches SHA-256
 * (previous hash + the line up to its seq). The first record anchors the
 * chain when it is not the log's first (older records were deleted, or a
 * read started later). Shared by the files' check ({@link verifyLog}) and
 * the check of records a server returns ({@link verifyRecords}).
 */
export class ChainChecker {
  private previousHash: string | undefined;
  private expectedSeq: number | undefined;

  constructor(readonly report: VerifyReport) {}

  /** The seq the next record must carry (undefined before the first). */
  get expected(): number | undefined {
    return this.expectedSeq;
  }

  /** Checks one line (without its newline or framing); returns why it breaks the chain, or undefined. */
  add(text: Buffer): { reason: string; seq?: number } | undefined {
    const { report } = this;
    const parsed = parseRecordText(text.toString("utf8"));
    if (!parsed.ok) return { reason: parsed.reason === "not a JSON object" ? parsed.reason : `not valid JSON (${parsed.reason})` };
    const record = parsed.value;
    if (parsed.nonFinite) report.nonFiniteRecords++;
    const seq = typeof record.seq === "number" ? record.seq : undefined;
    if (seq === undefined) {
      // A record of the original module (before this service): allowed only before the chain starts.
      if (this.previousHash !== undefined && this.previousHash !== "") return { reason: "record without seq after the chain started" };
      report.records++;
      return undefined;
    }
    const expectedSeq = this.expectedSeq;
    if (expectedSeq !== undefined && seq !== expectedSeq) {
      return { reason: seq < expectedSeq ? `seq ${seq} does not increase (records reordered or repeated)` : `seq jumps from ${expectedSeq - 1} to ${seq} (records deleted)`, seq };
    }
    const hashed = splitHashedLine(text);
    // The chain starts from "" at the log's first record (or after the original
    // module's records); only when older records are not there does the first
    // record present anchor it.
    if (this.previousHash === undefined && (seq === 1 || report.records > 0)) this.previousHash = "";
    if (hashed) {
      if (this.previousHash !== undefined) {
        const expected = chainHash(this.previousHash, hashed.prefix);
        if (expected !== hashed.hash) return { reason: "hash does not match the record and the previous hash (edited, inserted or moved)", seq };
      }
      this.previousHash = hashed.hash;
      report.hashedRecords++;
    } else if (this.previousHash !== undefined && this.previousHash !== "") {
      return { reason: "record without hash after the chain started", seq };
    } else {
      this.previousHash = "";
    }
    report.firstSeq ??= seq;
    report.lastSeq = seq;
    report.lastHash = hashed?.hash;
    report.records++;
    this.expectedSeq = seq + 1;
    return undefined;
  }
}

/**
 * Checks the records a source hands out in order (a server's ReadEvents
 * replay: any store, JetStream included) as {@link verifyLog} checks the
 * files: `source` names it in the report, and a break's `line` is the
 * record's position in the read, from 1.
 */
export async function verifyRecords(lines: AsyncIterable<string>, source: string): Promise<VerifyReport> {
  const report: VerifyReport = { ok: true, records: 0, hashedRecords: 0, files: [source], nonFiniteRecords: 0 };
  const checker = new ChainChecker(report);
  let line = 0;
  for await (const text of lines) {
    line++;
    const broken = checker.add(Buffer.from(text, "utf8"));
    if (broken !== undefined) {
      report.ok = false;
      report.broken = { file: source, line, seq: broken.seq, expectedSeq: checker.expected, reason: broken.reason };
      return report;
    }
  }
  return report;
}

/**
 * Checks the whole log, across closed segments and the active file: every
 * line is a JSON object ending in a newline, seq goes up by exactly one, and
 * every hash matches SHA-256(previous hash + the line up to its seq). Stops at
 * the first break and names it. When the oldest segments were deleted by
 * retention, the first record present anchors the chain.
 */
export async function verifyLog(logPath: string, onProgress?: VerifyProgress): Promise<VerifyReport> {
  const segments = await listSegments(logPath);
  const sizes = await Promise.all(segments.map(async (s) => (await stat(s.path)).size));
  const total = sizes.reduce((a, b) => a + b, 0);
  let read = 0;
  const report: VerifyReport = { ok: true, records: 0, hashedRecords: 0, files: segments.map((s) => s.path), nonFiniteRecords: 0 };
  const checker = new ChainChecker(report);
  for (const [index, segment] of segments.entries()) {
    const size = sizes[index];
    let lineNo = 0;
    const fail = (reason: string, seq?: number): VerifyReport => {
      report.ok = false;
      report.broken = { file: segment.path, line: lineNo, seq, expectedSeq: checker.expected, reason };
      return report;
    };
    let consumed = 0;
    const fh = await open(segment.path, "r");
    try {
      for await (const bytes of linesForward(fh, 0, (n) => {
        read += n;
        onProgress?.(read, total);
      })) {
        lineNo++;
        consumed += bytes.length + 1;
        if (consumed > size) return fail("last line has no newline (torn write)");
        // A byte order mark or a CRLF ending is framing, not part of the record (nor of its hash).
        const broken = checker.add(lineTextOf(bytes));
        if (broken !== undefined) return fail(broken.reason, broken.seq);
      }
    } finally {
      await fh.close();
    }
  }
  return report;
}
