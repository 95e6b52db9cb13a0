import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { LearningLogService, type GetServerInfoResponse } from "../gen/pulse/learninglog/v1/learning_log_pb.js";
import { DeadlineExceeded, errorFromCall, LearningLogError } from "./errors.js";
import { serviceDefinition } from "./grpc-definition.js";
import { checkRunId, resolveRun, RUN_METADATA_KEY } from "./run-id.js";

/** Where the server listens by default (the server's own default). */
export const DEFAULT_ADDRESS = "127.0.0.1:50051";

/** The server's default largest message (`--message-bytes-max`), in bytes. */
export const MESSAGE_BYTES_MAX = 4 * 1024 * 1024;

/** What the server accepts: its GetServerInfo answer, or the defaults. */
export interface ServerLimits {
  /** Largest gRPC message, in bytes (`--message-bytes-max`). */
  readonly messageBytesMax: number;
  /** Most events in one batch (`--batch-events-max`). */
  readonly batchEventsMax: number;
  /** Largest record (one JSON line), in bytes (`--record-bytes-max`). */
  readonly recordBytesMax: number;
}

/** The server's defaults: what a server without GetServerInfo enforces unless started with other values. */
export const DEFAULT_SERVER_LIMITS: ServerLimits = Object.freeze({ messageBytesMax: MESSAGE_BYTES_MAX, batchEventsMax: 10_000, recordBytesMax: 1024 * 1024 });

/** TLS settings: PEM contents (not file names), e.g. `readFileSync("ca.pem")`. */
export interface TlsOptions {
  /** The CA that signed the server's certificate; absent trusts the system's public CAs. */
  ca?: Buffer | string;
  /** This client's certificate chain, for mutual TLS (with `key`). */
  cert?: Buffer | string;
  /** This client's private key, for mutual TLS (with `cert`). */
  key?: Buffer | string;
}

/** How to reach the server; every field is optional. */
export interface ConnectionOptions {
  /** `host:port`. Default: the `PULSE_LEARNING_LOG_ADDR` environment variable, else 127.0.0.1:50051. */
  address?: string;
  /** TLS: `true` for the system's CAs, or {@link TlsOptions}. Default: plaintext (for a loopback server). */
  tls?: boolean | TlsOptions;
  /** Sent as `authorization: Bearer <token>` on every call. Default none. */
  token?: string;
  /**
   * Milliseconds one call may take, all its attempts and the waits between
   * them included; `null` for no limit. Default 10,000. Past it the call
   * fails with {@link DeadlineExceeded}.
   */
  timeoutMs?: number | null;
  /**
   * Attempts of an idempotent call (a log call, which carries an event_id,
   * or a read) on UNAVAILABLE, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED,
   * within its timeout; never for a message over the size limit. Default 4.
   */
  retryAttempts?: number;
  /** First wait between attempts, in ms, doubled each time up to `backoffMaxMs`, with jitter. Default 50. */
  backoffInitialMs?: number;
  /** Longest wait between attempts, in ms. Default 2,000. */
  backoffMaxMs?: number;
  /** Extra grpc-js channel options (they override this client's). */
  channelOptions?: grpc.ChannelOptions;
  /**
   * The run (training run, experiment, deployment) every call's events
   * belong to: 1 to 128 printable ASCII characters other than `"` and `\`
   * (else {@link InvalidRunId}). Sent as the `pulse-run` metadata of every
   * call (and as each event's `run` by a BatchWriter). Default: the
   * `PULSE_LEARNING_LOG_RUN` environment variable, else no run; `null` for
   * no run whatever the environment says.
   */
  run?: string | null;
}

/** Per-call options. */
export interface CallOptions {
  /** Milliseconds this call may take, retries included; overrides the connection's `timeoutMs`. */
  timeoutMs?: number | null;
}

