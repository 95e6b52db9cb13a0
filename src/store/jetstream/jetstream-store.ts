import { status } from "@grpc/grpc-js";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  JetStreamApiError,
  jetstreamManager,
  JetStreamApiCodes,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
  type StoredMsg,
} from "@nats-io/jetstream";
import { formatTimestamp, parseTimestamp, systemClock, type Clock } from "../../clock.js";
import { ServiceError } from "../../errors.js";
import type { AppendEntry, AppendResult, LogStore, RecordSource } from "../store.js";
import { JetStreamRecordSource } from "./jetstream-reader.js";
import { hedged, isPassing, retrying, type RetryOptions } from "./retry.js";
import { queuedBytesOf, WriteQueue } from "../write-queue.js";
import { StoredRecord, storedMessageOf } from "./stored-record.js";

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
   * How long a record's publish is retried, with the same message id, through
   * a leader election or a lost server, before its append fails, in ms.
   * Default 30,000.
   */
  publishRetryMs?: number;
  /** JetStream's duplicate window of a stream this store creates, in ms: retries with the same event_id are answered exactly once within it. Default 120,000. */
  duplicateWindowMs?: number;
  /** Connecting to the servers at open: give up after this long, in ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** Record timestamps may run this far out of seq order across front ends, in ms (see the reader). Default 2,000. */
  timeSkewMs?: number;
  /** Told about every publish that is tried again (server log). */
  onRetry?: (err: unknown, attempt: number) => void;
  /**
   * How long a read, or a lookup on the write path (a duplicate's original
   * timestamp), keeps trying through a leader change or a lost server before
   * it fails with UNAVAILABLE, in ms. Default 60,000.
   */
  readRetryMs?: number;
  /** How often the stream's end is looked at while anyone follows it, in ms (see onCommit). Default 5,000. */
  watchPollMs?: number;
  /** Told about every request of a read, or of the commit watcher, that failed and is tried again (server log). */
  onReadRetry?: (what: string, err: unknown, attempt: number) => void;
}

/** What opening the stream found. */
export interface JetStreamOpenReport {
  /** True when this store created the stream. */
  created: boolean;
  /** The stream's last seq. */
  lastSeq: number;
  /** Copies JetStream keeps of each record (the stream's own setting). */
  replicas: number;
}

/**
 * The log store on NATS JetStream: each record is one message on the
 * stream's subject, published with `Nats-Msg-Id` = event_id, and acked to
 * the caller only after JetStream's publish ack (on a replicated stream,
 * after a quorum of its servers stored it). The stream sequence is the
 * record's seq, so any number of front ends can write to one stream at once.
 * A duplicate event_id within the stream's duplicate window is answered with
 * the original seq and timestamp. The record is stored without seq (it is
 * only known after the ack); readers add it back.
 */
