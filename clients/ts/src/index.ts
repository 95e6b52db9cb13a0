// The package's public surface: the client, the batch writer, their options,
// results and typed errors. Generated protobuf types used in the results
// (LearningEvent) are re-exported for users who inspect rejected events.
export { LearningLogClient, type LogOptions, type RuleActivationOptions, type BayesianTrustMetricsOptions, type ReadQuery, type TrustFileResult } from "./learning-log-client.js";
export { TrustClient, type Outcome, type TrustUpdate, type ImportModeName, type ReportOptions } from "./trust-client.js";
export { BatchWriter, SERVER_BATCH_EVENTS_MAX, type BatchWriterOptions, type WriterStats, type WriterLogger } from "./batch-writer.js";
export { DEFAULT_ADDRESS, DEFAULT_SERVER_LIMITS, MESSAGE_BYTES_MAX, type ConnectionOptions, type CallOptions, type ServerLimits, type TlsOptions } from "./connection.js";
export type { EventOptions, RuleActivationFields, BayesianTrustMetricsFields } from "./events.js";
export type { Ack, TrustMetricsAck, TrustStats, TrustReport, TrustRecord, Rejection, BatchAck, LogRecord, RunInfo, RunState } from "./results.js";
export { InvalidRunId, RUN_ENV, RUN_METADATA_KEY, RUN_CHARS_MAX } from "./run-id.js";
export { RunScope, RUN_STARTED, RUN_FINISHED, type RunScopeOptions, type RunOutcome, type RunLogger } from "./run-scope.js";
export {
  LearningLogError,
  InvalidArgument,
  NotFound,
  PermissionDenied,
  Unauthenticated,
  ResourceExhausted,
  FailedPrecondition,
  Unavailable,
  Unimplemented,
  DeadlineExceeded,
  Cancelled,
  Internal,
  BufferFull,
  RETRYABLE_CODES,
  isRetryable,
  errorFor,
  type FieldViolation,
} from "./errors.js";
export type { LearningEvent } from "../gen/pulse/learninglog/v1/learning_log_pb.js";