/** The connection's options with their defaults filled in. */
export interface ResolvedConnectionOptions {
  /** `host:port` of the server. */
  readonly address: string;
  /** Milliseconds one call may take, retries included; null for no limit. */
  readonly timeoutMs: number | null;
  /** Attempts of an idempotent call. */
  readonly retryAttempts: number;
  /** First wait between attempts, in ms. */
  readonly backoffInitialMs: number;
  /** Longest wait between attempts, in ms. */
  readonly backoffMaxMs: number;
  /** The run every call carries, or undefined for none. */
  readonly run: string | undefined;
}

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be a positive ${integer ? "integer" : "number"}, got ${String(value)}`);
  }
  return value;
}

function checkToken(token: string): void {
  // Printable ASCII without spaces: what an HTTP/2 header value may carry and
  // what the server's tokens file holds. The token itself is never echoed.
  if (typeof token !== "string" || !/^[\x21-\x7e]+$/.test(token)) {
    throw new TypeError("token must be a non-empty string of printable ASCII without spaces");
  }
}

function channelCredentials(tls: ConnectionOptions["tls"]): grpc.ChannelCredentials {
  if (tls === undefined || tls === false) return grpc.credentials.createInsecure();
  const t: TlsOptions = tls === true ? {} : tls;
  if ((t.cert === undefined) !== (t.key === undefined)) throw new TypeError("tls.cert and tls.key go together (mutual TLS)");
  const pem = (v: Buffer | string | undefined) => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v));
  return grpc.credentials.createSsl(pem(t.ca), pem(t.key), pem(t.cert));
}

/** The channel and the grpc-js clients on it: shared by a connection and its {@link Connection.withRun} views. */
interface SharedChannel {
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
  readonly clients: Map<string, grpc.Client>;
  channel: ReturnType<grpc.Client["getChannel"]> | undefined;
  closed: boolean;
  /** Called on close: long-lived calls (a run's hold) that must end with the channel. */
  readonly closeHooks: Set<() => void>;
  /** The server's limits, asked once per channel (undefined until asked, or after a failed ask). */
  limits: Promise<ServerLimits | undefined> | undefined;
}

/**
 * One gRPC channel to the service and what every call on it shares: the
 * bearer token, the run, the per-call timeout, the retries of idempotent
 * calls and the mapping of failures to typed errors.
 */
export class Connection {
  /** The options in force. */
  readonly options: ResolvedConnectionOptions;
  private readonly shared: SharedChannel;
  private readonly metadataTemplate: grpc.Metadata;

  /** Opens nothing yet: the channel connects on the first call. */
  constructor(options: ConnectionOptions = {}) {
    const address = options.address ?? process.env.PULSE_LEARNING_LOG_ADDR ?? DEFAULT_ADDRESS;
    if (typeof address !== "string" || address === "") throw new TypeError("address must be a non-empty 'host:port' string");
    const timeoutMs = options.timeoutMs === null ? null : positive("timeoutMs", options.timeoutMs, 10_000);
    const run = resolveRun(options.run);
    this.options = Object.freeze({
      address,
      timeoutMs,
      retryAttempts: positive("retryAttempts", options.retryAttempts, 4, true),
      backoffInitialMs: positive("backoffInitialMs", options.backoffInitialMs, 50),
      backoffMaxMs: positive("backoffMaxMs", options.backoffMaxMs, 2_000),
      run,
    });
    const credentials = channelCredentials(options.tls);
    this.metadataTemplate = new grpc.Metadata();
    if (options.token !== undefined) {
      checkToken(options.token);
      this.metadataTemplate.set("authorization", `Bearer ${options.token}`);
    }
    if (run !== undefined) this.metadataTemplate.set(RUN_METADATA_KEY, run);
    const channelOptions: grpc.ChannelOptions = {
      "grpc.max_send_message_length": MESSAGE_BYTES_MAX,
      "grpc.max_receive_message_length": MESSAGE_BYTES_MAX,
      // Reconnect soon after a server restart (grpc-js waits 1 s, then up to
      // 120 s, between connection attempts by default).
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1_000,
      ...options.channelOptions,
    };
    this.shared = { credentials, channelOptions, clients: new Map(), channel: undefined, closed: false, closeHooks: new Set(), limits: undefined };
  }

  /**
   * The same channel, token and call options with another run (`null`: no
   * run): every call made through the view carries it. Closing either closes
   * the one channel they share.
   */
  withRun(run: string | null): Connection {
    const view: Connection = Object.create(Connection.prototype);
    const checked = run === null ? undefined : checkRunId(run, "run");
    const metadata = this.metadataTemplate.clone();
    if (checked === undefined) metadata.remove(RUN_METADATA_KEY);
    else metadata.set(RUN_METADATA_KEY, checked);
    Object.assign(view, { options: Object.freeze({ ...this.options, run: checked }), shared: this.shared, metadataTemplate: metadata });
    return view;
  }

  /**
   * Calls `hook` when the channel is closed (closing does not end calls in
   * flight: a long-lived call ends itself here). Returns the unregistration.
   */
  onClose(hook: () => void): () => void {
    this.shared.closeHooks.add(hook);
    return () => this.shared.closeHooks.delete(hook);
  }

  /** True once {@link close} was called (on this connection or a view of its channel). */
  get closed(): boolean {
    return this.shared.closed;
  }

  /** A fresh copy of the metadata every call carries (the bearer token, the run). */
  metadata(): grpc.Metadata {
    return this.metadataTemplate.clone();
  }

  /**
   * The grpc-js client of a service, made once, on the connection's one
   * channel. `rawRequests` as in {@link serviceDefinition}.
   */
  client(service: DescService, rawRequests?: ReadonlySet<string>): grpc.Client {
    const shared = this.shared;
    if (shared.closed) throw new TypeError("the connection is closed");
    const key = `${service.typeName}${rawRequests === undefined ? "" : ` raw:${[...rawRequests].join(",")}`}`;
    let client = shared.clients.get(key);
    if (client === undefined) {
      const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(service, rawRequests), service.typeName);
      const options: grpc.ClientOptions = shared.channel === undefined ? shared.channelOptions : { ...shared.channelOptions, channelOverride: shared.channel };
      // ClientOptions (channelOverride shares the channel) typed as the constructor asks.
      client = new Ctor(this.options.address, shared.credentials, options as grpc.ChannelOptions);
      shared.channel ??= client.getChannel();
      shared.clients.set(key, client);
    }
    return client;
  }

  /**
   * The server's limits, asked once per connection (GetServerInfo, one
   * attempt) the first time they are needed: {@link DEFAULT_SERVER_LIMITS}
   * from a server without the method (UNIMPLEMENTED); undefined while the
   * server cannot be asked (it is asked again next time).
   */
  serverLimits(): Promise<ServerLimits | undefined> {
    const shared = this.shared;
    if (shared.limits === undefined) {
      const asking = this.askServerLimits();
      shared.limits = asking;
      void asking.then((limits) => {
        if (limits === undefined && shared.limits === asking) shared.limits = undefined;
      });
    }
    return shared.limits;
  }

  private async askServerLimits(): Promise<ServerLimits | undefined> {
    let answer: GetServerInfoResponse;
    try {
      answer = await this.unary<GetServerInfoResponse>(LearningLogService, "getServerInfo", {}, false);
    } catch (err) {
      return err instanceof LearningLogError && err.code === grpc.status.UNIMPLEMENTED ? DEFAULT_SERVER_LIMITS : undefined;
    }
    // 0: not told; the default then.
    return Object.freeze({
      messageBytesMax: Number(answer.messageBytesMax) || DEFAULT_SERVER_LIMITS.messageBytesMax,
      batchEventsMax: answer.batchEventsMax || DEFAULT_SERVER_LIMITS.batchEventsMax,
      recordBytesMax: Number(answer.recordBytesMax) || DEFAULT_SERVER_LIMITS.recordBytesMax,
    });
  }

  /** The absolute end of a call started now, or undefined without a limit. */
  deadline(options?: CallOptions): number | undefined {
    const timeoutMs = options?.timeoutMs === undefined ? this.options.timeoutMs : options.timeoutMs;
    return timeoutMs === null ? undefined : Date.now() + positive("timeoutMs", timeoutMs, 0);
  }

  /** The wait before retry number `attempt` (1 for the first retry), in ms, with jitter. */
  backoffMs(attempt: number): number {
    const base = Math.min(this.options.backoffMaxMs, this.options.backoffInitialMs * 2 ** (attempt - 1));
    return base * (0.5 + 0.5 * Math.random());
  }

  /**
   * Runs a unary call, retrying it (when `idempotent`) on a retryable status
   * until the attempts or the call's deadline run out. Failures are typed
   * errors.
   */
  async unary<Res>(service: DescService, method: string, request: unknown, idempotent: boolean, options?: CallOptions): Promise<Res> {
    const client = this.client(service) as unknown as Record<string, UnaryFn>;
    const deadline = this.deadline(options);
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          client[method].call(client, request, this.metadata(), deadline === undefined ? {} : { deadline }, (err: unknown, res: unknown) =>
            err ? reject(err) : resolve(res as Res),
          );
        });
      } catch (err) {
        const error = errorFromCall(err);
        if (!idempotent || !error.retryable || attempt >= this.options.retryAttempts) throw error;
        const wait = this.backoffMs(attempt);
        if (deadline !== undefined && Date.now() + wait >= deadline) throw timeoutError(error);
        await delay(wait);
      }
    }
  }

  /** Runs a server-streaming call and collects every answer (reads: retried from the start while nothing was received). */
  async serverStream<Res>(service: DescService, method: string, request: unknown, options?: CallOptions): Promise<Res[]> {
    const results: Res[] = [];
    for await (const r of this.serverStreamIter<Res>(service, method, request, options)) results.push(r);
    return results;
  }

  /** A server-streaming call's answers as they come; failures are typed errors. */
  async *serverStreamIter<Res>(service: DescService, method: string, request: unknown, options?: CallOptions): AsyncGenerator<Res> {
    const client = this.client(service) as unknown as Record<string, StreamFn>;
    const deadline = this.deadline(options);
    const call = client[method].call(client, request, this.metadata(), deadline === undefined ? {} : { deadline }) as grpc.ClientReadableStream<Res>;
    try {
      for await (const message of call) yield message as Res;
    } catch (err) {
      throw errorFromCall(err);
    } finally {
      call.cancel();
    }
  }

  /** Runs a client-streaming call (not retried: a stream cannot be resent from its middle). */
  async clientStream<Res>(service: DescService, method: string, requests: Iterable<unknown>, options?: CallOptions): Promise<Res> {
    const client = this.client(service) as unknown as Record<string, ClientStreamFn>;
    const deadline = this.deadline(options);
    let call: grpc.ClientWritableStream<unknown> | undefined;
    const answer = new Promise<Res>((resolve, reject) => {
      call = client[method].call(client, this.metadata(), deadline === undefined ? {} : { deadline }, (err: unknown, res: unknown) =>
        err ? reject(errorFromCall(err)) : resolve(res as Res),
      );
    });
    try {
      for (const request of requests) {
        if (!call!.write(request)) await Promise.race([once(call!, "drain"), answer]);
      }
      call!.end();
    } catch (err) {
      call!.cancel();
      throw errorFromCall(err);
    }
    return answer;
  }

  /** Closes the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close(): void {
    const shared = this.shared;
    if (shared.closed) return;
    shared.closed = true;
    for (const hook of [...shared.closeHooks]) hook();
    shared.closeHooks.clear();
    for (const client of shared.clients.values()) client.close();
    shared.clients.clear();
  }
}

type UnaryFn = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: unknown, res: unknown) => void) => unknown;
type StreamFn = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions) => unknown;
type ClientStreamFn = (metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: unknown, res: unknown) => void) => grpc.ClientWritableStream<unknown>;

function timeoutError(last: LearningLogError): LearningLogError {
  return new DeadlineExceeded(grpc.status.DEADLINE_EXCEEDED, `deadline reached while retrying; last failure ${last.message}`, { cause: last });
}
