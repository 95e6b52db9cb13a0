import { create } from "@bufbuild/protobuf";
import {
  ImportMode,
  TrustService,
  type ApplyDecayResponse,
  type BatchUpdateResponse,
  type ExportTrustResponse,
  type ExportTrustToFileResponse,
  type GenerateReportResponse,
  type GetMetricsResponse,
  type ImportTrustFromFileResponse,
  type ImportTrustResponse,
  type UpdateResponse,
} from "../gen/pulse/trust/v1/trust_pb.js";
import type { CallOptions, Connection } from "./connection.js";
import { reportFrom, statsFrom, trustRecordFrom, type TrustRecord, type TrustReport, type TrustStats } from "./results.js";

/** One observed outcome for a key: `weight` (default 1) is added to alpha on success, to beta on failure. */
export interface Outcome {
  /** The rule or variable identifier. */
  key: string;
  /** Whether the outcome was a success. */
  success: boolean;
  /** Weight of the outcome; finite and > 0. Default 1. */
  weight?: number;
}

/** The result of an update: the audit record's seq and the metrics after it. */
export interface TrustUpdate<S> {
  /** Sequence number of the update's record in the learning log. */
  readonly seq: number;
  /** The key's stats (`update`), or every touched key's (`batchUpdate`). */
  readonly stats: S;
}

/** The thresholds of a trust report; absent values take the server's defaults (5, 0.8, 0.2). */
export interface ReportOptions extends CallOptions {
  /** Keys with fewer samples are left out. */
  minSamples?: number;
  /** Keys with trust >= this are high trust. */
  highThreshold?: number;
  /** Keys with trust <= this are low trust. */
  lowThreshold?: number;
}

/** How an import treats the keys already tracked: `replace` the whole state (default) or `merge` key by key. */
export type ImportModeName = "replace" | "merge";

// Records per ImportTrust message: keeps each message far below 4 MiB.
const IMPORT_CHUNK_RECORDS = 500;

function importMode(mode: ImportModeName | undefined): ImportMode {
  if (mode === undefined || mode === "replace") return ImportMode.REPLACE;
  if (mode === "merge") return ImportMode.MERGE;
  throw new TypeError(`mode must be "replace" or "merge", got ${String(mode)}`);
}

/**
 * The server's Bayesian trust tracker (TrustService). Reads are retried on
 * a retryable status; writes are not (they carry no idempotency key). Every
 * write is also recorded in the learning log.
 */
export class TrustClient {
  /** Built by {@link LearningLogClient}: `client.trust`. */
  constructor(private readonly connection: Connection) {}

  /** Records one outcome for `key`. */
  async update(key: string, success: boolean, weight?: number, options?: CallOptions): Promise<TrustUpdate<TrustStats>> {
    const request = create(TrustService.method.update.input, { outcome: { key, success, weight } });
    const res = await this.connection.unary<UpdateResponse>(TrustService, "update", request, false, options);
    return { seq: Number(res.seq), stats: statsFrom(res.metrics) };
  }

  /** Records many outcomes in order, all or nothing; the stats of every key touched, by key. */
  async batchUpdate(outcomes: readonly Outcome[], options?: CallOptions): Promise<TrustUpdate<Record<string, TrustStats>>> {
    const request = create(TrustService.method.batchUpdate.input, { outcomes: outcomes.map((o) => ({ key: o.key, success: o.success, weight: o.weight })) });
    const res = await this.connection.unary<BatchUpdateResponse>(TrustService, "batchUpdate", request, false, options);
    return { seq: Number(res.seq), stats: Object.fromEntries(res.metrics.map((m) => [m.key, statsFrom(m)])) };
  }

  /** The metrics of each key, in order; a key never updated has the prior (trust 0.5). `z` default 1.96. */
  async getMetrics(keys: readonly string[], options: CallOptions & { z?: number } = {}): Promise<TrustStats[]> {
    const request = create(TrustService.method.getMetrics.input, { keys: [...keys], z: options.z });
    const res = await this.connection.unary<GetMetricsResponse>(TrustService, "getMetrics", request, true, options);
    return res.metrics.map(statsFrom);
  }

