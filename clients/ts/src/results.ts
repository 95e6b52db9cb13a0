import type { status } from "@grpc/grpc-js";
import { RunStatus, type EventAck, type LearningEvent, type RunInfo as RunInfoMessage } from "../gen/pulse/learninglog/v1/learning_log_pb.js";
import type { KeyMetrics, TrustRecord as TrustRecordMessage, TrustReport as TrustReportMessage } from "../gen/pulse/trust/v1/trust_pb.js";

/**
 * Confirms that one event is durable (fsynced) in the log. Sequence numbers
 * are plain numbers: exact up to 2^53 records.
 */
export interface Ack {
  /** The record's event_id (a UUID). */
  readonly eventId: string;
  /** The record's sequence number, strictly increasing across the log. */
  readonly seq: number;
  /** The record's timestamp as written, e.g. `2026-11-24T19:05:53.700123+00:00`. */
  readonly timestamp: string;
  /** Paths of the fields the server's PII guard redacted, if any. */
  readonly redactedFields: readonly string[];
  /** True when the event_id had been written before (a retry): nothing was written again and seq/timestamp are the original record's. */
  readonly duplicate: boolean;
}

/** A key's trust metrics, as the tracker reports them. */
export interface TrustStats {
  /** The rule or variable identifier. */
  readonly key: string;
  /** alpha / (alpha + beta). */
  readonly trust: number;
  /** Lower and upper bound of the confidence interval, clamped to [0, 1]. */
  readonly confidenceInterval: readonly [number, number];
  /** 1 / (1 + exp(-0.1 (n_obs - 10))). */
  readonly confidenceStrength: number;
  /** int(alpha + beta - 2). */
  readonly sampleSize: number;
  /** Beta distribution alpha. */
  readonly alpha: number;
  /** Beta distribution beta. */
  readonly beta: number;
  /** Seconds since the Unix epoch of the last update; null when never updated. */
  readonly lastUpdate: number | null;
}

/** The Ack of `logBayesianTrustMetrics`, with the metrics it logged. */
export interface TrustMetricsAck extends Ack {
  /** The metrics written in the record. */
  readonly metrics: TrustStats;
}

/** The trust report: aggregates and the high- and low-trust keys. */
export interface TrustReport {
  /** Aggregates over the reported keys (the object the `trust_report_generated` record holds). */
  readonly summary: {
    readonly totalKeys: number;
    readonly reportedKeys: number;
    readonly meanTrust: number;
    readonly highTrustCount: number;
    readonly lowTrustCount: number;
    readonly minSamples: number;
    readonly highThreshold: number;
    readonly lowThreshold: number;
  };
  /** High-trust keys, highest trust first. */
  readonly highTrust: readonly TrustStats[];
  /** Low-trust keys, lowest trust first. */
  readonly lowTrust: readonly TrustStats[];
}

/** One key's full tracker state, as exported and imported. */
export interface TrustRecord {
  /** The rule or variable identifier. */
  readonly key: string;
  /** Beta distribution alpha, at least 1. */
  readonly alpha: number;
  /** Beta distribution beta, at least 1. */
  readonly beta: number;
  /** Seconds since the Unix epoch of the last update; null when never updated. */
  readonly lastUpdate: number | null;
  /** Trust history, oldest first: [time in epoch seconds, trust]. */
  readonly history: ReadonlyArray<readonly [number, number]>;
}

/** One event a {@link BatchWriter} sent that the server refused: nothing was written for it. */
export interface Rejection {
  /** The event_id the writer gave the event. */
  readonly eventId: string;
  /** The status the event would have had alone (usually INVALID_ARGUMENT). */
  readonly code: status;
  /** Why, naming the field (e.g. `events[3].generic.event_type: ...`). */
  readonly message: string;
  /** The event as sent. */
  readonly event: LearningEvent;
}

/** The server's answer to one batch of a {@link BatchWriter}, once durable. */
export interface BatchAck {
  /** The writer's number for the batch. */
  readonly batchId: number;
  /** Events in the batch. */
  readonly size: number;
  /** Events accepted (written now or before), duplicates included. */
  readonly count: number;
  /** Accepted events that had been written before (resent after a broken stream). */
  readonly duplicates: number;
  /** Lowest seq of the batch's accepted events (0 when none). */
  readonly firstSeq: number;
  /** Highest seq of the batch's accepted events (0 when none). */
  readonly lastSeq: number;
  /** The batch's rejected events. */
  readonly rejections: readonly Rejection[];
}

