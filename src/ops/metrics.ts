import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { status as grpcStatus } from "@grpc/grpc-js";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { parseAddress } from "../config.js";
import type { CallObserver } from "../rpc/grpc-adapter.js";
import { errnoOf } from "../errors.js";
import type { AppenderObserver, StorageFailure } from "../store/appender.js";

const CODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(grpcStatus).filter(([, v]) => typeof v === "number").map(([k, v]) => [v as number, k]));

/** "/pulse.learninglog.v1.LearningLogService/LogEvent" -> ["pulse.learninglog.v1.LearningLogService", "LogEvent"]. */
function splitPath(path: string): [string, string] {
  const i = path.lastIndexOf("/");
  return [path.slice(1, i), path.slice(i + 1)];
}

/**
 * The server's Prometheus metrics (prom-client, on a registry of its own so
 * several servers can live in one process). Fed by the appender's commit
 * observer and the gRPC adapter's call observer; served over HTTP by
 * {@link MetricsServer}. Names and meanings are listed in docs/operations.md.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly eventsWritten: Counter;
  private readonly bytesWritten: Counter;
  private readonly batchEvents: Histogram;
  private readonly durableWriteSeconds: Histogram;
  private readonly handled: Counter<"service" | "method" | "code">;
  private readonly streamsActive: Gauge<"service" | "method">;
  private readonly streamsStarted: Counter<"service" | "method">;
  private readonly recordsSent: Counter;
  private readonly storageFailures: Counter<"stage" | "errno">;
  private readonly unhandledRejections: Counter;

  constructor(options: { lastSeq?: () => number } = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "pulse_" });
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
    this.handled = new Counter({
      name: "pulse_rpc_handled_total",
      help: "RPCs completed, by service, method and gRPC status code name (code != OK are errors).",
      labelNames: ["service", "method", "code"],
      registers,
    });
    this.unhandledRejections = new Counter({ name: "pulse_unhandled_rejections_total", help: "Promise rejections nobody handled (bugs), logged and survived; alert on any.", registers });
    this.storageFailures = new Counter({
      name: "pulse_log_storage_failures_total",
      help: "Failed log writes (stage commit: every append not yet durable failed with it) and failed segment rotations, by errno.",
      labelNames: ["stage", "errno"],
      registers,
    });
    this.streamsActive = new Gauge({ name: "pulse_rpc_streams_active", help: "Streaming RPCs open now.", labelNames: ["service", "method"], registers });
    this.streamsStarted = new Counter({ name: "pulse_rpc_streams_started_total", help: "Streaming RPCs started.", labelNames: ["service", "method"], registers });
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

  /** The Appender's observer (AppenderOptions.observer). */
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
  } satisfies AppenderObserver;

  /** Counts a promise rejection nobody handled (PulseServer.reportUnhandledRejection). */
  readonly unhandledRejection = (): void => {
    this.unhandledRejections.inc();
  };

  /** The read handlers' observer (ReadHandlerOptions.onSent). */
  readonly readRecordsSent = (records: number): void => {
    this.recordsSent.inc(records);
  };

  /** The gRPC adapter's observer (adaptImplementation's last argument). */
  readonly calls: CallObserver = {
    started: (path, kind) => {
      if (kind === "unary") return;
      const [service, method] = splitPath(path);
      this.streamsStarted.inc({ service, method });
      this.streamsActive.inc({ service, method });
    },
    ended: (path, kind, code) => {
      const [service, method] = splitPath(path);
      this.handled.inc({ service, method, code: CODE_NAMES[code] ?? String(code) });
      if (kind !== "unary") this.streamsActive.dec({ service, method });
    },
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
