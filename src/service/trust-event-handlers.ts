import { status } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  ExportTrustDataRequest,
  ExportTrustDataResponseSchema,
  GenerateTrustReportRequest,
  GenerateTrustReportResponseSchema,
  ImportTrustDataRequest,
  ImportTrustDataResponseSchema,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../errors.js";
import type { EventWriter } from "../events/event-writer.js";
import type { CallContext } from "../rpc/grpc-adapter.js";
import { callRun } from "../runs/call-run.js";
import type { TrustTrackerClient } from "../trust/client.js";
import { reportToProto, summaryJson } from "../trust/proto-mapping.js";
import { TrustDirectory } from "../trust/trust-directory.js";
import { checkThresholds } from "../trust/validation.js";

// Refusals that say the request itself was wrong: answered as a status, and
// no "failed" event is logged for them. A file that exists but is not a
// trust export (FAILED_PRECONDITION) or a file system failure is a failed
// import or export: logged as the original module logged it.
const REFUSALS = new Set<number>([status.INVALID_ARGUMENT, status.PERMISSION_DENIED, status.UNAUTHENTICATED]);

/**
 * The learning log's trust RPCs, as the original module's methods: each
 * calls the tracker and logs the catalog's event about it.
 */
export function createTrustEventHandlers(writer: EventWriter, trust: TrustTrackerClient) {
  return {
    async generateTrustReport(request: GenerateTrustReportRequest, ctx: CallContext): Promise<MessageInitShape<typeof GenerateTrustReportResponseSchema>> {
      checkThresholds(request.highThreshold, request.lowThreshold, { high: "high_threshold", low: "low_threshold" });
      const run = callRun(ctx.metadata);
      const report = await trust.report({
        minSamples: request.minSamples,
        highThreshold: request.highThreshold,
        lowThreshold: request.lowThreshold,
      });
      const ack = await writer.writeDraft({
        eventType: "trust_report_generated",
        data: {
          summary: summaryJson(report),
          high_trust_count: report.highTrust.length,
          low_trust_count: report.lowTrust.length,
        },
      }, run);
      return { report: reportToProto(report), ack };
    },

    async exportTrustData(request: ExportTrustDataRequest, ctx: CallContext): Promise<MessageInitShape<typeof ExportTrustDataResponseSchema>> {
      TrustDirectory.parts(request.filepath, "filepath");
      const run = callRun(ctx.metadata);
      try {
        await trust.exportToFile(request.filepath);
      } catch (err) {
        const e = ServiceError.from(err).renamedField("path", "filepath");
        if (REFUSALS.has(e.code)) throw e;
        const ack = await writer.writeDraft({ eventType: "trust_data_export_failed", data: { error: e.message } }, run);
        return { success: false, error: e.message, ack };
      }
      const ack = await writer.writeDraft({ eventType: "trust_data_exported", data: { filepath: request.filepath } }, run);
      return { success: true, ack };
    },

    async importTrustData(request: ImportTrustDataRequest, ctx: CallContext): Promise<MessageInitShape<typeof ImportTrustDataResponseSchema>> {
      TrustDirectory.parts(request.filepath, "filepath");
      const run = callRun(ctx.metadata);
      let found = false;
      let error = "";
      try {
        // The original's import replaced the whole state.
        found = (await trust.importFromFile(request.filepath, "replace")).found;
        if (!found) error = "file not found";
      } catch (err) {
        const e = ServiceError.from(err).renamedField("path", "filepath");
        if (REFUSALS.has(e.code)) throw e;
        error = e.message;
      }
      const ack = await writer.writeDraft({
        eventType: found ? "trust_data_imported" : "trust_data_import_failed",
        data: { filepath: request.filepath },
      }, run);
      return { success: found, error, ack };
    },
  };
}