/** One record of the log, as `readEvents` yields it. */
export interface LogRecord {
  /** The record's seq. */
  readonly seq: number;
  /** The record's event_id. */
  readonly eventId: string;
  /** The record's timestamp. */
  readonly timestamp: string;
  /** The record's event_type. */
  readonly eventType: string;
  /** The whole record as written in the log: one JSON object. */
  readonly json: string;
}

/**
 * Where a run stands: `logging` (no `run_finished` yet, and held or recently
 * logged into), `finished`, `failed`, or `ended_without_finish` (the
 * process that held it ended without a `run_finished` record).
 */
export type RunState = "logging" | "finished" | "failed" | "ended_without_finish" | "unspecified";

/** One run, as `listRuns` describes it from the server's run index. */
export interface RunInfo {
  /** The run's id. */
  readonly run: string;
  /** The seq of the run's first record. */
  readonly firstSeq: number;
  /** The seq of the run's last record. */
  readonly lastSeq: number;
  /** The timestamp of the run's first record, as written. */
  readonly firstTimestamp: string;
  /** The timestamp of the run's last record, as written. */
  readonly lastTimestamp: string;
  /** How many records the run has. */
  readonly eventCount: number;
  /** How many records of each event type. */
  readonly eventTypes: Readonly<Record<string, number>>;
  /** Where the run stands. */
  readonly status: RunState;
  /** For a failed run: the error its `run_finished` record names. */
  readonly error: string;
}

const RUN_STATE: Readonly<Record<RunStatus, RunState>> = {
  [RunStatus.UNSPECIFIED]: "unspecified",
  [RunStatus.LOGGING]: "logging",
  [RunStatus.FINISHED]: "finished",
  [RunStatus.FAILED]: "failed",
  [RunStatus.ENDED_WITHOUT_FINISH]: "ended_without_finish",
};

/** A RunInfo message as a {@link RunInfo}. */
export function runInfoFrom(r: RunInfoMessage): RunInfo {
  return {
    run: r.run,
    firstSeq: Number(r.firstSeq),
    lastSeq: Number(r.lastSeq),
    firstTimestamp: r.firstTimestamp,
    lastTimestamp: r.lastTimestamp,
    eventCount: Number(r.eventCount),
    eventTypes: Object.fromEntries(Object.entries(r.eventTypes).map(([type, n]) => [type, Number(n)])),
    status: RUN_STATE[r.status] ?? "unspecified",
    error: r.error,
  };
}

/** An EventAck message as an {@link Ack}. */
export function ackFrom(ack: EventAck | undefined): Ack {
  return {
    eventId: ack?.eventId ?? "",
    seq: Number(ack?.seq ?? 0n),
    timestamp: ack?.timestamp ?? "",
    redactedFields: [...(ack?.redactedFields ?? [])],
    duplicate: ack?.duplicate ?? false,
  };
}

/** A KeyMetrics message as {@link TrustStats}. */
export function statsFrom(m: KeyMetrics | undefined): TrustStats {
  return {
    key: m?.key ?? "",
    trust: m?.trust ?? 0,
    confidenceInterval: [m?.confidenceLower ?? 0, m?.confidenceUpper ?? 0],
    confidenceStrength: m?.confidenceStrength ?? 0,
    sampleSize: Number(m?.sampleSize ?? 0n),
    alpha: m?.alpha ?? 0,
    beta: m?.beta ?? 0,
    lastUpdate: m?.lastUpdate ?? null,
  };
}

/** A TrustReport message as a {@link TrustReport}. */
export function reportFrom(report: TrustReportMessage | undefined): TrustReport {
  const s = report?.summary;
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
    highTrust: (report?.highTrust ?? []).map(statsFrom),
    lowTrust: (report?.lowTrust ?? []).map(statsFrom),
  };
}

/** A TrustRecord message as a {@link TrustRecord}. */
export function trustRecordFrom(r: TrustRecordMessage): TrustRecord {
  return { key: r.key, alpha: r.alpha, beta: r.beta, lastUpdate: r.lastUpdate ?? null, history: r.history.map((p) => [p.time, p.trust] as const) };
}
