import { randomUUID } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { ImportMode } from "../../../gen/ts/pulse/trust/v1/trust_pb.js";
import { recordFromProto, recordToProto } from "../../trust/proto-mapping.js";
import { decodeTrustFile, encodeTrustFile } from "../../trust/trust-file.js";
import { CliError, ExitCode } from "../exit-codes.js";
import type { Output } from "../output.js";
import { reportFromProto, summaryJson } from "../../trust/proto-mapping.js";
import { trustClient, type ServerConnection } from "../remote.js";
import { errnoOf } from "../../errors.js";

/** Options of `pulse-log trust report`. */
export interface TrustReportOptions {
  server: ServerConnection;
  minSamples?: number;
  high?: number;
  low?: number;
}

const fmt = (x: number) => x.toFixed(3);

/** `pulse-log trust report`: the server's trust report (GenerateReport). */
export async function trustReport(options: TrustReportOptions, out: Output): Promise<void> {
  const client = trustClient(options.server);
  try {
    const { report } = await client.generateReport({ minSamples: options.minSamples, highThreshold: options.high, lowThreshold: options.low });
    const s = report?.summary;
    if (out.options.json) {
      const metrics = (list: NonNullable<typeof report>["highTrust"]) =>
        list.map((m) => ({ key: m.key, trust: m.trust, confidence_interval: [m.confidenceLower, m.confidenceUpper], confidence_strength: m.confidenceStrength, sample_size: Number(m.sampleSize) }));
      await out.json({
        // The same summary object the server logs in "trust_report_generated".
        summary: report && summaryJson(reportFromProto(report)),
        high_trust: metrics(report?.highTrust ?? []),
        low_trust: metrics(report?.lowTrust ?? []),
      });
      return;
    }
    const lines = [
      `${s?.reportedKeys ?? 0} of ${s?.totalKeys ?? 0} keys have at least ${s?.minSamples ?? 0} samples; mean trust ${fmt(s?.meanTrust ?? 0)}`,
      "",
      `High trust (>= ${s?.highThreshold}): ${s?.highTrustCount ?? 0}`,
      ...(report?.highTrust ?? []).map((m) => `  ${m.key}  ${fmt(m.trust)} [${fmt(m.confidenceLower)}, ${fmt(m.confidenceUpper)}]  n=${m.sampleSize}`),
      "",
      `Low trust (<= ${s?.lowThreshold}): ${s?.lowTrustCount ?? 0}`,
      ...(report?.lowTrust ?? []).map((m) => `  ${m.key}  ${fmt(m.trust)} [${fmt(m.confidenceLower)}, ${fmt(m.confidenceUpper)}]  n=${m.sampleSize}`),
    ];
    await out.write(lines.join("\n") + "\n");
  } finally {
    client.close();
  }
}

/** Options of `pulse-log trust export`. */
export interface TrustExportOptions {
  server: ServerConnection;
  /** File to write; "-" or absent: stdout. */
  file?: string;
}

/**
 * `pulse-log trust export [FILE]`: streams every key's state from the server
 * (ExportTrust) and writes it in the original module's export format, which
 * its import_trust_data and `pulse-log trust import` read. A file is written
 * to a temporary name and renamed, so it is never seen half written.
 */
export async function trustExport(options: TrustExportOptions, out: Output): Promise<void> {
  const client = trustClient(options.server);
  try {
    const records = [];
    for await (const m of client.exportTrust({})) if (m.record) records.push(recordFromProto(m.record));
    const text = encodeTrustFile(records, Date.now() / 1000);
    if (options.file === undefined || options.file === "-") {
      await out.write(text);
      return;
    }
    const temp = `${options.file}.${randomUUID()}.tmp`;
    try {
      await writeFile(temp, text, { mode: 0o600 });
      await rename(temp, options.file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    if (out.options.json) await out.json({ file: options.file, keys: records.length });
    else out.note(`exported ${records.length} keys to ${options.file}`);
  } finally {
    client.close();
  }
}

/** Options of `pulse-log trust import`. */
export interface TrustImportOptions {
  server: ServerConnection;
  file: string;
  /** Keep keys that the file does not name (default: the file replaces the whole state, like the original). */
  merge: boolean;
}

const IMPORT_RECORDS_PER_MESSAGE = 1000;

/** `pulse-log trust import FILE`: sends a file in the original's export format to the server (ImportTrust, all or nothing). */
export async function trustImport(options: TrustImportOptions, out: Output): Promise<void> {
  let text: string;
  try {
    text = await readFile(options.file, "utf8");
  } catch (err) {
    if (errnoOf(err) === "ENOENT") throw new CliError(ExitCode.notFound, `no file ${options.file}`);
    throw err;
  }
  let records;
  try {
    records = decodeTrustFile(text, options.file);
  } catch (err) {
    throw new CliError(ExitCode.failure, (err as Error).message);
  }
  const mode = options.merge ? ImportMode.MERGE : ImportMode.REPLACE;
  const messages = [];
  for (let i = 0; i < records.length || i === 0; i += IMPORT_RECORDS_PER_MESSAGE) {
    messages.push({ mode, records: records.slice(i, i + IMPORT_RECORDS_PER_MESSAGE).map(recordToProto) });
  }
  const client = trustClient(options.server);
  try {
    const res = await client.importTrust(messages);
    if (out.options.json) await out.json({ file: options.file, keys: res.keyCount, seq: Number(res.seq) });
    else out.note(`imported ${res.keyCount} keys from ${options.file} (${options.merge ? "merged" : "replacing the state"}; log seq ${res.seq})`);
  } finally {
    client.close();
  }
}
