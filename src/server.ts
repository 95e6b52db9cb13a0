import { createServer } from "node:net";
import { setDefaultHighWaterMark } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { pino, type Logger } from "pino";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../gen/ts/pulse/trust/v1/trust_pb.js";
import { LogsService } from "../gen/ts/opentelemetry/proto/collector/logs/v1/logs_service_pb.js";
import { systemClock, type Clock } from "./clock.js";
import { parseAddress, type ServerConfig } from "./config.js";
import { createAuthInterceptor } from "./auth/interceptor.js";
import { logTlsClientErrors, serverCredentials } from "./auth/tls.js";
import { ReloadingTokens } from "./auth/reloading-tokens.js";
import { EventWriter } from "./events/event-writer.js";
import { withBatchRequestBytes } from "./ingest/batch-request-bytes.js";
import { IngestPool } from "./ingest/ingest-pool.js";
import { createPiiGuard } from "./guard/pii.js";
import { HEALTH_SERVICE_NAME, HealthService, healthDefinition } from "./ops/health.js";
import { MetricsServer, ServerMetrics } from "./ops/metrics.js";
import { Observability } from "./ops/observability.js";
import { addReflection } from "./ops/reflection.js";
import { StartGate } from "./ops/start-gate.js";
import { adaptImplementation, createServiceDefinition } from "./rpc/grpc-adapter.js";
import { createLearningLogService } from "./service/learning-log-service.js";
import { RunIndex } from "./runs/run-index.js";
import { withCallRuns } from "./runs/call-run.js";
import { RunIndexFile } from "./runs/run-index-file.js";
import { createTrustService } from "./service/trust-service.js";
import { createOtlpLogsService } from "./service/otlp-logs-service.js";
import type { LogStore, StoreDeps } from "./store/store.js";
import { openStore } from "./store/open-store.js";
import type { TrustTrackerClient } from "./trust/client.js";
import { keyMetricsReader, openTrustTracker } from "./trust/open-tracker.js";

/** Seams for tests; production uses the defaults. */
export interface ServerSeams {
  /** Server log. Default: pino at the config's level. */
  logger?: Logger;
  /** Clock for timestamps. Default: the system clock. */
  clock?: Clock;
  /** How long a start waits for its gRPC port to be free, in ms. Default 3,000. */
  addressWaitMs?: number;
  /** Opens the store. Default: the one the config's URL names (stores.ts); tests hold it to see the server while it starts, or open the file store on a faulty file system. */
  openStore?: (config: ServerConfig, deps: StoreDeps) => Promise<LogStore>;
}

