import * as grpc from "@grpc/grpc-js";
import { pino, type Logger } from "pino";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { systemClock, type Clock } from "./clock.js";
import type { ServerConfig } from "./config.js";
import { EventWriter } from "./events/event-writer.js";
import { adaptImplementation, createServiceDefinition } from "./rpc/grpc-adapter.js";
import { createLearningLogService } from "./service/learning-log-service.js";
import { Appender } from "./store/appender.js";
import type { StoreFileSystem } from "./store/file-system.js";
import type { TrustTrackerClient } from "./trust/client.js";
import { LocalTrustTracker } from "./trust/local-tracker.js";

/** Seams for tests; production uses the defaults. */
export interface ServerSeams {
  /** Server log. Default: pino at the config's level. */
  logger?: Logger;
  /** File system of the store. Default: the real one. */
  fs?: StoreFileSystem;
  /** Clock for timestamps. Default: the system clock. */
  clock?: Clock;
}

/**
 * The running service: a grpc-js server over the appender, with an explicit
 * start and a shutdown in a deliberate order.
 */
export class PulseServer {
  private constructor(
    private readonly grpcServer: grpc.Server,
    private readonly appender: Appender,
    private readonly trust: TrustTrackerClient,
    private readonly config: ServerConfig,
    readonly logger: Logger,
    /** The port actually bound (useful with port 0). */
    readonly port: number,
  ) {}

  /** Opens the log (repairing a torn tail), builds the services and binds. */
  static async start(config: ServerConfig, seams: ServerSeams = {}): Promise<PulseServer> {
    const logger = seams.logger ?? pino({ level: config.logLevel, base: { service: "pulse-learning-log" } });
    const clock = seams.clock ?? systemClock;
    const { appender, recovery } = await Appender.open({
      path: config.logPath,
      fs: seams.fs,
      clock,
      queueBytesMax: config.queueBytesMax,
      dedupWindowRecords: config.dedupWindowRecords,
    });
    if (recovery.tornBytes > 0) {
      logger.warn({ tornBytes: recovery.tornBytes, quarantine: recovery.quarantinePath }, "cut a torn tail off the log (a crash interrupted a write); the bytes are kept in the quarantine file");
    }
    if (recovery.legacy) logger.info({ lastSeq: recovery.lastSeq }, "log written by the original module: seq continues after its line count");
    logger.info({ path: config.logPath, lastSeq: recovery.lastSeq }, "log opened");

    let writer: EventWriter | undefined;
    const trust = new LocalTrustTracker({
      clock,
      audit: async (draft) => Number((await writer!.writeDraft(draft)).seq),
    });
    writer = new EventWriter(
      appender,
      { limits: config.limits, clock, trustMetrics: async (key) => (await trust.getMetrics([key]))[0] },
      config.limits,
    );

    const grpcServer = new grpc.Server({
      "grpc.max_receive_message_length": config.messageBytesMax,
      "grpc.max_send_message_length": config.messageBytesMax,
    });
    const sink = (err: unknown, path: string) => logger.error({ err, path }, "internal error");
    grpcServer.addService(
      createServiceDefinition(LearningLogService),
      adaptImplementation(LearningLogService, createLearningLogService({ writer, trust }), sink),
    );
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(config.address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    logger.info({ address: config.address, port }, "listening");
    return new PulseServer(grpcServer, appender, trust, config, logger, port);
  }

  /**
   * Stops in this order: stop accepting calls and let open ones finish (they
   * wait on the appender, which keeps writing); past the deadline, cancel
   * what is still open; then drain the appender, which fsyncs what it
   * accepted, and close the file. Nothing unwritten is ever acked.
   */
  async shutdown(): Promise<void> {
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
    await this.trust.close();
    await this.appender.close();
    this.logger.info({ lastSeq: this.appender.lastSeq }, "stopped");
  }
}
