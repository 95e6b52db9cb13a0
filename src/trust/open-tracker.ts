import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { ServerConfig } from "../config.js";
import type { LogStore } from "../store/store.js";
import { createAuditScreen, createAuditWriter } from "./audit-writer.js";
import type { TrustTrackerClient } from "./client.js";
import { LocalTrustTracker } from "./local-tracker.js";
import { RemoteTrustTracker } from "./remote-tracker.js";
import type { KeyMetrics } from "./tracker.js";
import { checkKey } from "./validation.js";

/**
 * Builds the server's trust tracker from its config: the stub of a remote
 * tracker when `trustTracker` is set, else the in-process tracker, restored
 * (snapshot plus the audit records logged after it) before this resolves, so
 * the server serves only restored state.
 */
export async function openTrustTracker(config: ServerConfig, log: LogStore, clock: Clock, logger: Logger): Promise<TrustTrackerClient> {
  if (config.trustTracker !== undefined) {
    logger.info({ trustTracker: config.trustTracker, tls: config.trustTrackerCa !== undefined }, "using a remote trust tracker");
    const credentials = config.trustTrackerCa === undefined ? undefined : grpc.credentials.createSsl(await readFile(config.trustTrackerCa));
    const token = config.trustTrackerTokenFile === undefined ? undefined : (await readFile(config.trustTrackerTokenFile, "utf8")).trim();
    return new RemoteTrustTracker({ address: config.trustTracker, credentials, metadata: token ? { authorization: `Bearer ${token}` } : undefined });
  }
  const { tracker, restore } = await LocalTrustTracker.open({
    audit: createAuditWriter(log, config.limits.recordBytesMax),
    screen: createAuditScreen(config.pii),
    trustDir: config.trustDir,
    clock,
    durability: {
      stateDir: config.trustStateDir,
      logSeq: () => log.lastSeq,
      records: log.records,
      snapshotChanges: config.trustSnapshotChanges,
      snapshotIntervalMs: config.trustSnapshotIntervalMs,
    },
    onBackgroundError: (err, what) => logger.warn({ err }, `${what} failed; the log still holds every change`),
  });
  if (restore.ignored > 0) {
    logger.warn({ ignored: restore.ignored }, "ignored trust-like records in the log that the tracker did not write (not signed or not in its chain)");
  }
  logger.info({ ...restore, trustDir: config.trustDir, stateDir: config.trustStateDir }, "trust state restored");
  return tracker;
}

/**
 * How the learning log reads one key's metrics (LogBayesianTrustMetrics):
 * the key is checked by the tracker's rules first, so both arrangements
 * answer the same INVALID_ARGUMENT naming `key`.
 */
export function keyMetricsReader(trust: TrustTrackerClient): (key: string) => Promise<KeyMetrics> {
  return async (key) => {
    checkKey(key, "key");
    return (await trust.getMetrics([key]))[0];
  };
}
