import { readFile } from "node:fs/promises";
import type { ServerConfig } from "../../config.js";
import type { StoreDeps } from "../store.js";
import { JetStreamStore } from "./jetstream-store.js";
import type { JetStreamStoreChoice } from "./store-choice.js";

/** Opens the server's JetStream store from its config, logging what it found. */
export async function openJetStreamStore(config: ServerConfig & { store: JetStreamStoreChoice }, deps: StoreDeps): Promise<JetStreamStore> {
  const { logger } = deps;
  const choice = config.store;
  const token = config.natsTokenFile === undefined ? undefined : (await readFile(config.natsTokenFile, "utf8")).trim();
  const { store, report } = await JetStreamStore.open({
    servers: choice.servers,
    token,
    tlsCaFile: config.natsCaFile,
    stream: choice.stream,
    subject: choice.subject,
    replicas: choice.replicas,
    clock: deps.clock,
    queueBytesMax: config.queueBytesMax,
    onRetry: (err, attempt) => logger.warn({ err: (err as Error).message, attempt }, "JetStream publish not acked yet; trying again with the same message id"),
    onReadRetry: (what, err, attempt) => logger.warn({ what, err: (err as Error)?.message ?? String(err), attempt }, "JetStream read not answered yet (a leader change or a lost server); trying again"),
  });
  if (!report.created && report.replicas !== choice.replicas) {
    logger.warn({ stream: choice.stream, replicas: report.replicas, asked: choice.replicas }, "the stream exists with another replica count; its own setting applies");
  }
  logger.info({ servers: choice.servers, stream: choice.stream, subject: choice.subject, replicas: report.replicas, created: report.created, lastSeq: report.lastSeq }, "JetStream log opened");
  return store;
}
