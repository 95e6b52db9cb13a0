import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { ReadEventsResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { readEventBatch, readsEventBatch } from "../codec/event-batch.js";
import { decodeReadEventsResponse } from "../codec/log-record-reader.js";
import { undecodableError } from "../codec/request-decode.js";
import { ServiceError } from "../errors.js";
import { RESPONSE_ENCODERS } from "./response-encoders.js";
import { statusDetailsMetadata } from "./status-details.js";

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** The request's metadata (headers). */
  readonly metadata: grpc.Metadata;
  /** The caller's address, for the server log. */
  readonly peer: string;
  /** The fully qualified method path, e.g. /pulse.learninglog.v1.LearningLogService/LogEvent. */
  readonly path: string;
  /** When the client's deadline passes (Date.now() ms); undefined when the client set none. */
  readonly deadline?: number;
}

/**
 * A response already in its wire bytes, sent as is: the read side copies
 * records straight from the log into them, and encoding a message around
 * them again would copy every byte once more.
 */
export class EncodedMessage<O extends DescMessage> {
  /** Only for the type checker: which message the bytes are. */
  declare readonly schema?: O;
  constructor(readonly bytes: Buffer) {}
}

type In<M> = M extends { input: infer I extends DescMessage } ? MessageShape<I> : never;
type Out<M> = M extends { output: infer O extends DescMessage } ? MessageInitShape<O> | EncodedMessage<O> : never;

/** The implementation of one method, by kind, typed from its descriptor. */
export type MethodImpl<M> = M extends { methodKind: "unary" }
  ? (request: In<M>, ctx: CallContext) => Promise<Out<M>>
  : M extends { methodKind: "server_streaming" }
    ? (request: In<M>, ctx: CallContext) => AsyncIterable<Out<M>>
    : M extends { methodKind: "client_streaming" }
      ? (requests: AsyncIterable<In<M>>, ctx: CallContext) => Promise<Out<M>>
      : M extends { methodKind: "bidi_streaming" }
        ? (requests: AsyncIterable<In<M>>, ctx: CallContext) => AsyncIterable<Out<M>>
        : never;

/**
 * A whole service implementation: one function per RPC, keyed by the
 * method's localName. A misspelt method or a wrong return type fails `tsc`.
 */
export type ServiceImpl<S extends GenServiceMethods> = { [K in keyof S]: MethodImpl<S[K]> };

/**
 * Where the adapter reports errors that are not the client's fault, with the
 * method path and, for a failure of a call, that call (its peer and metadata).
 */
export type InternalErrorSink = (err: unknown, path: string, call?: CallContext) => void;

/**
 * Follows one call for metrics and the server log. Made by a
 * {@link CallObserver} when the call starts; told of every message and,
 * once, of the status the call ended with.
 */
export interface CallProbe {
  /** A request message arrived (decoded, or an {@link Undecodable} marker). */
  received(message: unknown): void;
  /** A response message was handed to grpc-js. */
  sent(message: unknown): void;
  /**
   * The call ended with this status code: OK, the code of what the handler
   * threw (`cause`), or CANCELLED when the client went away first.
   */
  ended(code: grpc.status, cause?: unknown): void;
}

/**
 * Observes calls (metrics, per-call log lines). `method` is called once per
 * method when the service is adapted, so per-method work (label values,
 * which fields hold events) is done there, not per call; the function it
 * returns is called as each call starts.
 */
export interface CallObserver {
  method(method: DescMethod): (ctx: CallContext) => CallProbe;
}

/** One observer telling all of the given ones; undefined when none is given (nothing is observed then: no cost per call). */
export function combineCallObservers(...observers: ReadonlyArray<CallObserver | undefined>): CallObserver | undefined {
  const present = observers.filter((o): o is CallObserver => o !== undefined);
  if (present.length <= 1) return present[0];
  return {
    method(method) {
      const starts = present.map((o) => o.method(method));
      return (ctx) => {
        const probes = starts.map((start) => start(ctx));
        return {
          received: (message) => probes.forEach((p) => p.received(message)),
          sent: (message) => probes.forEach((p) => p.sent(message)),
          ended: (code, cause) => probes.forEach((p) => p.ended(code, cause)),
        };
      };
    },
  };
}

