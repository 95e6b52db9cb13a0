import { status } from "@grpc/grpc-js";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { formatTimestamp, systemClock, type Clock } from "../../clock.js";
import { ServiceError } from "../../errors.js";
import type { AppendEntry, AppendResult, LogStore, RecordSource, StoreObserver } from "../store.js";
import { queuedBytesOf, WriteQueue } from "../write-queue.js";
import { AckWitness, type AckedRecord } from "./ack-witness.js";
import { DivergedError, type Divergence } from "./divergence.js";
import { JetStreamRecordSource } from "./jetstream-reader.js";
import { chainOfHeaders, rangeOfHeaders } from "./record-message.js";
import { hedged, retrying } from "./retry.js";
import { captures, ensureStream } from "./stream-config.js";
import { lastRecordAt, messageGetter, RecentMessages, streamSeqOfRecord, type LastRecord } from "./stream-positions.js";
import { StreamWindow } from "./stream-window.js";
import { StreamWriter, type StreamWriterStats } from "./stream-writer.js";
import { askWitnesses, TurnSignals, turnSubject } from "./turn-signals.js";

/** Messages read back from the stream's end at open, at most, to find its last record past other programs' messages. */
const TAIL_SEARCH_MESSAGES_MAX = 10_000;

/** Options of the {@link JetStreamStore}. Every limit has a default. */
export interface JetStreamStoreOptions {
  /** NATS servers as host:port (any one of the cluster is enough to connect). */
  servers: readonly string[];
  /** Stream name. It is created when missing (file storage, `replicas` copies). */
  stream: string;
  /** The literal subject records are published on; the stream must capture it. */
  subject: string;
  /** Copies of each record, for a stream this store creates (an existing stream keeps its own). Default 1. */
  replicas?: number;
  /** Token the NATS servers require (their `authorization { token }`); none by default. Never logged. */
  token?: string;
  /** CA (PEM file) to reach the NATS servers over TLS; plaintext by default. */
  tlsCaFile?: string;
  /** Clock for record timestamps. Default: the system clock. */
  clock?: Clock;
  /** Bytes of records published but not yet acknowledged before appends are refused or wait. Default 16 MiB. */
  queueBytesMax?: number;
  /** Wait for one publish ack before trying again, in ms. Default 5,000. */
  publishTimeoutMs?: number;
  /**
   * The publish retry horizon: how long an append is tried (a message
   * published again with the same message id through a leader election or
   * a lost server, or built again after another front end took its turn)
   * before it fails with UNAVAILABLE, in ms. An existing stream's duplicate
   * window must be at least this long. Default 30,000.
   */
  publishRetryMs?: number;
  /** JetStream's duplicate window of a stream this store creates, in ms (whole messages published again within it are stored once). Default 120,000. */
  duplicateWindowMs?: number;
  /** How many of the stream's last records' event_ids each front end remembers to answer retries exactly once. Default 100,000. */
  dedupWindowRecords?: number;
  /** Most bytes of records in one message. Default: the servers' max_payload less 1 KiB for headers. */
  messageBytesMax?: number;
  /** Messages of one group commit published before the first is acked (each chained on the one before). Default 4. */
  messagesInFlightMax?: number;
  /** Told about every stored message and every failed commit (metrics). */
  observer?: StoreObserver;
  /** Told once when a turn notice cannot be sent (no permission to publish on `_PULSE.turns.<stream>`): front ends then only race for turns. */
  onTurnFailure?: (err: unknown) => void;
  /** Told when the stream holds no record but had messages (purged, or expired by max_age): seqs go on after its last stream sequence, not its last seq. */
  onEmptied?: (lastStreamSeq: number) => void;
  /** Told when the stream's records do not follow on from each other (a writer that does not take turns, such as an older version of this server). */
  onGap?: (expectedSeq: number, foundSeq: number, streamSeq: number) => void;
  /** Connecting to the servers at open: give up after this long, in ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** Record timestamps may run this far out of seq order across front ends, in ms (see the reader). Default 2,000. */
  timeSkewMs?: number;
  /** Told about every publish that is tried again (server log). */
  onRetry?: (err: unknown, attempt: number) => void;
  /**
   * How long a read, or a request of a catch-up on the write path (stream
   * info, message gets), keeps trying through a leader change or a lost
   * server before it fails with UNAVAILABLE, in ms. Default 60,000.
   */
  readRetryMs?: number;
  /** How often the stream's end is looked at while anyone follows it, in ms (see onCommit). Default 5,000. */
  watchPollMs?: number;
  /** Told about every request of a read, or of the commit watcher, that failed and is tried again (server log). */
  onReadRetry?: (what: string, err: unknown, attempt: number) => void;
  /**
   * The front end's witness file: the newest record acked on the stream,
   * fsynced before every ack (see ack-witness.ts). Without it the witness
   * is kept in memory only, and a restarted front end learns it from the
   * others alone.
   */
  witnessPath?: string;
  /** How long a starting front end waits for the other front ends' witnesses, in ms. Default 500. */
  witnessWaitMs?: number;
  /** Told once when the stream is found to have lost acknowledged records: the store refuses every append from then on (error log, metric). */
  onDiverged?: (d: Divergence) => void;
  /** Told about every message a read found off the hash chain (a replica that diverged), and whether the stream leader's copy mended it (server log, metric). */
  onReadDivergence?: (streamSeq: number, cause: string, mended: boolean) => void;
  /** Rebuilding the dedup window and the tail at open must end within this long, in ms, or the open fails. Default 120,000. */
  rebuildTimeoutMs?: number;
  /** Told, in words, what the open is doing at each of its steps (a starting server says it to the calls it refuses meanwhile). */
  onOpening?: (doing: string) => void;
}

