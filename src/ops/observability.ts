import type { Logger } from "pino";
import type { AuthLog } from "../auth/interceptor.js";
import { combineCallObservers, type CallObserver, type InternalErrorSink } from "../rpc/grpc-adapter.js";
import type { LogStore } from "../store/store.js";
import { createCallLog, createInternalErrorSink } from "./call-log.js";
import type { EventOutcomeObserver } from "./event-metrics.js";
import { ServerMetrics, type ServerMetricsOptions } from "./metrics.js";

/** Options of {@link Observability}. */
export interface ObservabilityOptions {
  /** The server log: per-call lines at debug level, internal errors, refused calls. */
  logger: Logger;
  /** Prometheus metrics on, with these options; off when absent. */
  metrics?: ServerMetricsOptions;
}

/**
 * What the server installs to be observed, in one place: the metrics (when
 * on), per-call log lines (at debug level), the sink for internal errors and
 * the log of refused calls. Each hook is undefined when nothing observes
 * it, so a server without metrics at info level pays nothing per call or
 * per event.
 */
export class Observability {
  /** The Prometheus metrics, when on. */
  readonly metrics: ServerMetrics | undefined;
  /** The gRPC adapter's call observer: grpc_server_* metrics and per-call debug lines; undefined when neither is on. */
  readonly calls: CallObserver | undefined;
  /** The gRPC adapter's sink: failures of the server at error level, with their cause, method, peer and principal. */
  readonly internalErrors: InternalErrorSink;
  /** The auth interceptor's log: a warn line per refused call, counted in grpc_server_handled_total when metrics are on. */
  readonly refusedCalls: AuthLog;
  /** The event writer's observer (refusals before the store, redactions), when metrics are on. */
  readonly eventOutcomes: EventOutcomeObserver | undefined;

  constructor(options: ObservabilityOptions) {
    const { logger } = options;
    const metrics = options.metrics === undefined ? undefined : new ServerMetrics(options.metrics);
    this.metrics = metrics;
    this.calls = combineCallObservers(metrics?.calls, createCallLog(logger));
    this.internalErrors = createInternalErrorSink(logger);
    this.refusedCalls = (entry) => {
      logger.warn(entry, "call refused");
      metrics?.callRefused(entry);
    };
    this.eventOutcomes = metrics?.events.writer;
  }

  /** The store with its appends counted (events written and duplicate by type, refusals) when metrics are on; the store itself otherwise. */
  observeStore(store: LogStore): LogStore {
    return this.metrics === undefined ? store : this.metrics.events.observe(store);
  }
}