/** A message's wire bytes, as grpc-js wants them (a Buffer over the bytes, not a copy). */
function encode(schema: DescMessage, value: unknown): Buffer {
  const bytes = toBinary(schema, value as MessageShape<DescMessage>);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function serializer(schema: DescMessage): grpc.serialize<unknown> {
  // The adapter hands over responses already encoded (see encodeResponse); clients hand over messages.
  return (value: unknown) => (Buffer.isBuffer(value) ? value : encode(schema, value));
}

/**
 * Encodes a response before grpc-js sees it: a message that does not encode
 * (a bug of ours) then fails the call through toStatus, which logs the cause,
 * instead of inside grpc-js, which would answer INTERNAL without a word.
 */
function encodeResponse(schema: DescMessage, value: unknown): Buffer {
  if (value instanceof EncodedMessage) return value.bytes;
  try {
    const written = RESPONSE_ENCODERS.get(schema.typeName)?.(value);
    if (written !== undefined) return Buffer.from(written.buffer, written.byteOffset, written.byteLength);
    return encode(schema, create(schema, value as MessageInitShape<DescMessage>));
  } catch (err) {
    throw new ServiceError(grpc.status.INTERNAL, "internal error", { cause: err });
  }
}

/** Responses read by hand where protobuf-es's general decoder is the reading client's cost (a replay's records). */
const RESPONSE_READERS: ReadonlyMap<string, (bytes: Uint8Array) => unknown> = new Map([[ReadEventsResponseSchema.typeName, decodeReadEventsResponse]]);

function deserializer(schema: DescMessage): grpc.deserialize<unknown> {
  // Size limits are the channel's (grpc.max_receive_message_length).
  return RESPONSE_READERS.get(schema.typeName) ?? ((bytes: Buffer) => fromBinary(schema, bytes));
}

/** A request that did not decode, handed to the handler instead of thrown (see requestDeserializer). */
export class Undecodable {
  constructor(readonly error: unknown) {}
}

/**
 * Requests that do not decode become an {@link Undecodable} marker rather
 * than a throw: grpc-js would answer INTERNAL on its own and end the stream
 * under a streaming handler still writing answers, whose final status then
 * never arrives (the call hangs). The handler raises the status instead.
 */
function requestDeserializer(schema: DescMessage): grpc.deserialize<unknown> {
  // Batches of events are read by hand, their LogEvents' Structs left as bytes for the event writer to transcode (codec/event-batch.ts).
  if (readsEventBatch(schema)) return markUndecodable((bytes: Buffer) => readEventBatch(schema, bytes) ?? fromBinary(schema, bytes));
  return markUndecodable((bytes: Buffer) => fromBinary(schema, bytes));
}

/** Wraps any request deserializer so that failures become an {@link Undecodable} marker. */
export function markUndecodable(deserialize: grpc.deserialize<unknown>): grpc.deserialize<unknown> {
  return (bytes: Buffer) => {
    try {
      return deserialize(bytes);
    } catch (err) {
      return new Undecodable(err);
    }
  };
}

/**
 * A message of a request stream, decoded only when the handler takes it:
 * grpc-js reads each stream's next messages ahead of the handler, and a
 * decoded batch of events is many times its wire bytes, so what waits on
 * hundreds of streams is bytes, and what is decoded is bounded by what the
 * handlers take (the ingest handlers' shared read-ahead budget).
 */
class Deferred {
  constructor(
    private bytes: Buffer | undefined,
    private readonly deserialize: grpc.deserialize<unknown>,
  ) {}
  /** Size on the wire. */
  get byteLength(): number {
    return this.bytes?.length ?? 0;
  }
  /**
   * Decodes, once. The bytes are let go here: Node's stream iterator keeps
   * the message it last handed out until the next read, which a stream
   * waiting for the read budget may not ask for soon.
   */
  decode(): unknown {
    const bytes = this.bytes;
    this.bytes = undefined;
    if (bytes === undefined) throw new Error("a streamed request was decoded twice");
    return this.deserialize(bytes);
  }
}

/** Wire bytes of the streamed requests handlers hold, by decoded message (see {@link requestWireBytes}). */
const wireBytes = new WeakMap<object, number>();

/**
 * The size on the wire of a streamed request the handler took, for budgets
 * of bytes read (src/rpc/read-budget.ts); undefined for a message that did
 * not come off a request stream.
 */
export function requestWireBytes(request: object): number | undefined {
  return wireBytes.get(request);
}

/** The decoded request, or the status for one that did not decode. */
function decoded(value: unknown): unknown {
  if (!(value instanceof Undecodable)) return value;
  return Promise.reject(undecodableError(value.error));
}

/** Whether the client streams the method's requests. */
function requestStreamed(method: DescMethod): boolean {
  return method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
}

/** A request stream's messages as {@link Deferred}: decoded as the handler takes them (see {@link requestsOf}). */
function deferredDeserializer(schema: DescMessage): grpc.deserialize<unknown> {
  const deserialize = requestDeserializer(schema);
  return (bytes: Buffer) => new Deferred(bytes, deserialize);
}

/** The gRPC path of a method: /<fully qualified service>/<proto method name>. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * Builds the grpc-js ServiceDefinition of any protobuf-es service descriptor.
 * Codecs are built once per method here; nothing is written per method.
 */
export function createServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: methodPath(method),
      originalName: method.name,
      requestStream: requestStreamed(method),
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: requestStreamed(method) ? deferredDeserializer(method.input) : requestDeserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition;
}