/** What opening the stream found. */
export interface JetStreamOpenReport {
  /** True when this store created the stream. */
  created: boolean;
  /** The seq of the stream's last record (0 for a new stream; its last stream sequence when it was emptied: see onEmptied). */
  lastSeq: number;
  /** Copies JetStream keeps of each record (the stream's own setting). */
  replicas: number;
  /** The version of the nats-server this front end is connected to, as it tells it. */
  serverVersion: string | undefined;
  /** Records read from the stream's tail into the dedup window. */
  windowRecords: number;
  /** Most bytes of records one message carries (the servers' max_payload, less room for headers). */
  messageBytesMax: number;
  /** The largest message the servers take (their max_payload), in bytes. */
  maxPayload: number;
  /** How long rebuilding the dedup window and the tail took, in ms. */
  rebuildMs: number;
  /** The newest record acked as the witness file and the other front ends told it at open (undefined: none). */
  acked: AckedRecord | undefined;
}

/** Room left in a message for its headers (message id, expectations, seq range). */
const HEADER_BYTES_MAX = 1024;

/**
 * The log store on NATS JetStream, any number of front ends on one stream.
 * Each group commit is one message on the stream's subject: its records as
 * JSONL lines with their seqs, and headers naming the seq range (see
 * record-message.ts). Front ends take turns with JetStream's expected last
 * sequence and catch up on what the others wrote when they lose a turn
 * (stream-writer.ts), so seqs are dense and strictly increasing across all
 * of them. An append is acked to the caller only after JetStream's publish
 * ack (on a replicated stream, after a quorum of its servers stored it).
 * Retries are answered exactly once from each front end's window of the
 * stream's last event_ids (`dedupWindowRecords`), rebuilt from the stream at
 * open and kept up with every catch-up.
 *
 * Records carry the file store's hash chain across messages and front ends,
 * so that a history other than the acked one shows: reads check every
 * message against the one before and against the stream leader's copy at
 * their ends (jetstream-reader.ts), and each front end keeps a durable
 * witness of the newest record acked (ack-witness.ts), which the stream must
 * hold at open, before every read and whenever it is read; when it does not
 * (nats-server 2.9.10 can lose acked records after a paused leader is
 * killed), the store refuses every append and read with UNAVAILABLE naming
 * what was lost (divergence.ts) instead of acking a seq twice.
 */