/** The gRPC address could not be bound; the message says why in one line. */
export class ListenError extends Error {
  override readonly name = "ListenError";
  constructor(
    readonly address: string,
    /** The errno code, e.g. EADDRINUSE, when there is one. */
    readonly code: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Tries to listen on the address with a plain TCP server and closes it at
 * once: the error a bind would meet (EADDRINUSE...), without grpc-js's own
 * error line on stderr. Undefined when it is free, or for port 0.
 */
async function probeAddress(address: string): Promise<NodeJS.ErrnoException | undefined> {
  const { host, port } = parseAddress(address);
  if (port === 0) return undefined;
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once("error", (err: NodeJS.ErrnoException) => resolve(err));
    probe.listen({ host: host.replace(/^\[(.*)\]$/, "$1"), port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

/**
 * Waits (bounded) for the address to be free: a port still held for a moment
 * at a restart does not fail the start. Throws a ListenError naming the port
 * when it stays in use.
 */
async function awaitFreeAddress(address: string, waitMs: number, logger: Logger): Promise<void> {
  const since = performance.now();
  for (let warned = false; ; warned = true) {
    const err = await probeAddress(address);
    if (err === undefined) return;
    if (err.code !== "EADDRINUSE") throw new ListenError(address, err.code, `cannot listen on ${address}: ${err.message}`, { cause: err });
    if (performance.now() - since >= waitMs) throw new ListenError(address, err.code, `port ${address} is in use (another process is listening on it)`, { cause: err });
    if (!warned) logger.warn({ address, waitMs }, "address in use; waiting for it to be free");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The running service: a grpc-js server over the appender, with an explicit
 * start and a shutdown in a deliberate order.
 */
export class PulseServer {
  private constructor(
    private readonly grpcServer: grpc.Server,
    private readonly appender: LogStore,
    private readonly trust: TrustTrackerClient,
    private readonly config: ServerConfig,
    readonly logger: Logger,
    /** The port actually bound (useful with port 0). */
    readonly port: number,
    private readonly stopping: AbortController,
    private readonly ops: { health: HealthService; metricsServer?: MetricsServer; metrics?: ServerMetrics; runIndexFile: RunIndexFile; tokens?: ReloadingTokens; ingestPool?: IngestPool },
  ) {}

  /**
   * Reads the tokens file again (SIGHUP): the new set replaces the old at
   * once, and open calls whose token it no longer holds end with
   * UNAUTHENTICATED. A file that cannot be used keeps the old set (logged at
   * error). Without --tokens-file there is nothing to reload.
   */
  async reloadTokens(): Promise<void> {
    if (this.ops.tokens === undefined) {
      this.logger.info("SIGHUP: no tokens file to reload (the server runs without --tokens-file)");
      return;
    }
    await this.ops.tokens.reload("SIGHUP");
  }

  /**
   * The last resort for a promise rejection nobody handled (the process's
   * handler calls it once the server runs): a bug, logged with its cause and
   * counted (pulse_unhandled_rejections_total), while the server goes on
   * serving. Every path a client or the disk can reach handles its own
   * failures; this only keeps one missed path from taking the log down.
   */
  reportUnhandledRejection(reason: unknown): void {
    this.logger.error({ err: reason }, "unhandled promise rejection (a bug): logged and counted; the server goes on");
    this.ops.metrics?.unhandledRejection();
  }

  /** The port of the /metrics endpoint, when --metrics-addr is set. */
  get metricsPort(): number | undefined {
    return this.ops.metricsServer?.port;
  }

  /**
   * Binds first, then opens the log (repairing a torn tail; a JetStream front
   * end rebuilds its dedup window and tail) and builds the services. While it
   * opens, the health service says NOT_SERVING and every call ends
   * UNAVAILABLE saying what the start is doing (see start-gate.ts); once the
   * services are built it says SERVING and logs "listening". A start that
   * fails after the bind stops listening and releases what it opened.
   */
  static async start(config: ServerConfig, seams: ServerSeams = {}): Promise<PulseServer> {
    const startedAt = performance.now();
    const logger = seams.logger ?? pino({ level: config.logLevel, base: { service: "pulse-learning-log" } });
    const clock = seams.clock ?? systemClock;
    // Secrets and certificates first: a bad file stops the start before the log is opened.
    const credentials = await serverCredentials(config.tls);
    // Reloaded on SIGHUP (reloadTokens) and when the file changes; counts only in the log, never tokens or names.
    const tokens = config.tokensFile === undefined ? undefined : await ReloadingTokens.open(config.tokensFile, {
      reloaded: (r) => logger.info({ trigger: r.trigger, tokensBefore: r.before, tokens: r.tokens }, "tokens file reloaded"),
      failed: (trigger, err) => logger.error({ trigger, reason: (err as Error).message }, "tokens file not reloaded: it cannot be used; the previous tokens stay in force"),
    });
    if (tokens) logger.info({ tokens: tokens.size }, "bearer tokens required");
    // Metrics and per-call log lines cost nothing when off: no observers are installed.
    // lastSeq is read only by the metrics endpoint, which starts once the store is open.
    const observability = new Observability({ logger, metrics: config.metricsAddress === undefined ? undefined : { lastSeq: (): number => appender.lastSeq } });
    const { metrics } = observability;
    // The ports before anything on disk: a start that cannot listen creates no log folder, file or lock.
    await awaitFreeAddress(config.address, seams.addressWaitMs ?? 3_000, logger);
    if (config.metricsAddress !== undefined) await awaitFreeAddress(config.metricsAddress, 0, logger);

    // Aborted first at shutdown: streams stop taking new batches.
    const stopping = new AbortController();
    // grpc-js request streams are object-mode Readables with the default
    // buffer of 16 decoded messages each (16 batches of up to 4 MiB per
    // stream). Two keeps reading ahead while bounding a stream's memory;
    // the handlers read ahead by a bounded count themselves.
    setDefaultHighWaterMark(true, 2);
    const grpcServer = new grpc.Server({
      interceptors: tokens ? [createAuthInterceptor(tokens, observability.refusedCalls)] : [],
      "grpc.max_receive_message_length": config.messageBytesMax,
      "grpc.max_send_message_length": config.messageBytesMax,
    });
    const sink = observability.internalErrors;
    // The services go behind the start gate: they refuse (UNAVAILABLE, saying what the start does) until they are built.
    const gate = new StartGate("opening the log");
    const learningLog = gate.service(LearningLogService);
    const trustCalls = gate.service(TrustService);
    const otlpLogs = gate.service(LogsService);
    // With ingest workers, batch requests reach the handlers as their wire bytes: the workers decode them.
    const learningLogDefinition = createServiceDefinition(LearningLogService);
    grpcServer.addService(config.ingestWorkers > 0 ? withBatchRequestBytes(LearningLogService, learningLogDefinition) : learningLogDefinition, adaptImplementation(LearningLogService, learningLog.impl, sink, observability.calls));
    grpcServer.addService(createServiceDefinition(TrustService), adaptImplementation(TrustService, trustCalls.impl, sink, observability.calls));
    // OTLP/gRPC logs in, on the same port: any OpenTelemetry SDK or Collector writes events.
    grpcServer.addService(createServiceDefinition(LogsService), adaptImplementation(LogsService, otlpLogs.impl, sink, observability.calls));
    // Operations: standard health checking and reflection, for load balancers and generic gRPC tools.
    // Health says NOT_SERVING ("" and every service) until the services are built.
    const health = new HealthService([LearningLogService.typeName, TrustService.typeName, LogsService.typeName]);
    health.addToServer(grpcServer);
    addReflection(grpcServer, [LearningLogService, TrustService, LogsService], { [HEALTH_SERVICE_NAME]: healthDefinition }, sink);
    // Bound before the log is opened: a load balancer sees NOT_SERVING during a long open, not a refused connection.
    // Checked at the start; a process that took the port since then fails the bind, before anything is opened.
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(config.address, credentials, (err, p) =>
        err ? reject(/EADDRINUSE/.test(err.message) ? new ListenError(config.address, "EADDRINUSE", `port ${config.address} is in use (another process is listening on it)`, { cause: err }) : new ListenError(config.address, undefined, `cannot listen on ${config.address}: ${err.message}`, { cause: err })) : resolve(p),
      ),
    );
    if (config.tls) logTlsClientErrors(grpcServer, logger);
    logger.info({ address: config.address, port }, "bound; not serving until the log is open (health NOT_SERVING, calls UNAVAILABLE)");

    // The store its URL names (the embedded JSONL file by default); nothing above it asks which.
    // Counted (events written and duplicate by type, refusals) when metrics are on.
    // A store that refuses to write (a replicated stream lost acknowledged records) makes the server NOT_SERVING, from then on.
    const refusal: { seen: boolean; health?: HealthService } = { seen: false };
    const storeObserver = {
      ...metrics?.appender,
      diverged: (kind: "write" | "read", mended: boolean) => {
        metrics?.appender.diverged(kind, mended);
        if (kind !== "write") return;
        refusal.seen = true;
        refusal.health?.setAll("NOT_SERVING");
      },
    };
    let appender: LogStore;
    try {
      const open = seams.openStore ?? openStore;
      appender = observability.observeStore(await open(config, { clock, logger, observer: storeObserver, onOpening: (doing) => gate.starting(doing) }));
    } catch (err) {
      // Nothing else is open yet: stop listening (the port is free again) and fail as the open did.
      grpcServer.forceShutdown();
      throw err;
    }
    // What the start opens from here, released in reverse order (the log last) when a later step fails.
    const opened: Array<() => unknown> = [() => appender.close()];
    let trust: TrustTrackerClient;
    let ingestPool: IngestPool | undefined;
    let runIndexFile: RunIndexFile;
    let metricsServer: MetricsServer | undefined;
    try {
      gate.starting("restoring the trust tracker");
      trust = await openTrustTracker(config, appender, clock, logger);
      const openedTrust = trust;
      opened.push(() => openedTrust.close());
      // The run index: restored from its checkpoint, then it reads the log after it (in the background; queries wait for it).
      gate.starting("loading the run index");
      const runIndex = new RunIndex(appender, logger, { idleMs: config.runIdleMs });
      runIndexFile = new RunIndexFile(config.runIndexPath, runIndex, logger);
      await runIndexFile.load(appender);
      runIndex.catchUp().catch((err: unknown) => logger.warn({ err }, "run index: reading the log failed; the next query tries again"));
      runIndexFile.start();
      const startedIndexFile = runIndexFile;
      opened.push(() => startedIndexFile.stop());
      const outcomes = observability.eventOutcomes;
      const writer = new EventWriter(
        appender,
        { limits: config.limits, clock, trustMetrics: keyMetricsReader(trust) },
        config.limits,
        createPiiGuard(config.pii),
        {
          rejected: outcomes?.rejected?.bind(outcomes),
          redacted: outcomes?.redacted?.bind(outcomes),
          written: (entries, results) => runIndex.noteWritten(entries, results),
        },
      );
      if (config.ingestWorkers > 0) {
        const pool = new IngestPool({ workers: config.ingestWorkers, config: { limits: config.limits, pii: config.pii }, logger });
        ingestPool = pool;
        opened.push(() => pool.close());
      }
      if (metrics !== undefined && config.metricsAddress !== undefined) {
        metricsServer = await MetricsServer.start(config.metricsAddress, metrics);
        logger.info({ address: config.metricsAddress, port: metricsServer.port }, "metrics at /metrics");
      }
      // The services are built: calls go to them from now on.
      learningLog.serve(
        createLearningLogService({
          writer,
          trust,
          ingest: { shutdown: stopping.signal, queueBytesMax: config.queueBytesMax, pool: ingestPool },
          log: appender,
          runIndex,
          shutdown: stopping.signal,
          limits: { messageBytesMax: config.messageBytesMax, batchEventsMax: config.limits.batchEventsMax, recordBytesMax: config.limits.recordBytesMax },
          read: {
            shutdown: stopping.signal,
            eventTypeCharsMax: config.limits.eventTypeCharsMax,
            messageBytesTarget: Math.min(1024 * 1024, Math.floor(config.messageBytesMax / 4)),
            onSent: metrics?.readRecordsSent,
          },
        }),
      );
      trustCalls.serve(withCallRuns(TrustService, createTrustService(trust)));
      otlpLogs.serve(createOtlpLogsService({ writer, logRecordsMax: config.limits.batchEventsMax }));
    } catch (err) {
      // Stop listening first (the port is free again), then release what was opened, the log last.
      grpcServer.forceShutdown();
      for (const release of opened.reverse()) await release();
      throw err;
    }
    health.setAll(refusal.seen ? "NOT_SERVING" : "SERVING");
    refusal.health = health;
    logger.info({ address: config.address, port, startMs: Math.round(performance.now() - startedAt) }, "listening");
    return new PulseServer(grpcServer, appender, trust, config, logger, port, stopping, { health, metricsServer, metrics, runIndexFile, tokens, ingestPool });
  }

  /**
   * Stops in this order: tell streams to stop taking batches (they answer
   * what they took, then end with UNAVAILABLE); stop accepting calls and let
   * open ones finish (they wait on the appender, which keeps writing); past
   * the deadline, cancel what is still open; then drain the appender, which
   * fsyncs what it accepted, and close the file. Nothing unwritten is ever acked.
   */
  async shutdown(): Promise<void> {
    // Health first, so load balancers stop sending before we stop accepting.
    this.ops.health.shutdown();
    this.ops.tokens?.close();
    this.stopping.abort();
    const graceful = new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.config.shutdownTimeoutMs);
    });
    if ((await Promise.race([graceful, deadline])) === "timeout") {
      this.logger.warn("shutdown deadline passed; cancelling open calls");
      this.grpcServer.forceShutdown();
    }
    clearTimeout(timer);
    // No call is left to send batches: the ingest workers answer what they hold, then stop.
    await this.ops.ingestPool?.close();
    // The in-process tracker writes its last snapshot here, while the log is still open.
    await this.trust.close();
    // The run index's last checkpoint, while the log is still open: the next start reads nothing again.
    await this.ops.runIndexFile.close();
    await this.appender.close();
    await this.ops.metricsServer?.close();
    this.logger.info({ lastSeq: this.appender.lastSeq }, "stopped");
  }
}