/**
 * Turns any thrown value into the status object grpc-js sends. Every
 * INTERNAL or UNKNOWN sent goes to the sink with its cause: anything thrown
 * that is not a ServiceError, and a ServiceError with such a code (its
 * `cause` when it has one, e.g. ServiceError.from's wrapped error, else the
 * ServiceError itself). Other codes are answers and are not logged here.
 */
export function toStatus(err: unknown, path: string, sink: InternalErrorSink, call?: CallContext): Partial<grpc.StatusObject> {
  const e = ServiceError.from(err);
  if (LOGGED_CODES.has(e.code)) sink(e.cause ?? e, path, call);
  const metadata = statusDetailsMetadata(e.code, e.message, e.violations);
  return metadata === undefined ? { code: e.code, details: e.message } : { code: e.code, details: e.message, metadata };
}

/** Statuses that say the server failed: never sent without their cause in the server log. */
const LOGGED_CODES: ReadonlySet<number> = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN]);

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;
type ResponseStream = grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

// One reason for every cancelled call: building an error (with its stack) per call is costly.
const CALL_CANCELLED = new ServiceError(grpc.status.CANCELLED, "cancelled by the client (it cancelled the call or went away)");

/** What answering a call needs besides the call itself: built per call, shared by its answer and its end. */
interface Answering {
  readonly ctx: LazyCallContext;
  /** Removes the cancellation listener: call before answering (see {@link contextOf}). */
  readonly release: () => void;
  readonly path: string;
  readonly sink: InternalErrorSink;
  /** The call's probe when calls are observed. */
  readonly probe: CallProbe | undefined;
}

/**
 * The handler's view of a call. Its signal is made when first asked for:
 * most unary handlers never ask, and an AbortController with its listener per
 * call is a visible share of a lone event's cost. The peer is read at once
 * (once the client is gone grpc-js can no longer tell it, and the call log
 * and the error sink name it). `release` is called once the handler has
 * answered: grpc-js emits "cancelled" after every call ends, even a
 * successful one, so the listener (if any) must go before the answer is sent.
 */