  /** The metrics of one key. */
  async getStats(key: string, options?: CallOptions & { z?: number }): Promise<TrustStats> {
    const [stats] = await this.getMetrics([key], options);
    return stats;
  }

  /** alpha / (alpha + beta) of one key. */
  async getTrust(key: string, options?: CallOptions): Promise<number> {
    return (await this.getStats(key, options)).trust;
  }

  /**
   * Shrinks alpha and beta toward the prior (x <- max(1, x * factor) when
   * alpha + beta > minCount), for `key`, or every key when `key` is undefined.
   */
  async applyDecay(key: string | undefined, factor: number, options: CallOptions & { minCount?: number } = {}): Promise<{ keysDecayed: number; seq: number }> {
    const request = create(TrustService.method.applyDecay.input, { key, factor, minCount: options.minCount });
    const res = await this.connection.unary<ApplyDecayResponse>(TrustService, "applyDecay", request, false, options);
    return { keysDecayed: res.keysDecayed, seq: Number(res.seq) };
  }

  /** The trust report (not logged; see `LearningLogClient.generateTrustReport` for the logged one). */
  async generateReport(options: ReportOptions = {}): Promise<TrustReport> {
    const request = create(TrustService.method.generateReport.input, { minSamples: options.minSamples, highThreshold: options.highThreshold, lowThreshold: options.lowThreshold });
    const res = await this.connection.unary<GenerateReportResponse>(TrustService, "generateReport", request, true, options);
    return reportFrom(res.report);
  }

  /** Every key's state, history included, sorted by key. */
  async exportRecords(options?: CallOptions): Promise<TrustRecord[]> {
    const answers = await this.connection.serverStream<ExportTrustResponse>(TrustService, "exportTrust", create(TrustService.method.exportTrust.input, {}), options);
    return answers.flatMap((a) => (a.record === undefined ? [] : [trustRecordFrom(a.record)]));
  }

  /** Imports key records, all or nothing; resolves with the count and the audit record's seq. */
  async importRecords(records: readonly TrustRecord[], mode?: ImportModeName, options?: CallOptions): Promise<{ keyCount: number; seq: number }> {
    const m = importMode(mode);
    const messages = [];
    for (let i = 0; i === 0 || i < records.length; i += IMPORT_CHUNK_RECORDS) {
      const chunk = records.slice(i, i + IMPORT_CHUNK_RECORDS).map((r) => ({
        key: r.key,
        alpha: r.alpha,
        beta: r.beta,
        lastUpdate: r.lastUpdate ?? undefined,
        history: r.history.map(([time, trust]) => ({ time, trust })),
      }));
      messages.push(create(TrustService.method.importTrust.input, { mode: i === 0 ? m : ImportMode.UNSPECIFIED, records: chunk }));
    }
    const res = await this.connection.clientStream<ImportTrustResponse>(TrustService, "importTrust", messages, options);
    return { keyCount: res.keyCount, seq: Number(res.seq) };
  }

  /** Writes the state to `path` inside the server's trust directory, in the original module's JSON format. */
  async exportToFile(path: string, options?: CallOptions): Promise<{ path: string; keyCount: number }> {
    const res = await this.connection.unary<ExportTrustToFileResponse>(TrustService, "exportTrustToFile", create(TrustService.method.exportTrustToFile.input, { path }), false, options);
    return { path: res.path, keyCount: res.keyCount };
  }

  /** Reads the state from `path` inside the server's trust directory; `found` false when the file does not exist. */
  async importFromFile(path: string, mode?: ImportModeName, options?: CallOptions): Promise<{ found: boolean; keyCount: number }> {
    const request = create(TrustService.method.importTrustFromFile.input, { path, mode: importMode(mode) });
    const res = await this.connection.unary<ImportTrustFromFileResponse>(TrustService, "importTrustFromFile", request, false, options);
    return { found: res.found, keyCount: res.keyCount };
  }
}
