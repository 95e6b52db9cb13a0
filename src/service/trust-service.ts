import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  ImportMode as ProtoImportMode,
  TrustService,
  type ExportTrustResponseSchema,
  type ImportTrustRequest,
  type TrustOutcome as ProtoTrustOutcome,
} from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { ServiceError } from "../errors.js";
import type { ServiceImpl } from "../rpc/grpc-adapter.js";
import type { ImportMode, TrustOutcome, TrustTrackerClient } from "../trust/client.js";
import { importModeFromProto, metricsToProto, recordFromProto, recordToProto, reportToProto } from "../trust/proto-mapping.js";
import type { TrustRecord } from "../trust/tracker.js";
import { TrustDirectory } from "../trust/trust-directory.js";
import {
  checkFactor,
  checkKey,
  checkKeys,
  checkMinCount,
  checkOutcome,
  checkOutcomes,
  checkRecords,
  checkThresholds,
  checkZ,
} from "../trust/validation.js";

/** Limits of the trust service. Each has a default. */
export interface TrustServiceOptions {
  /** Most records in one ImportTrust stream. Default 1,000,000. */
  importRecordsMax?: number;
  /** Most history points, over all records, in one ImportTrust stream. Default 10,000,000. */
  importPointsMax?: number;
}

const toOutcome = (o: ProtoTrustOutcome): TrustOutcome => ({ key: o.key, success: o.success, weight: o.weight });

/** Checks an import mode (open enum: a newer client may send a value we do not know). */
function checkMode(mode: ProtoImportMode, field: string): ImportMode {
  if (mode !== ProtoImportMode.UNSPECIFIED && mode !== ProtoImportMode.REPLACE && mode !== ProtoImportMode.MERGE) {
    throw ServiceError.invalid(field, `unknown import mode ${mode}`);
  }
  return importModeFromProto(mode);
}

/**
 * The TrustService over any TrustTrackerClient: in process, or the stub of a
 * remote tracker (the same service then fronts it). Every request is checked
 * here first (INVALID_ARGUMENT naming the field, nothing changed); the
 * tracker records and applies.
 */
export function createTrustService(trust: TrustTrackerClient, options: TrustServiceOptions = {}): ServiceImpl<typeof TrustService.method> {
  const recordsMax = options.importRecordsMax ?? 1_000_000;
  const pointsMax = options.importPointsMax ?? 10_000_000;
  return {
    async update(request) {
      checkOutcome(request.outcome, "outcome");
      try {
        const { metrics, seq } = await trust.update([toOutcome(request.outcome)]);
        return { metrics: metricsToProto(metrics[0]), seq: BigInt(seq) };
      } catch (err) {
        // The tracker numbers outcomes of a batch; this request has the one.
        throw err instanceof ServiceError ? err.renamedField("outcomes[0]", "outcome") : err;
      }
    },

    async batchUpdate(request) {
      checkOutcomes(request.outcomes, "outcomes");
      const { metrics, seq } = await trust.update(request.outcomes.map(toOutcome));
      return { metrics: metrics.map(metricsToProto), seq: BigInt(seq) };
    },

    async getMetrics(request) {
      checkKeys(request.keys, "keys");
      checkZ(request.z, "z");
      return { metrics: (await trust.getMetrics(request.keys, request.z)).map(metricsToProto) };
    },

    async applyDecay(request) {
      if (request.key !== undefined) checkKey(request.key, "key");
      checkFactor(request.factor, "factor");
      checkMinCount(request.minCount, "min_count");
      const { keysDecayed, seq } = await trust.applyDecay(request.key, request.factor, request.minCount ?? 0);
      return { keysDecayed, seq: BigInt(seq) };
    },

    async generateReport(request) {
      checkThresholds(request.highThreshold, request.lowThreshold, { high: "high_threshold", low: "low_threshold" });
      const report = await trust.report({ minSamples: request.minSamples, highThreshold: request.highThreshold, lowThreshold: request.lowThreshold });
      return { report: reportToProto(report) };
    },

    async *exportTrust(): AsyncIterable<MessageInitShape<typeof ExportTrustResponseSchema>> {
      for (const record of await trust.exportRecords()) yield { record: recordToProto(record) };
    },

    /** Collects the whole stream, checks every record, then imports all or nothing. */
    async importTrust(requests: AsyncIterable<ImportTrustRequest>) {
      let mode: ProtoImportMode | undefined;
      const records: TrustRecord[] = [];
      let points = 0;
      let index = 0;
      for await (const request of requests) {
        const m = request.mode;
        checkMode(m, "mode");
        if (mode === undefined) mode = m;
        else if (m !== ProtoImportMode.UNSPECIFIED && m !== mode) {
          throw ServiceError.invalid("mode", `message ${index} asks for mode ${ProtoImportMode[m]} but the stream started with ${ProtoImportMode[mode]}`);
        }
        for (const r of request.records) {
          if (records.length >= recordsMax) throw ServiceError.invalid("records", `more than ${recordsMax} records in one import`);
          points += r.history.length;
          if (points > pointsMax) throw ServiceError.invalid("records", `more than ${pointsMax} history points in one import`);
          records.push(recordFromProto(r));
        }
        index++;
      }
      // Records are numbered across the whole stream.
      checkRecords(records, (i) => `records[${i}]`);
      const { keyCount, seq } = await trust.importRecords(records, importModeFromProto(mode ?? ProtoImportMode.UNSPECIFIED));
      return { keyCount, seq: BigInt(seq) };
    },

    async exportTrustToFile(request) {
      // The tracker confines the path; its shape is checked here too, before a remote is asked.
      TrustDirectory.parts(request.path, "path");
      return trust.exportToFile(request.path);
    },

    async importTrustFromFile(request) {
      TrustDirectory.parts(request.path, "path");
      const mode = checkMode(request.mode, "mode");
      return trust.importFromFile(request.path, mode);
    },
  };
}