class LazyCallContext implements CallContext {
  private abort: AbortController | undefined;
  private cancel: (() => void) | undefined;
  private released = false;
  readonly metadata: grpc.Metadata;
  readonly peer: string;

  constructor(
    private readonly call: AnyCall,
    readonly path: string,
  ) {
    this.metadata = call.metadata;
    this.peer = call.getPeer();
  }

  get deadline(): number | undefined {
    const d = this.call.getDeadline();
    const ms = d instanceof Date ? d.getTime() : d;
    return Number.isFinite(ms) ? ms : undefined;
  }

  get signal(): AbortSignal {
    if (this.abort === undefined) {
      const abort = (this.abort = new AbortController());
      if (this.call.cancelled) abort.abort(CALL_CANCELLED);
      else if (!this.released) {
        this.cancel = () => abort.abort(CALL_CANCELLED);
        (this.call as grpc.ServerUnaryCall<unknown, unknown>).once("cancelled", this.cancel);
      }
    }
    return this.abort.signal;
  }

  /** Whether the client went away (cancelled, or its deadline passed), whether or not the signal was asked for. */
  get cancelled(): boolean {
    return this.abort?.signal.aborted ?? this.call.cancelled;
  }

  /** The call is answered: "cancelled" from now on is grpc-js's end of every call, not the client's. */
  release(): void {
    this.released = true;
    if (this.cancel !== undefined) (this.call as grpc.ServerUnaryCall<unknown, unknown>).removeListener("cancelled", this.cancel);
    this.cancel = undefined;
  }
}

function contextOf(call: AnyCall, path: string): { ctx: LazyCallContext; release: () => void } {
  const ctx = new LazyCallContext(call, path);
  return { ctx, release: () => ctx.release() };
}

/** Starts answering a call: its context, and its probe when `start` observes the method. */
function answering(call: AnyCall, path: string, sink: InternalErrorSink, start: ((ctx: CallContext) => CallProbe) | undefined): Answering {
  const { ctx, release } = contextOf(call, path);
  return { ctx, release, path, sink, probe: start?.(ctx) };
}

/**
 * Makes a request stream read a message off the network only when the
 * handler asks for one: grpc-js reads ahead up to the stream's high-water
 * mark, one buffer per stream that no shared budget would see, while the
 * handlers pace their reads by one (src/rpc/read-budget.ts). Unread bytes
 * then wait in the stream's HTTP/2 window, and flow control stops the client.
 */
function readOnDemand(call: grpc.ServerReadableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): void {
  // grpc-js gives no option for it; Node reads the field on every read.
  const state = (call as unknown as { _readableState?: { highWaterMark?: number } })._readableState;
  if (state !== undefined && typeof state.highWaterMark === "number") state.highWaterMark = 0;
}

/**
 * Reads a streaming call's requests one at a time, and never destroys the
 * call. Node's stream iterator does: when the call emits "error" (which is
 * how a handler's failure reaches grpc-js, to send it as the status) while a
 * read waits for the client, the iterator destroys the duplex with an
 * AbortError, and a response write still in flight then never lets grpc-js
 * send the status: the client waited for it forever (a stream whose batch
 * failed to commit while the client held back its next batch).
 */
class RequestReader {
  private waiter: { resolve: (r: IteratorResult<unknown>) => void; reject: (err: unknown) => void } | undefined;
  private ended = false;
  private failure: unknown;

  constructor(private readonly call: grpc.ServerReadableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) {
    call.on("readable", () => this.wake());
    call.once("end", () => {
      this.ended = true;
      this.wake();
    });
    // Recorded only: a listener here never makes the call fail or close.
    call.on("error", (err: unknown) => {
      this.failure ??= err;
      this.wake();
    });
    // Closed before the client half-closed: it cancelled the call or its connection went away.
    call.once("close", () => {
      if (!this.ended) this.failure ??= CALL_CANCELLED;
      this.wake();
    });
  }