export class JetStreamStore implements LogStore {
  private readonly clock: Clock;
  private readonly queue: WriteQueue;
  private readonly publishTimeoutMs: number;
  private readonly publishRetryMs: number;
  private seq = 0;
  private lastMicros = 0;
  private inFlight = new Set<Promise<unknown>>();
  private readonly commitListeners = new Set<(lastSeq: number) => void>();
  private readonly readRetryMs: number;
  /** Bumped when watching starts or stops: a watch loop of an older generation ends. */
  private watchGeneration = 0;
  /** Aborts the current generation's waits. */
  private watchAbort: AbortController | undefined;
  private watcher: ConsumerMessages | undefined;
  /** The last seq the current watcher delivered (or the one before its first). */
  private watcherSeq = 0;
  /** The stream's last seq at the previous look, when the watcher had not reached it then. */
  private watcherBehind: number | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Where ReadEvents reads records from. */
  readonly records: RecordSource;
  /** Messages carry no hash chain: JetStream keeps them, verify has nothing to prove. */
  readonly integrity = "none";

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: JetStreamStoreOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.queue = new WriteQueue(options.queueBytesMax ?? 16 * 1024 * 1024);
    this.publishTimeoutMs = options.publishTimeoutMs ?? 5000;
    this.publishRetryMs = options.publishRetryMs ?? 30_000;
    this.readRetryMs = options.readRetryMs ?? 60_000;
    this.records = new JetStreamRecordSource(js, jsm, options.stream, {
      timeSkewMs: options.timeSkewMs,
      onLastSeq: (s) => this.advance(s),
      retryMs: this.readRetryMs,
      onRetry: options.onReadRetry,
    });
  }

  /** Connects, makes the stream when it is missing (or checks the one there), and returns the store. */
  static async open(options: JetStreamStoreOptions): Promise<{ store: JetStreamStore; report: JetStreamOpenReport }> {
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
      // A server that starts during an election (or with a JetStream server just lost) waits for it, as a publish would.
      const retry = { ms: options.publishRetryMs ?? 30_000, onRetry: (err: unknown, n: number) => options.onReadRetry?.("stream at open", err, n) };
      const jsm = await retrying(() => jetstreamManager(nc, { timeout: options.publishTimeoutMs ?? 5000 }), retry);
      const report = await ensureStream(jsm, options, retry);
      const store = new JetStreamStore(nc, jetstream(nc, { timeout: options.publishTimeoutMs ?? 5000 }), jsm, options);
      store.seq = report.lastSeq;
      return { store, report };
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  /** The highest seq this front end knows to be stored (its own acks, and the stream's end when it last looked). */
  get lastSeq(): number {
    return this.seq;
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
   * Publishes each entry as one message and resolves once JetStream acked
   * them all, in order of entries. A publish that times out (a leader
   * election, a lost server) is tried again with the same message id, so it
   * is stored once. Seqs follow the order of entries unless such a retry
   * happened (the retried record then lands after the others).
   */
  async append(entries: readonly AppendEntry[], options: { wait?: boolean } = {}): Promise<AppendResult[]> {
    if (this.queue.isClosed) throw new ServiceError(status.UNAVAILABLE, "server is shutting down; nothing was written");
    if (entries.length === 0) return [];
    const bytes = queuedBytesOf(entries);
    await this.queue.admit(bytes, options.wait);
    const work = this.publishAll(entries);
    this.inFlight.add(work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(work);
      this.queue.release(bytes);
    }
  }

  /** Waits for the publishes in flight, then closes the connection. Later appends get UNAVAILABLE. */
  async close(): Promise<void> {
    this.queue.close();
    await Promise.allSettled([...this.inFlight]);
    this.unwatch();
    // drain() flushes what was published and lets subscriptions finish.
    await this.nc.drain().catch(() => this.nc.close());
  }

  private async publishAll(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    // One timestamp per append call, never going back in time on this front end.
    const micros = Math.max(this.clock.nowMicros(), this.lastMicros);
    this.lastMicros = micros;
    const timestamp = formatTimestamp(micros);
    const deadline = Date.now() + this.publishRetryMs;
    // Published in order on one connection, so the stream stores them in this order.
    const acks = await Promise.all(entries.map((e) => this.publishOne(e, storedMessageOf(e.eventId, timestamp, e.body), deadline)));
    const results: AppendResult[] = new Array(entries.length);
    let top = 0;
    for (let i = 0; i < entries.length; i++) {
      const { ack, retried } = acks[i];
      top = Math.max(top, ack.seq);
      // A duplicate answer to our own retry means the first try was stored: it is new to the caller.
      const duplicate = ack.duplicate && !retried;
      const original = duplicate ? await this.originalTimestamp(entries, i, ack.seq, timestamp) : timestamp;
      results[i] = { seq: ack.seq, timestamp: original, duplicate };
    }
    this.advance(top);
    return results;
  }

  /** Publishes one record; tries again with the same message id while the failure may be passing, until the deadline. */
  private async publishOne(entry: AppendEntry, message: string, deadline: number): Promise<{ ack: PubAck; retried: boolean }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.js.publish(this.options.subject, message, { msgID: entry.eventId, timeout: this.publishTimeoutMs });
        return { ack, retried: attempt > 0 };
      } catch (err) {
        if (!isPassing(err) || Date.now() >= deadline || this.nc.isClosed()) {
          throw new ServiceError(status.UNAVAILABLE, `JetStream did not store the event (${(err as Error).message}); nothing of it was acked`, { cause: err });
        }
        this.options.onRetry?.(err, attempt + 1);
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 1000)));
      }
    }
  }

  /**
   * The timestamp the original of a duplicate was stored with (same call:
   * this one; else read back from the stream, through a leader change too).
   * When it cannot be read, the call fails with UNAVAILABLE rather than
   * answer another timestamp: a retry is answered as a duplicate again.
   */
  private async originalTimestamp(entries: readonly AppendEntry[], i: number, seq: number, timestamp: string): Promise<string> {
    for (let j = 0; j < i; j++) if (entries[j].eventId === entries[i].eventId) return timestamp;
    let stored: StoredMsg | null;
    try {
      stored = await retrying(() => this.jsm.streams.getMessage(this.options.stream, { seq }), { ms: this.readRetryMs, onRetry: (err, n) => this.options.onReadRetry?.("message get", err, n) });
    } catch (err) {
      throw new ServiceError(
        status.UNAVAILABLE,
        `event_id ${entries[i].eventId} is already stored (seq ${seq}) but JetStream did not give back its timestamp (${(err as Error).message}); a retry with the same event_id is answered as a duplicate`,
        { cause: err },
      );
    }
    // null: the original is gone (the stream's own limits removed it); nothing else to tell.
    const record = stored === null ? undefined : StoredRecord.of(seq, stored.data);
    return record !== undefined && !Number.isNaN(parseTimestamp(record.timestamp)) ? record.timestamp : timestamp;
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
        const from = this.seq + 1;
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
          this.advance(m.seq);
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
    try {
      last = (await this.jsm.streams.info(this.options.stream)).state.last_seq;
    } catch {
      return; // an election: the next look, or the watcher, tells
    }
    if (generation !== this.watchGeneration) return;
    if (this.watcher !== undefined && this.watcherBehind !== undefined && this.watcherSeq < this.watcherBehind) {
      this.options.onReadRetry?.("commit watcher", new Error(`no message up to seq ${this.watcherBehind} since the last look`), 1);
      this.watcher.stop();
    }
    this.watcherBehind = last > this.watcherSeq ? last : undefined;
    this.advance(last);
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

async function ensureStream(jsm: JetStreamManager, options: JetStreamStoreOptions, retry: RetryOptions): Promise<JetStreamOpenReport> {
  const replicas = options.replicas ?? 1;
  try {
    const info = await retrying(() => jsm.streams.info(options.stream), retry);
    if (!info.config.subjects?.includes(options.subject)) {
      throw new Error(`JetStream stream ${options.stream} exists but does not capture subject ${options.subject} (its subjects: ${info.config.subjects?.join(", ") ?? "none"})`);
    }
    return { created: false, lastSeq: info.state.last_seq, replicas: info.config.num_replicas };
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  // Two front ends may both find it missing: JetStream accepts the same config twice; on any other clash the stream is read back.
  try {
    const info = await retrying(
      () =>
        jsm.streams.add({
          name: options.stream,
          subjects: [options.subject],
          num_replicas: replicas,
          storage: StorageType.File,
          duplicate_window: (options.duplicateWindowMs ?? 120_000) * 1_000_000,
          allow_direct: true,
        }),
      retry,
    );
    return { created: true, lastSeq: info.state.last_seq, replicas: info.config.num_replicas };
  } catch (err) {
    const info = await retrying(() => jsm.streams.info(options.stream), retry).catch(() => undefined);
    if (info === undefined || !info.config.subjects?.includes(options.subject)) throw err;
    return { created: false, lastSeq: info.state.last_seq, replicas: info.config.num_replicas };
  }
}
