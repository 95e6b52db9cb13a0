import { create, toBinary } from "@bufbuild/protobuf";
import {
  LearningEventSchema,
  LearningLogService,
  type LogBayesianTrustMetricsResponse,
  type LogEventResponse,
  type ReadEventsResponse,
  type GenerateTrustReportResponse,
  type ExportTrustDataResponse,
  type ImportTrustDataResponse,
  type ListRunsResponse,
} from "../gen/pulse/learninglog/v1/learning_log_pb.js";
import { Connection, type CallOptions, type ConnectionOptions } from "./connection.js";
import type { CatalogEvent } from "./events.js";
import { ClientEventMethods } from "./generated/event-methods.js";
import { ackFrom, reportFrom, runInfoFrom, statsFrom, type Ack, type LogRecord, type RunInfo, type TrustMetricsAck, type TrustReport } from "./results.js";
import { checkRunId } from "./run-id.js";
import { RunScope, runStartedData, RUN_STARTED, type RunScopeOptions } from "./run-scope.js";
import { TrustClient, type ReportOptions } from "./trust-client.js";

// The options of the log methods, generated with them from the proto.
export type { LogOptions, RuleActivationOptions, BayesianTrustMetricsOptions } from "./generated/event-methods.js";

/** What {@link LearningLogClient.exportTrustData} and `importTrustData` answer. */
export interface TrustFileResult {
  /** True when the file was written (export) or existed and was read (import). */
  readonly success: boolean;
  /** Why it failed, when it did. */
  readonly error: string;
  /** The durable record of the attempt (`trust_data_exported`, `..._failed`, ...). */
  readonly ack: Ack;
}

/** The records to replay with {@link LearningLogClient.readEvents}. */
export interface ReadQuery extends CallOptions {
  /** First seq to return (inclusive). */
  fromSeq?: number;
  /** Only records with timestamp >= since (ISO 8601 with offset). */
  since?: string;
  /** Only records with timestamp < until. */
  until?: string;
  /** Only these event types; empty or absent means all. */
  eventTypes?: readonly string[];
  /** Only records of these runs (read through the server's run index); empty or absent means all. */
  runs?: readonly string[];
  /** Most records to return; absent means no limit. */
  limit?: number;
  /** Keep streaming records as they are committed, until the loop is left. */
  follow?: boolean;
}

// The unary RPC of each catalog event: the service's method whose input is the case's message.
const RPC_OF: ReadonlyMap<string, string> = new Map(
  LearningEventSchema.oneofs
    .find((o) => o.name === "event")!
    .fields.map((f) => [f.localName, LearningLogService.methods.find((m) => m.methodKind === "unary" && m.input.typeName === f.message?.typeName)!.localName]),
);

/**
 * A client of the Pulse learning log service. Each `log*` method writes
 * exactly the record the original `core/pulse_learning_log.py` wrote and
 * resolves once it is durable (fsynced) on the server, with its {@link Ack}.
 * Every log call carries an event_id (yours or a new UUID) that it keeps
 * across its retries, so a retry never writes the event twice. Failures
 * reject with a {@link LearningLogError} subclass.
 *
 * With a run (the `run` option or `PULSE_LEARNING_LOG_RUN`), every call
 * carries it as the `pulse-run` metadata: each record it writes, the trust
 * calls' audit records included, gets the run. {@link forRun},
 * {@link runScope} and {@link withRun} log into another run on the same
 * channel.
 */
export class LearningLogClient extends ClientEventMethods {
  /** The channel and call options this client (and its {@link trust} and writers built on it) share. */
  readonly connection: Connection;
  /** The server's trust tracker, on this client's channel. */
  readonly trust: TrustClient;

  /** Connects lazily: nothing is dialled before the first call. Given a {@link Connection}, the client uses it as it is. */
  constructor(options: ConnectionOptions | Connection = {}) {
    super();
    this.connection = options instanceof Connection ? options : new Connection(options);
    this.trust = new TrustClient(this.connection);
  }

  /** The run this client's calls carry, or undefined for none. */
  get run(): string | undefined {
    return this.connection.options.run;
  }

  /**
   * A client on the same channel (token, options) whose calls carry `run`
   * instead (`null`: no run). Closing either closes the shared channel.
   */
  forRun(run: string | null): LearningLogClient {
    return new LearningLogClient(this.connection.withRun(run));
  }

  /**
   * Opens a run: writes `run_started` (data `{params, pid, host}`) into it,
   * then holds the run on the server in the background until the scope
   * ends. Log into the run through the scope's `client`; end it with
   * `finish()` or `fail(error)`. Throws {@link InvalidRunId} for a bad id.
   */
  async runScope(run: string, options: RunScopeOptions = {}): Promise<RunScope<LearningLogClient>> {
    const client = this.forRun(checkRunId(run, "run"));
    const started = await client.logEvent(RUN_STARTED, runStartedData(options), undefined, options);
    return new RunScope(client, started, options);
  }

