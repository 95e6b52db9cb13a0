import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { LearningLogService } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient, type Client } from "../../../src/rpc/client.js";
import { startServer, type TestServer } from "../../helpers/server.js";

/** One way of running the trust tracker behind the service, as the trust suite sees it. */
export interface TrustSetup {
  /** Client of the front server's TrustService. */
  trust: Client<typeof TrustService.method>;
  /** Client of the front server's LearningLogService. */
  log: Client<typeof LearningLogService.method>;
  /** The log the learning log's trust events go to (the front server's). */
  frontLogPath: string;
  /** The log the tracker's audit records go to (the tracker's server). */
  trackerLogPath: string;
  /** The folder client-named trust files land in (the tracker's). */
  trustDir: string;
  /** Stops everything started. */
  stop(): Promise<void>;
}

/** A named arrangement: how to start a {@link TrustSetup} in a folder. */
export interface TrustArrangement {
  name: string;
  start(dir: string, flags?: string[]): Promise<TrustSetup>;
}

function setupOf(front: TestServer, tracker: TestServer, stopAll: () => Promise<void>): TrustSetup {
  const trust = createClient(TrustService, front.address);
  return {
    trust,
    log: front.client,
    frontLogPath: front.logPath,
    trackerLogPath: tracker.logPath,
    trustDir: tracker.config.trustDir,
    async stop() {
      trust.close();
      await stopAll();
    },
  };
}

/**
 * The two arrangements the trust suite runs against: the tracker in process,
 * and a front server started with --trust-tracker pointing at a second
 * server, which the front reaches through the generated gRPC stub.
 */
export const arrangements: readonly TrustArrangement[] = [
  {
    name: "in-process tracker",
    async start(dir, flags = []) {
      const server = await startServer(dir, flags);
      return setupOf(server, server, () => server.stop());
    },
  },
  {
    name: "remote tracker (--trust-tracker)",
    async start(dir, flags = []) {
      const trackerDir = join(dir, "tracker");
      const frontDir = join(dir, "front");
      await mkdir(trackerDir);
      await mkdir(frontDir);
      const tracker = await startServer(trackerDir, flags);
      const front = await startServer(frontDir, ["--trust-tracker", tracker.address]);
      return setupOf(front, tracker, async () => {
        await front.stop();
        await tracker.stop();
      });
    },
  },
];