export class JetStreamStore implements LogStore {
  private readonly clock: Clock;
  private readonly queue: WriteQueue;
  private seq = 0;
  private lastMicros = 0;
  private readonly commitListeners = new Set<(lastSeq: number) => void>();
  private readonly readRetryMs: number;
  /** Bumped when watching starts or stops: a watch loop of an older generation ends. */
  private watchGeneration = 0;
  /** Aborts the current generation's waits. */
  private watchAbort: AbortController | undefined;
  private watcher: ConsumerMessages | undefined;
  /** The stream sequence of the last message the current watcher delivered (or the one before its first). */
  private watcherSeq = 0;
  /** The stream's last sequence at the previous look, when the watcher had not reached it then. */
  private watcherBehind: number | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private writer!: StreamWriter;
  private readonly source: JetStreamRecordSource;
  /** The latest messages' seq ranges, so that reads near the end start without a search. */
  private readonly recent = new RecentMessages();
  /** Where ReadEvents reads records from. */
  readonly records: RecordSource;
  /** Every message's records carry the file store's hash chain, and each message names the hash it follows on. */
  readonly integrity = "hash-chain";
  private witness!: AckWitness;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: JetStreamStoreOptions,
    /** The stream answers direct gets (its allow_direct). */
    private readonly directGets: boolean,
  ) {
    this.clock = options.clock ?? systemClock;
    this.queue = new WriteQueue(options.queueBytesMax ?? 16 * 1024 * 1024);
    this.readRetryMs = options.readRetryMs ?? 60_000;
    this.source = new JetStreamRecordSource(js, jsm, options.stream, {
      timeSkewMs: options.timeSkewMs,
      onLastSeq: (s) => this.advance(s),
      retryMs: this.readRetryMs,
      // One JetStream request (its timeout) and a second for the answer's way back.
      deadlineMarginMs: (options.publishTimeoutMs ?? 5000) + 1000,
      onRetry: options.onReadRetry,
      directGets,
      recent: this.recent,
      checkAcked: (deadline) => this.checkAcked(undefined, deadline),
      onDivergence: options.onReadDivergence,
    });
    this.records = this.source;
  }

  /**
   * Connects, makes the stream when it is missing (or checks the one there:
   * see stream-config.ts), reads the stream's tail into the dedup window,
   * and returns the store.
   */
  static async open(options: JetStreamStoreOptions): Promise<{ store: JetStreamStore; report: JetStreamOpenReport }> {
    const stream = `JetStream stream ${options.stream}`;
    options.onOpening?.(`connecting to the NATS servers of ${stream}`);
    const nc = await connect({
      servers: [...options.servers],
      timeout: options.connectTimeoutMs ?? 10_000,
      // Keep trying through a lost server for as long as the process lives: publishes wait in the client meanwhile.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      name: "pulse-learning-log",
      token: options.token,
      tls: options.tlsCaFile === undefined ? undefined : { caFile: options.tlsCaFile },
    });
    try {
      const publishTimeoutMs = options.publishTimeoutMs ?? 5000;
      const publishRetryMs = options.publishRetryMs ?? 30_000;
      // A server that starts during an election (or with a JetStream server just lost) waits for it, as a publish would.
      const retry = { ms: publishRetryMs, onRetry: (err: unknown, n: number) => options.onReadRetry?.("stream at open", err, n) };
      options.onOpening?.(`checking ${stream}`);
      const jsm = await retrying(() => jetstreamManager(nc, { timeout: publishTimeoutMs }), retry);
      const found = await ensureStream(
        jsm,
        { stream: options.stream, subject: options.subject, replicas: options.replicas ?? 1, duplicateWindowMs: options.duplicateWindowMs ?? 120_000, retryHorizonMs: publishRetryMs },
        retry,
      );
      const store = new JetStreamStore(nc, jetstream(nc, { timeout: publishTimeoutMs }), jsm, options, found.info.config.allow_direct === true);
      const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
      const messageBytesMax = Math.min(options.messageBytesMax ?? Number.POSITIVE_INFINITY, maxPayload - HEADER_BYTES_MAX);
      store.witness = await AckWitness.open(options.witnessPath, options.stream);
      // A front end without a witness of its own (new, or its file lost) learns the others' before it writes.
      options.onOpening?.(`asking the other front ends of ${stream} for the newest records they acked`);
      const told = captures(found.info, turnSubject(options.stream)) ? undefined : await askWitnesses(nc, turnSubject(options.stream), options.witnessWaitMs ?? 500);
      if (told !== undefined) store.witness.learn(told);
      const started = performance.now();
      const rebuildTimeoutMs = options.rebuildTimeoutMs ?? 120_000;
      options.onOpening?.(`rebuilding the dedup window of ${stream} from its last ${(options.dedupWindowRecords ?? 100_000).toLocaleString("en-US")} records, and its tail`);
      let timer: NodeJS.Timeout | undefined;
      const windowRecords = await Promise.race([
        store.start(found.info, messageBytesMax),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`rebuilding the dedup window and the tail of JetStream stream ${options.stream} took longer than ${rebuildTimeoutMs} ms`)), rebuildTimeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      const rebuildMs = performance.now() - started;
      return {
        store,
        report: { created: found.created, lastSeq: store.seq, replicas: found.replicas, serverVersion: nc.info?.version, windowRecords, messageBytesMax, maxPayload, rebuildMs, acked: store.witness.acked },
      };
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  /** Finds the stream's last record, reads the window's records from the tail, and starts the writer there. Returns the records read. */
  private async start(info: StreamInfo, messageBytesMax: number): Promise<number> {
    const { stream, onReadRetry } = this.options;
    const first = Math.max(1, info.state.first_seq);
    const last = info.state.last_seq;
    const get = messageGetter(this.jsm, stream, { direct: this.directGets, retryMs: this.readRetryMs, onRetry: (err, n) => onReadRetry?.("message get", err, n) });
    // The tail from the stream's leader: a replica may hold another history, or lack its end.
    const leaderGet = messageGetter(this.jsm, stream, { direct: false, retryMs: this.readRetryMs, onRetry: (err, n) => onReadRetry?.("leader message get", err, n) });
    let end: LastRecord | undefined;
    if (last >= first) {
      end = await lastRecordAt(last, first, leaderGet, TAIL_SEARCH_MESSAGES_MAX);
      if (end === undefined && last - first + 1 > TAIL_SEARCH_MESSAGES_MAX) {
        throw new Error(`the last ${TAIL_SEARCH_MESSAGES_MAX} messages of JetStream stream ${stream} hold no record: is another program publishing on ${this.options.subject}?`);
      }
    }
    const capacity = this.options.dedupWindowRecords ?? 100_000;
    const window = new StreamWindow(capacity);
    let windowRecords = 0;
    if (end !== undefined && capacity > 0) {
      const from = await streamSeqOfRecord(Math.max(1, end.recordSeq - capacity + 1), first, end.streamSeq, get);
      const cursor = this.source.scan(from, last, undefined);
      try {
        for await (const batch of cursor.batches()) {
          window.addRecords(batch);
          windowRecords += batch.length;
        }
      } finally {
        await cursor.close();
      }
    }
    // A stream whose messages were all removed (purged, or expired by its limits) no longer says its last seq: the new ones
    // start after its last stream sequence, which is at most the last seq when every message held a record.
    const emptied = end === undefined && last > 0;
    if (emptied) this.options.onEmptied?.(last);
    const recordSeq = end?.recordSeq ?? last;
    this.seq = recordSeq;
    this.lastMicros = 0;
    this.writer = new StreamWriter(
      {
        js: this.js,
        jsm: this.jsm,
        get,
        scan: (a, b, prevHash) => this.source.scan(a, b, prevHash),
        // Turn notices go on a core subject no stream should store: a stream that captures it (a ">" subject, say) would take them for other writers' messages.
        turns: captures(info, turnSubject(stream))
          ? undefined
          : (writer, onNotice) => new TurnSignals(this.nc, turnSubject(stream), writer, onNotice, this.options.onTurnFailure, () => this.witness.acked),
        window,
        tail: { streamSeq: last, recordSeq, hash: end?.hash ?? "" },
        witness: this.witness,
        onDiverged: this.options.onDiverged,
        leaderGet,
        onReadDivergence: this.options.onReadDivergence,
        onCommitted: (s) => this.advance(s),
        onMessage: (streamSeq, seqs) => this.recent.add(streamSeq, seqs),
        observer: this.options.observer,
      },
      {
        stream,
        subject: this.options.subject,
        publishTimeoutMs: this.options.publishTimeoutMs ?? 5000,
        publishRetryMs: this.options.publishRetryMs ?? 30_000,
        readRetryMs: this.readRetryMs,
        messageBytesMax,
        messagesInFlightMax: this.options.messagesInFlightMax ?? 4,
        onRetry: this.options.onRetry,
        onReadRetry: this.options.onReadRetry,
        onGap: this.options.onGap,
      },
    );
    // The stream's end must hold what was acked before this front end writes after it; when it does not, the
    // front end opens refusing every append (told through onDiverged), and reads say why.
    await this.checkAcked(end).catch((err: unknown) => {
      if (!(err instanceof DivergedError)) throw err;
    });
    return windowRecords;
  }

  /** Why this front end refuses to write (the stream lost acknowledged records), or undefined while it writes. */
  get diverged(): Divergence | undefined {
    return this.writer?.diverged;
  }

  /**
   * Checks that the stream's leader holds the newest record acked (the
   * witness): its end is not before it, and the message at its stream
   * sequence holds it with the acked hash. Otherwise the store refuses to
   * write from now on, and this rejects with UNAVAILABLE saying what was
   * lost. Before every read and at open (`end`: the stream's end just read;
   * `deadline`: the leader is asked until then at most, Date.now() ms).
   */
  private async checkAcked(end?: LastRecord, deadline?: number): Promise<void> {
    const known = this.writer?.diverged;
    if (known !== undefined) throw new DivergedError(known);
    let d = await this.lostAcked(end, deadline);
    if (d === undefined) return;
    // Once more after a pause, from the leader: one just elected may not answer yet for what it has not applied; a loss is for good.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    d = await this.lostAcked(undefined, deadline);
    if (d === undefined) return;
    this.writer.refuse(d);
    throw new DivergedError(d);
  }

  /** What the stream's leader lacks of the witness, if anything (see {@link checkAcked}). */
  private async lostAcked(end: LastRecord | undefined, deadline?: number): Promise<Divergence | undefined> {
    const acked = this.witness?.acked;
    if (acked === undefined) return undefined;
    const { stream, onReadRetry } = this.options;
    let d: Divergence | undefined;
    if (end !== undefined && end.recordSeq < acked.seq) {
      d = { stream, kind: "behind", seq: acked.seq, streamSeq: acked.streamSeq, found: `the stream ends with seq ${end.recordSeq} (stream sequence ${end.streamSeq})`, cause: "a replica that lacks acked messages leads the stream" };
    } else {
      const leaderGet = messageGetter(this.jsm, stream, { direct: false, retryMs: this.readRetryMs, onRetry: (err, n) => onReadRetry?.("leader message get", err, n) });
      const m = await leaderGet(acked.streamSeq, deadline);
      const range = m === null ? undefined : rangeOfHeaders(m.header);
      const link = m === null ? undefined : chainOfHeaders(m.header);
      if (m === null) {
        d = { stream, kind: "behind", seq: acked.seq, streamSeq: acked.streamSeq, found: "the stream leader has no message there", cause: "a replica that lacks acked messages leads the stream" };
      } else if (range?.last !== acked.seq || link?.last !== acked.hash) {
        d = {
          stream,
          kind: "differs",
          seq: acked.seq,
          streamSeq: acked.streamSeq,
          found: `the message there holds ${range === undefined ? "no records of this service" : `seqs ${range.first}-${range.last}`} with another hash`,
          cause: "the stream holds another history than the one that was acked (a replica whose copy diverged leads the stream)",
        };
      }
    }
    return d;
  }

  /** The highest seq this front end knows to be stored (its own acks, what it caught up on, and the stream's end when it last looked). */
  get lastSeq(): number {
    return this.seq;
  }

  /** What the writer did: messages stored, races lost to other front ends, catch-ups, republished messages. */
  get writerStats(): StreamWriterStats {
    return this.writer.stats;
  }

  /**
   * Calls `listener(lastSeq)` whenever the stream grows, by this front end's
   * writes or any other's: while anyone listens, a headers-only ordered
   * consumer watches the stream's end, and the stream's end is also looked
   * at every `watchPollMs` (a watcher whose server was lost delivers nothing
   * and is not told; it is then replaced). Returns the unsubscribe function.
   */
  onCommit(listener: (lastSeq: number) => void): () => void {
    this.commitListeners.add(listener);
    if (this.commitListeners.size === 1) this.startWatching();
    return () => {
      this.commitListeners.delete(listener);
      if (this.commitListeners.size === 0) this.unwatch();
    };
  }

  /**
   * Appends entries as consecutive records and resolves once JetStream
   * acked the messages holding them, in order of entries (one call's records
   * may span two messages, stored one after the other). A client event_id
   * already stored (in the window) or pending here is answered with the
   * original record and not written again.
   */
  async append(entries: readonly AppendEntry[], options: { wait?: boolean } = {}): Promise<AppendResult[]> {
    if (this.queue.isClosed) throw new ServiceError(status.UNAVAILABLE, "server is shutting down; nothing was written");
    if (entries.length === 0) return [];
    const bytes = queuedBytesOf(entries);
    await this.queue.admit(bytes, options.wait);
    try {
      // One timestamp per append call, never going back in time on this front end.
      const micros = Math.max(this.clock.nowMicros(), this.lastMicros);
      this.lastMicros = micros;
      return await this.writer.append(entries, formatTimestamp(micros));
    } finally {
      this.queue.release(bytes);
    }
  }

  /** Waits for the appends accepted (stored or failed), then closes the connection. Later appends get UNAVAILABLE. */
  async close(): Promise<void> {
    this.queue.close();
    await this.writer.drained();
    this.writer.close();
    this.unwatch();
    await this.witness.close();
    // drain() flushes what was published and lets subscriptions finish.
    await this.nc.drain().catch(() => this.nc.close());
  }

  /** Raises lastSeq and tells the listeners. */
  private advance(seq: number): void {
    if (seq <= this.seq) return;
    this.seq = seq;
    for (const listener of this.commitListeners) listener(seq);
  }

  private startWatching(): void {
    const generation = ++this.watchGeneration;
    this.watchAbort?.abort();
    const abort = (this.watchAbort = new AbortController());
    void this.watch(generation, abort.signal);
    const pollMs = this.options.watchPollMs ?? 5000;
    clearInterval(this.pollTimer);
    this.pollTimer = setInterval(() => void this.look(generation), pollMs);
    this.pollTimer.unref();
  }

  /**
   * Follows the stream's end with a headers-only ordered consumer (what
   * other front ends write), making a new one whenever it ends or fails,
   * for as long as anyone listens.
   */
  private async watch(generation: number, signal: AbortSignal): Promise<void> {
    const { stream } = this.options;
    for (let failures = 0; generation === this.watchGeneration && !this.queue.isClosed; ) {
      let messages: ConsumerMessages | undefined;
      try {
        // From the message after the last one this front end knows of (stored, caught up on, or watched).
        const from = Math.max(this.watcherSeq, this.writer.streamTail.streamSeq) + 1;
        const consumer = await hedged(() => this.js.consumers.get(stream, { deliver_policy: "by_start_sequence", opt_start_seq: from, headers_only: true }), {
          ms: this.readRetryMs,
          hedgeMs: 1000,
          inFlightMax: 3,
          signal,
          onRetry: (err, n) => this.options.onReadRetry?.("commit watcher create", err, n),
          discard: (c) => void c.delete().catch(() => undefined),
        });
        messages = await consumer.consume({ max_messages: 1000, expires: 10_000 });
        if (generation !== this.watchGeneration || this.queue.isClosed) {
          // Nobody listens any more, or another watcher started meanwhile.
          messages.stop();
          return;
        }
        this.watcher = messages;
        this.watcherSeq = from - 1;
        this.watcherBehind = undefined;
        for await (const m of messages) {
          this.watcherSeq = m.seq;
          failures = 0;
          // A group commit names its last seq in a header (headers are all this consumer gets); other messages tell nothing.
          const range = rangeOfHeaders(m.headers);
          this.recent.add(m.seq, range ?? "unknown");
          if (range !== undefined) this.advance(range.last);
        }
      } catch (err) {
        failures++;
        if (generation === this.watchGeneration) this.options.onReadRetry?.("commit watcher", err, failures);
      } finally {
        if (this.watcher === messages) this.watcher = undefined;
      }
      // Ended (replaced after a stall, or its server lost) or failed: a new one after a pause.
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(100 * 2 ** failures, 5000));
        timer.unref();
        signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  /**
   * A look at the stream's end while anyone listens: tells the listeners (so
   * followers go on even without a working watcher) and stops a watcher that
   * did not deliver, since the last look, what was stored before it.
   */
  private async look(generation: number): Promise<void> {
    let last: number;
    let end: LastRecord | undefined;
    try {
      const { state } = await this.jsm.streams.info(this.options.stream);
      last = state.last_seq;
      const get = messageGetter(this.jsm, this.options.stream, { direct: this.directGets, retryMs: 0 });
      end = last > this.watcherSeq ? await lastRecordAt(last, Math.max(state.first_seq, this.watcherSeq + 1), get) : undefined;
    } catch {
      return; // an election: the next look, or the watcher, tells
    }
    if (generation !== this.watchGeneration) return;
    if (this.watcher !== undefined && this.watcherBehind !== undefined && this.watcherSeq < this.watcherBehind) {
      this.options.onReadRetry?.("commit watcher", new Error(`no message up to seq ${this.watcherBehind} since the last look`), 1);
      this.watcher.stop();
    }
    this.watcherBehind = last > this.watcherSeq ? last : undefined;
    if (end !== undefined) this.advance(end.recordSeq);
  }

  private unwatch(): void {
    this.watchGeneration++;
    this.watchAbort?.abort();
    this.watchAbort = undefined;
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    const watcher = this.watcher;
    this.watcher = undefined;
    // stop() ends the subscription; the for-await in watch() then ends by itself.
    watcher?.stop();
  }
}
