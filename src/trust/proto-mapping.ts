import { create } from "@bufbuild/protobuf";
import {
  ImportMode as ProtoImportMode,
  KeyMetricsSchema,
  TrustRecordSchema,
  TrustReportSchema,
  type KeyMetrics as ProtoKeyMetrics,
  type TrustRecord as ProtoTrustRecord,
  type TrustReport as ProtoTrustReport,
} from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import type { ImportMode } from "./client.js";
import type { KeyMetrics, TrustRecord, TrustReport } from "./tracker.js";

/** Tracker metrics to their proto message. */
export function metricsToProto(m: KeyMetrics): ProtoKeyMetrics {
  return create(KeyMetricsSchema, { ...m, sampleSize: BigInt(m.sampleSize) });
}

/** Proto metrics back to the tracker's shape. */
export function metricsFromProto(m: ProtoKeyMetrics): KeyMetrics {
  return { ...m, sampleSize: Number(m.sampleSize) };
}

/** A report to its proto message. */
export function reportToProto(r: TrustReport): ProtoTrustReport {
  return create(TrustReportSchema, {
    summary: r.summary,
    highTrust: r.highTrust.map(metricsToProto),
    lowTrust: r.lowTrust.map(metricsToProto),
  });
}

/** A proto report back to the tracker's shape. */
export function reportFromProto(r: ProtoTrustReport): TrustReport {
  const s = r.summary;
  return {
    summary: {
      totalKeys: s?.totalKeys ?? 0,
      reportedKeys: s?.reportedKeys ?? 0,
      meanTrust: s?.meanTrust ?? 0,
      highTrustCount: s?.highTrustCount ?? 0,
      lowTrustCount: s?.lowTrustCount ?? 0,
      minSamples: s?.minSamples ?? 0,
      highThreshold: s?.highThreshold ?? 0,
      lowThreshold: s?.lowThreshold ?? 0,
    },
    highTrust: r.highTrust.map(metricsFromProto),
    lowTrust: r.lowTrust.map(metricsFromProto),
  };
}

/** A key record to its proto message. */
export function recordToProto(r: TrustRecord): ProtoTrustRecord {
  return create(TrustRecordSchema, r);
}

/** A proto key record back to the tracker's shape (unchecked). */
export function recordFromProto(r: ProtoTrustRecord): TrustRecord {
  const record: TrustRecord = { key: r.key, alpha: r.alpha, beta: r.beta, history: r.history.map((p) => ({ time: p.time, trust: p.trust })) };
  if (r.lastUpdate !== undefined) record.lastUpdate = r.lastUpdate;
  return record;
}

/** The proto import mode to ours; unspecified means replace, as the original did. */
export function importModeFromProto(mode: ProtoImportMode): ImportMode {
  return mode === ProtoImportMode.MERGE ? "merge" : "replace";
}

/** Our import mode to the proto enum. */
export function importModeToProto(mode: ImportMode): ProtoImportMode {
  return mode === "merge" ? ProtoImportMode.MERGE : ProtoImportMode.REPLACE;
}

/** The report summary as the JSON object written in "trust_report_generated". */
export function summaryJson(r: TrustReport) {
  const s = r.summary;
  return {
    total_keys: s.totalKeys,
    reported_keys: s.reportedKeys,
    mean_trust: s.meanTrust,
    high_trust_count: s.highTrustCount,
    low_trust_count: s.lowTrustCount,
    min_samples: s.minSamples,
    high_threshold: s.highThreshold,
    low_threshold: s.lowThreshold,
  };
}
