import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { resolveConfig, type ServerConfig } from "../../src/config.js";
import { createClient, type Client } from "../../src/rpc/client.js";
import { PulseServer, type ServerSeams } from "../../src/server.js";
import type { StoreFileSystem } from "../../src/store/file/file-system.js";
import { openFileStore } from "../../src/store/file/open-file-store.js";

/** A temporary folder removed by {@link TempDir.remove}. */
export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

/** Creates a fresh temporary folder. */
export async function tempDir(prefix = "pulse-test-"): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A real server on an ephemeral loopback port, with a client. */
export interface TestServer {
  server: PulseServer;
  config: ServerConfig;
  address: string;
  logPath: string;
  client: Client<typeof LearningLogService.method>;
  /** Shuts down the server and closes the client. */
  stop(): Promise<void>;
}

/**
 * Starts the real server on 127.0.0.1:0 over a log in `dir`. `flags` are the
 * command-line flags of `npm start` (so tests exercise the real config path).
 */
export async function startServer(dir: string, flags: string[] = [], seams: ServerSeams = {}): Promise<TestServer> {
  const logPath = join(dir, "pulse_learning_log.jsonl");
  const config = resolveConfig(["--addr", "127.0.0.1:0", "--log-path", logPath, ...flags], {});
  const server = await PulseServer.start(config, { logger: pino({ level: "silent" }), ...seams });
  const address = `127.0.0.1:${server.port}`;
  const client = createClient(LearningLogService, address);
  return {
    server,
    config,
    address,
    logPath,
    client,
    async stop() {
      client.close();
      await server.shutdown();
    },
  };
}

/** Server seams that open the file store on `fs` (a faulty file system of test/helpers/faulty-fs.ts). */
export function onFileSystem(fs: StoreFileSystem): ServerSeams {
  return { openStore: (config, deps) => openFileStore(config, { ...deps, fs }) };
}