  /**
   * Runs `fn` inside a run: `run_started` before, then `run_finished` with
   * status "finished" when `fn` resolves, or "failed" with the error's type
   * and message when it throws (the error is rethrown). The run is held on
   * the server meanwhile. Resolves with what `fn` resolved with.
   */
  async withRun<T>(run: string, fn: (scope: RunScope<LearningLogClient>) => Promise<T> | T): Promise<T>;
  async withRun<T>(run: string, options: RunScopeOptions, fn: (scope: RunScope<LearningLogClient>) => Promise<T> | T): Promise<T>;
  async withRun<T>(run: string, a: RunScopeOptions | ((scope: RunScope<LearningLogClient>) => Promise<T> | T), b?: (scope: RunScope<LearningLogClient>) => Promise<T> | T): Promise<T> {
    const [options, fn] = typeof a === "function" ? [{}, a] : [a, b];
    if (typeof fn !== "function") throw new TypeError("withRun needs a function to run");
    const scope = await this.runScope(run, options);
    try {
      let result: T;
      try {
        result = await fn(scope);
      } catch (err) {
        try {
          await scope.fail(err, options);
        } catch (failErr) {
          // The caller's error matters more; the record's loss is reported.
          (options.logger ?? console).error(`[pulse-learning-log] run ${run}: run_finished could not be written: ${failErr instanceof Error ? failErr.message : String(failErr)}`);
        }
        throw err;
      }
      await scope.finish(options);
      return result;
    } finally {
      // The hold ends whatever happened (already ended after run_finished).
      await scope[Symbol.asyncDispose]();
    }
  }

  private async log<R extends { ack?: Parameters<typeof ackFrom>[0] }>(event: CatalogEvent, options?: CallOptions): Promise<R> {
    // The unary request is the oneof's value: one message builder for the
    // unary and the batch paths.
    const message = create(LearningEventSchema, { event });
    try {
      toBinary(LearningEventSchema, message); // a value protobuf cannot carry is the caller's TypeError, not an INTERNAL status
    } catch (err) {
      throw new TypeError(`the ${event.case} event cannot be encoded: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const request = message.event.value!;
    return this.connection.unary<R>(LearningLogService, RPC_OF.get(event.case)!, request, true, options);
  }

  // The log* methods (one per event of the proto, each building its event
  // and calling logAck or logTrustMetrics) are generated into ClientEventMethods.

  protected override async logAck(event: CatalogEvent, options: CallOptions | undefined): Promise<Ack> {
    return ackFrom((await this.log<LogEventResponse>(event, options)).ack);
  }

  protected override async logTrustMetrics(event: CatalogEvent, options: CallOptions | undefined): Promise<TrustMetricsAck> {
    const res = await this.log<LogBayesianTrustMetricsResponse>(event, options);
    return { ...ackFrom(res.ack), metrics: statsFrom(res.metrics) };
  }

  /** Builds the trust report and writes a `trust_report_generated` event. Not retried (it carries no event_id). */
  async generateTrustReport(options: ReportOptions = {}): Promise<{ report: TrustReport; ack: Ack }> {
    const request = { minSamples: options.minSamples, highThreshold: options.highThreshold, lowThreshold: options.lowThreshold };
    const res = await this.connection.unary<GenerateTrustReportResponse>(LearningLogService, "generateTrustReport", create(LearningLogService.method.generateTrustReport.input, request), false, options);
    return { report: reportFrom(res.report), ack: ackFrom(res.ack) };
  }

  /** Exports the tracker to `filepath` inside the server's trust directory and writes `trust_data_exported` (or `..._failed`). */
  async exportTrustData(filepath: string, options?: CallOptions): Promise<TrustFileResult> {
    const res = await this.connection.unary<ExportTrustDataResponse>(LearningLogService, "exportTrustData", create(LearningLogService.method.exportTrustData.input, { filepath }), false, options);
    return { success: res.success, error: res.error, ack: ackFrom(res.ack) };
  }

  /** Imports the tracker from `filepath` inside the server's trust directory and writes `trust_data_imported` (or `..._failed`). */
  async importTrustData(filepath: string, options?: CallOptions): Promise<TrustFileResult> {
    const res = await this.connection.unary<ImportTrustDataResponse>(LearningLogService, "importTrustData", create(LearningLogService.method.importTrustData.input, { filepath }), false, options);
    return { success: res.success, error: res.error, ack: ackFrom(res.ack) };
  }

  /**
   * Replays the log's records in seq order. With `follow` it keeps yielding
   * records as they are committed; leave the loop to end the call. A
   * connection's `timeoutMs` does not apply unless the query gives one.
   */
  async *readEvents(query: ReadQuery = {}): AsyncGenerator<LogRecord> {
    const request = create(LearningLogService.method.readEvents.input, {
      fromSeq: query.fromSeq === undefined ? undefined : BigInt(query.fromSeq),
      since: query.since,
      until: query.until,
      eventTypes: [...(query.eventTypes ?? [])],
      runs: (query.runs ?? []).map((r, i) => checkRunId(r, `runs[${i}]`)),
      limit: BigInt(query.limit ?? 0),
      follow: query.follow ?? false,
    });
    const options = { timeoutMs: query.timeoutMs ?? null };
    for await (const res of this.connection.serverStreamIter<ReadEventsResponse>(LearningLogService, "readEvents", request, options)) {
      for (const r of res.records) yield { seq: Number(r.seq), eventId: r.eventId, timestamp: r.timestamp, eventType: r.eventType, json: r.json };
    }
  }

  /**
   * The runs the log holds (only `runs` when given), by first seq, from the
   * server's run index: counts, first and last records, event types, status.
   */
  async listRuns(runs: readonly string[] = [], options?: CallOptions): Promise<{ runs: RunInfo[]; indexedSeq: number }> {
    const request = create(LearningLogService.method.listRuns.input, { runs: runs.map((r, i) => checkRunId(r, `runs[${i}]`)) });
    const res = await this.connection.unary<ListRunsResponse>(LearningLogService, "listRuns", request, true, options);
    return { runs: res.runs.map(runInfoFrom), indexedSeq: Number(res.indexedSeq) };
  }

  /** Closes the channel. */
  close(): void {
    this.connection.close();
  }

  /** Closes the channel (`using client = new LearningLogClient()`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
