import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { eventCaseByTypeName } from "../events/catalog.js";
import type { EventWriter } from "../events/event-writer.js";
import type { CallContext, ServiceImpl } from "../rpc/grpc-adapter.js";
import { callRun } from "../runs/call-run.js";
import type { RunIndex } from "../runs/run-index.js";
import { createRunHandlers } from "./run-handlers.js";
import type { TrustTrackerClient } from "../trust/client.js";
import { metricsToProto } from "../trust/proto-mapping.js";
import { createIngestHandlers, type IngestOptions } from "./ingest-handlers.js";
import { createReadHandlers, type ReadableLog, type ReadHandlerOptions } from "./read-handlers.js";
import { createServerInfoHandlers, type ServerLimits } from "./server-info-handlers.js";
import { createTrustEventHandlers } from "./trust-event-handlers.js";

/** What the learning log service needs. */
export interface LearningLogServiceDeps {
  writer: EventWriter;
  trust: TrustTrackerClient;
  ingest?: IngestOptions;
  /** The store the read side replays and follows. */
  log: ReadableLog;
  read?: ReadHandlerOptions;
  /** The run index: ListRuns, HoldRun and reads by run. */
  runIndex: RunIndex;
  /** Aborted when the server shuts down: held runs are let go. */
  shutdown?: AbortSignal;
  /** What GetServerInfo tells clients. */
  limits: ServerLimits;
}

/**
 * The LearningLogService implementation. Every unary Log* RPC whose request
 * is an event of the catalog is derived from the descriptor: its input type
 * selects the catalog entry, and the answer is the ack (plus the metrics for
 * LogBayesianTrustMetrics). Only the batch, stream and trust RPCs are written out.
 */
type Impl = ServiceImpl<typeof LearningLogService.method>;
type WrittenOut = "generateTrustReport" | "exportTrustData" | "importTrustData" | "ingestEvents" | "streamEvents" | "logBatch" | "readEvents" | "listRuns" | "holdRun" | "getServerInfo";

export function createLearningLogService(deps: LearningLogServiceDeps): Impl {
  const logEvents: Record<string, unknown> = {};
  for (const method of LearningLogService.methods) {
    const eventCase = eventCaseByTypeName.get(method.input.typeName);
    if (eventCase === undefined || method.methodKind !== "unary") continue;
    const returnsMetrics = method.output.fields.some((f) => f.localName === "metrics");
    // Not an async function: one promise per call fewer on the path of a lone event.
    logEvents[method.localName] = (request: unknown, ctx: CallContext) =>
      deps.writer.writeOne(eventCase, request, callRun(ctx.metadata)).then(({ ack, draft }) => (returnsMetrics && draft.metrics ? { ack, metrics: metricsToProto(draft.metrics) } : { ack }));
  }
  return {
    ...(logEvents as Omit<Impl, WrittenOut>),
    ...createTrustEventHandlers(deps.writer, deps.trust),
    ...createIngestHandlers(deps.writer, deps.ingest),
    ...createReadHandlers(deps.log, { ...deps.read, runIndex: deps.runIndex }),
    ...createRunHandlers(deps.runIndex, { shutdown: deps.shutdown }),
    ...createServerInfoHandlers(deps.limits),
  };
}