  next(): Promise<IteratorResult<unknown>> {
    const settled = this.take();
    if (settled !== undefined) return settled;
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Stops reading: a read still waiting ends as done. */
  return(): Promise<IteratorResult<unknown>> {
    this.ended = true;
    this.wake();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** The next request, the end or the failure if one is there; undefined when the client has yet to send. */
  private take(): Promise<IteratorResult<unknown>> | undefined {
    const message: unknown = this.ended || this.failure !== undefined ? null : this.call.read();
    if (message !== null) return Promise.resolve({ done: false, value: message });
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return undefined;
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    const settled = this.take();
    if (settled === undefined) return;
    this.waiter = undefined;
    settled.then(waiter.resolve, waiter.reject);
  }
}

/**
 * The requests of a streaming call (see {@link RequestReader}: read on
 * demand, and the call never destroyed by its reading; a duplex must still
 * answer after the client half-closes, and send its status after a failure).
 */
function requestsOf(call: grpc.ServerReadableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, probe: CallProbe | undefined): AsyncIterable<unknown> {
  readOnDemand(call);
  // An iterator object rather than an async generator: a generator's frame keeps the
  // request it last yielded (and the wire bytes its events alias) until asked for the
  // next one, a message per stream beyond what the handlers hold and count.
  const messages = new RequestReader(call);
  const take = (message: unknown): unknown => {
    if (!(message instanceof Deferred)) return message;
    const bytes = message.byteLength;
    const request = message.decode();
    if (typeof request === "object" && request !== null) wireBytes.set(request, bytes);
    return request;
  };
  const iterator: AsyncIterator<unknown> = {
    next: () =>
      messages.next().then((r): Promise<IteratorResult<unknown>> | IteratorResult<unknown> => {
        if (r.done) return r;
        const request = take(r.value);
        probe?.received(request);
        return request instanceof Undecodable ? (decoded(request) as Promise<never>) : { done: false, value: request };
      }),
    return: () => messages.return(),
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

async function writeAll(call: ResponseStream, a: Answering, source: AsyncIterable<unknown>, schema: DescMessage): Promise<void> {
  const { ctx, probe } = a;
  for await (const message of source) {
    if (ctx.cancelled) return;
    // Respect the client's flow control: wait for 'drain' instead of buffering.
    const flowing = call.write(encodeResponse(schema, message));
    probe?.sent(message);
    if (!flowing) {
      // once() removes its abort listener when it settles: no listener piles up on long streams.
      await once(call, "drain", { signal: ctx.signal }).catch(() => undefined);
    }
  }
}

/** The status of a failed call, told to the probe (with what was thrown) before it is sent. */
function failed(a: Answering, err: unknown): Partial<grpc.StatusObject> {
  const status = toStatus(err, a.path, a.sink, a.ctx);
  a.probe?.ended(status.code ?? grpc.status.UNKNOWN, err);
  return status;
}

/** Tells the probe of a call that the handler finished: OK, unless the client had gone away first. */
function succeeded(a: Answering): void {
  if (a.probe === undefined) return;
  if (a.ctx.cancelled) a.probe.ended(grpc.status.CANCELLED, CALL_CANCELLED);
  else a.probe.ended(grpc.status.OK);
}

/** The fulfilment and rejection handlers that answer a unary-response call, after releasing its context. */
function answerOnce(a: Answering, callback: grpc.sendUnaryData<unknown>, output: DescMessage) {
  return [
    (res: unknown) => {
      a.release();
      let bytes: Buffer;
      try {
        bytes = encodeResponse(output, res);
      } catch (err) {
        callback(failed(a, err));
        return;
      }
      a.probe?.sent(res);
      succeeded(a);
      callback(null, bytes);
    },
    (err: unknown) => {
      a.release();
      callback(failed(a, err));
    },
  ] as const;
}

/** The fulfilment and rejection handlers that end a streaming-response call, after releasing its context. */
function endOnce(a: Answering, call: ResponseStream) {
  return [
    () => {
      a.release();
      succeeded(a);
      call.end();
    },
    (err: unknown) => {
      a.release();
      call.emit("error", failed(a, err));
    },
  ] as const;
}

/**
 * The end of every handler's promise chain: answering the call itself threw
 * (a response that does not encode, a call already gone). Nothing can be
 * sent any more; the cause goes to the server log instead of becoming an
 * unhandled rejection.
 */
function lastResort(a: Answering): (err: unknown) => void {
  return (err) => a.sink(err, a.path, a.ctx);
}

type UnaryImpl = (request: unknown, ctx: CallContext) => Promise<unknown>;
type ClientStreamImpl = (requests: AsyncIterable<unknown>, ctx: CallContext) => Promise<unknown>;
type ServerStreamImpl = (request: unknown, ctx: CallContext) => AsyncIterable<unknown>;
type BidiImpl = (requests: AsyncIterable<unknown>, ctx: CallContext) => AsyncIterable<unknown>;

/**
 * Adapts a {@link ServiceImpl} to grpc-js handlers. Every failure, thrown or
 * rejected, becomes a status here: grpc-js itself would leave a rejected
 * promise hanging until the deadline. With an `observer`, each call is
 * followed by a probe (metrics, per-call log lines); without one nothing
 * per call is added.
 */
export function adaptImplementation<S extends GenServiceMethods>(
  service: DescService,
  impl: ServiceImpl<S>,
  sink: InternalErrorSink,
  observer?: CallObserver,
): grpc.UntypedServiceImplementation {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const implFn = (impl as Record<string, (...args: never[]) => unknown>)[method.localName];
    if (typeof implFn !== "function") throw new Error(`no implementation for ${method.parent.typeName}.${method.name}`);
    const path = methodPath(method);
    const start = observer?.method(method);
    const output = method.output;
    switch (method.methodKind) {
      case "unary": {
        const fn = implFn as unknown as UnaryImpl;
        handlers[method.localName] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          const a = answering(call, path, sink, start);
          a.probe?.received(call.request);
          // The handler is called at once (no promise turn before it); a synchronous throw answers as a rejection would.
          let answer: Promise<unknown>;
          try {
            const request = call.request;
            answer = request instanceof Undecodable ? (decoded(request) as Promise<never>) : fn(request, a.ctx);
          } catch (err) {
            answer = Promise.reject(err);
          }
          answer.then(...answerOnce(a, callback, output)).catch(lastResort(a));
        }) as grpc.handleUnaryCall<unknown, unknown>;
        break;
      }
      case "client_streaming": {
        const fn = implFn as unknown as ClientStreamImpl;
        handlers[method.localName] = ((call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          const a = answering(call, path, sink, start);
          Promise.resolve()
            .then(() => fn(requestsOf(call, a.probe), a.ctx))
            .then(...answerOnce(a, callback, output))
            .catch(lastResort(a));
        }) as grpc.handleClientStreamingCall<unknown, unknown>;
        break;
      }
      case "server_streaming": {
        const fn = implFn as unknown as ServerStreamImpl;
        handlers[method.localName] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
          const a = answering(call, path, sink, start);
          a.probe?.received(call.request);
          Promise.resolve()
            .then(() => decoded(call.request))
            .then((request) => writeAll(call, a, fn(request, a.ctx), output))
            .then(...endOnce(a, call))
            .catch(lastResort(a));
        }) as grpc.handleServerStreamingCall<unknown, unknown>;
        break;
      }
      case "bidi_streaming": {
        const fn = implFn as unknown as BidiImpl;
        handlers[method.localName] = ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
          const a = answering(call, path, sink, start);
          Promise.resolve()
            .then(() => writeAll(call, a, fn(requestsOf(call, a.probe), a.ctx), output))
            .then(...endOnce(a, call))
            .catch(lastResort(a));
        }) as grpc.handleBidiStreamingCall<unknown, unknown>;
        break;
      }
    }
  }
  return handlers;
}
