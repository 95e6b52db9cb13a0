import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { StoreDeps } from "../store.js";
import { divergenceMessage } from "./divergence.js";
import { JetStreamStore } from "./jetstream-store.js";
import { versionWarning } from "./server-version.js";
import type { JetStreamStoreChoice } from "./store-choice.js";

/** The witness file of a front end on `stream`: beside its log path (the folder a front end keeps its own files in). */
export function witnessPathOf(logPath: string, stream: string): string {
  return join(dirname(logPath), `jetstream-${stream}.witness`);
}

/** What a JetStream front end is opened with (the server's config has these members: its option table rows). */
export interface JetStreamStoreConfig {
  /** The stream and the NATS servers (--store nats://..., --nats-stream, --nats-subject, --nats-replicas). */
  readonly store: JetStreamStoreChoice;
  /** File holding the token the NATS servers require (--nats-token-file). */
  readonly natsTokenFile?: string;
  /** CA (PEM) to reach the NATS servers over TLS (--nats-ca). */
  readonly natsCaFile?: string;
  /** Bytes waiting to be published before appends are refused (--queue-bytes-max). */
  readonly queueBytesMax: number;
  /** Recent records whose event_ids answer retries exactly once (--dedup-window). */
  readonly dedupWindowRecords: number;
  /** The front end's own files (its ack witness) sit in this path's folder (--log-path). */
  readonly logPath: string;
  /** The largest record the server writes, checked against the NATS servers' max payload. */
  readonly limits: { readonly recordBytesMax: number };
}

/**
 * Opens a JetStream front end's store from its config, logging what it
 * found: the nats-server version (with a warning when it is older than the
 * docs recommend), a stream whose replicas differ from --nats-replicas, and
 * records larger than one message may hold.
 */
export async function openJetStreamStore(config: JetStreamStoreConfig, deps: StoreDeps): Promise<JetStreamStore> {
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
    dedupWindowRecords: config.dedupWindowRecords,
    observer: deps.observer,
    // Beside the front end's own files: the newest record it acked, which the stream must keep holding.
    witnessPath: witnessPathOf(config.logPath, choice.stream),
    onOpening: deps.onOpening,
    onDiverged: (d) => {
      deps.observer?.diverged?.("write", false);
      logger.error({ stream: choice.stream, kind: d.kind, seq: d.seq, streamSeq: d.streamSeq }, divergenceMessage(d));
    },
    onReadDivergence: (streamSeq, cause, mended) => {
      deps.observer?.diverged?.("read", mended);
      if (mended) logger.warn({ stream: choice.stream, streamSeq, cause }, "a JetStream read landed on a replica whose copy of the stream diverged from the leader's (off the hash chain): the message was read from the stream leader instead");
      else logger.error({ stream: choice.stream, streamSeq, cause }, "a JetStream read landed on a replica whose copy of the stream diverged from the leader's, and the leader's copy did not mend it: the read ended with UNAVAILABLE");
    },
    onRetry: (err, attempt) => logger.warn({ err: (err as Error).message, attempt }, "JetStream publish not acked yet; trying again with the same message id"),
    onReadRetry: (what, err, attempt) => logger.warn({ what, err: (err as Error)?.message ?? String(err), attempt }, "JetStream read not answered yet (a leader change or a lost server); trying again"),
    onTurnFailure: (err) => logger.warn({ err: (err as Error)?.message ?? String(err) }, "cannot publish JetStream turn notices (_PULSE.turns.<stream>): front ends on this stream race for turns instead"),
    onEmptied: (lastStreamSeq) =>
      logger.warn({ stream: choice.stream, lastStreamSeq }, "the JetStream stream holds no record, though it had messages (purged, or expired by its limits): seqs go on after its last stream sequence, and may be below seqs it held before"),
    onGap: (expectedSeq, foundSeq, streamSeq) =>
      logger.error({ stream: choice.stream, expectedSeq, foundSeq, streamSeq }, "JetStream stream holds records that do not follow on from the ones before: a writer that does not take turns (an older version of this server?) writes to it"),
  });
  const warning = versionWarning(report.serverVersion);
  if (warning !== undefined) logger.warn({ natsServerVersion: report.serverVersion }, warning);
  if (!report.created && report.replicas !== choice.replicas) {
    logger.warn({ stream: choice.stream, replicas: report.replicas, asked: choice.replicas }, "the stream exists with another replica count; its own setting applies");
  }
  // With the defaults (1 MiB records, 1 MiB max_payload) only records within a few hundred bytes of the limit do not fit; a server taking less is worth a warning.
  if (config.limits.recordBytesMax > report.maxPayload) {
    logger.warn(
      { recordBytesMax: config.limits.recordBytesMax, natsMaxPayload: report.maxPayload },
      "--record-bytes-max allows records larger than the NATS servers take in one message (max_payload): such events are refused",
    );
  }
  logger.info(
    {
      servers: choice.servers,
      natsServerVersion: report.serverVersion,
      stream: choice.stream,
      subject: choice.subject,
      replicas: report.replicas,
      created: report.created,
      lastSeq: report.lastSeq,
      windowRecords: report.windowRecords,
      rebuildMs: Math.round(report.rebuildMs),
      ackedSeq: report.acked?.seq,
      messageBytesMax: report.messageBytesMax,
    },
    "JetStream log opened",
  );
  return store;
}
