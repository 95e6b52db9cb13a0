import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RefusedCall } from "../auth/interceptor.js";
import { parseAddress } from "../config.js";
import { errnoOf } from "../errors.js";
import type { AppenderObserver, StorageFailure } from "../store/file/appender.js";
import { EventMetrics, type EventMetricsOptions } from "./event-metrics.js";
import { GrpcServerMetrics } from "./grpc-server-metrics.js";

/** Options of {@link ServerMetrics}. */
export interface ServerMetricsOptions extends EventMetricsOptions {
  /** The log's highest durable seq, read at each scrape (pulse_log_last_seq). */
  lastSeq?: () => number;
}

/**
 * The server's Prometheus metrics (prom-client, on a registry of its own so
 * several servers can live in one process): prom-client's default process
 * and Node metrics under their standard names, the gRPC ecosystem's
 * grpc_server_* metrics ({@link GrpcServerMetrics}), events by outcome
 * ({@link EventMetrics}) and the log store's pulse_log_* metrics. Fed by
 * observers the server installs only when metrics are on; served over HTTP
 * by {@link MetricsServer}. Names and meanings are listed in docs/metrics.md.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  /** The gRPC adapter's call observer (adaptImplementation's last argument). */
  readonly calls: GrpcServerMetrics;
  /** Events by outcome: wrap the store with `events.observe(store)`; `events.writer` is the event writer's observer. */
  readonly events: EventMetrics;
  private readonly eventsWritten: Counter;
  private readonly bytesWritten: Counter;
  private readonly batchEvents: Histogram;
  private readonly durableWriteSeconds: Histogram;
  private readonly recordsSent: Counter;
  private readonly storageFailures: Counter<"stage" | "errno">;
  private readonly storeDivergences: Counter<"kind" | "outcome">;
  private readonly unhandledRejections: Counter;

  constructor(options: ServerMetricsOptions = {}) {
    const registers = [this.registry];
    // No prefix: process_cpu_seconds_total, process_resident_memory_bytes, nodejs_eventloop_lag_seconds... as stock dashboards expect.
    collectDefaultMetrics({ register: this.registry });
    this.calls = new GrpcServerMetrics(registers);
    this.events = new EventMetrics(registers, options);
    this.eventsWritten = new Counter({ name: "pulse_log_events_written_total", help: "Records durably appended to the log.", registers });
    this.bytesWritten = new Counter({ name: "pulse_log_bytes_written_total", help: "Bytes durably appended to the log.", registers });
    this.batchEvents = new Histogram({
      name: "pulse_log_commit_batch_events",
      help: "Records per group commit (one write and one fdatasync).",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000],
      registers,
    });
    this.durableWriteSeconds = new Histogram({
      name: "pulse_log_durable_write_seconds",
      help: "Time each group commit took to become durable (its O_DSYNC write), in seconds.",
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.unhandledRejections = new Counter({ name: "pulse_unhandled_rejections_total", help: "Promise rejections nobody handled (bugs), logged and survived; alert on any.", registers });
    this.storageFailures = new Counter({
      name: "pulse_log_storage_failures_total",
      help: "Failed log writes (stage commit: every append not yet durable failed with it) and failed segment rotations, by errno.",
      labelNames: ["stage", "errno"],
      registers,
    });
    this.storeDivergences = new Counter({
      name: "pulse_log_store_divergences_total",
      help: "A replicated store's copies found disagreeing (JetStream): kind write = the stream lost acknowledged records and this server refuses to write (alert on any); kind read = a read landed on a replica off the hash chain (outcome mended: read from the stream leader instead; failed: the read ended with UNAVAILABLE).",
      labelNames: ["kind", "outcome"],
      registers,
    });
    this.recordsSent = new Counter({ name: "pulse_read_records_sent_total", help: "Records handed to ReadEvents streams (each waits for the client's flow control).", registers });
    const lastSeq = options.lastSeq;
    if (lastSeq) {
      new Gauge({
        name: "pulse_log_last_seq",
        help: "Highest durable seq of the log.",
        registers,
        collect() {
          this.set(lastSeq());
        },
      });
    }
  }

  /** The store's observer (StoreDeps.observer): commits and storage failures. */
  readonly appender = {
    commit: (events: number, bytes: number, durableWriteSeconds: number): void => {
      this.eventsWritten.inc(events);
      this.bytesWritten.inc(bytes);
      this.batchEvents.observe(events);
      this.durableWriteSeconds.observe(durableWriteSeconds);
    },
    failed: (failure: StorageFailure): void => {
      this.storageFailures.inc({ stage: failure.stage, errno: errnoOf(failure.err) ?? "unknown" });
    },
    diverged: (kind: "write" | "read", mended: boolean): void => {
      this.storeDivergences.inc({ kind, outcome: kind === "write" ? "refused" : mended ? "mended" : "failed" });
    },
  } satisfies AppenderObserver;

  /** Counts a promise rejection nobody handled (PulseServer.reportUnhandledRejection). */
  readonly unhandledRejection = (): void => {
    this.unhandledRejections.inc();
  };

  /** The read handlers' observer (ReadHandlerOptions.onSent). */
  readonly readRecordsSent = (records: number): void => {
    this.recordsSent.inc(records);
  };

  /** Counts a call the auth interceptor refused (in grpc_server_started_total and grpc_server_handled_total). */
  readonly callRefused = (call: RefusedCall): void => {
    this.calls.refused(call);
  };
}

/**
 * Serves GET /metrics in the Prometheus text format on its own HTTP port.
 * Only that path answers; everything else is 404.
 */
export class MetricsServer {
  private constructor(
    private readonly http: Server,
    /** The port actually bound (useful with port 0). */
    readonly port: number,
  ) {}

  /** Listens on host:port (the config has checked that it is loopback unless --insecure). */
  static async start(address: string, metrics: ServerMetrics): Promise<MetricsServer> {
    const { host, port } = parseAddress(address);
    const http = createServer((req, res) => {
      if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found; metrics are at /metrics\n");
        return;
      }
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${(err as Error).message}\n`),
      );
    });
    http.listen(port, host.replace(/^\[|\]$/g, ""));
    await once(http, "listening");
    return new MetricsServer(http, (http.address() as AddressInfo).port);
  }

  /** Stops listening and closes open connections. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
  }
}
