import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { createServiceDefinition } from "./grpc-adapter.js";

/** Per-call options. */
export interface CallOptions {
  /** Request metadata, e.g. an authorization header. */
  metadata?: grpc.Metadata;
  /** Absolute deadline, or milliseconds from now when a number. */
  deadline?: Date | number;
}

/** A bidirectional call: send requests, read responses, half-close. */
export interface BidiCall<I extends DescMessage, O extends DescMessage> {
  /** Sends one request; resolves when the transport can take more. */
  send(request: MessageInitShape<I>): Promise<void>;
  /** Half-closes: no more requests. */
  close(): void;
  /** Cancels the call. */
  cancel(): void;
  /** The responses, ending when the server ends the call. */
  responses: AsyncIterable<MessageShape<O>>;
}

type In<M> = M extends { input: infer I extends DescMessage } ? I : never;
type Out<M> = M extends { output: infer O extends DescMessage } ? O : never;

/** One client method, by kind, typed from the descriptor. */
export type ClientMethod<M> = M extends { methodKind: "unary" }
  ? (request: MessageInitShape<In<M>>, options?: CallOptions) => Promise<MessageShape<Out<M>>>
  : M extends { methodKind: "server_streaming" }
    ? (request: MessageInitShape<In<M>>, options?: CallOptions) => AsyncIterable<MessageShape<Out<M>>>
    : M extends { methodKind: "client_streaming" }
      ? (requests: Iterable<MessageInitShape<In<M>>> | AsyncIterable<MessageInitShape<In<M>>>, options?: CallOptions) => Promise<MessageShape<Out<M>>>
      : M extends { methodKind: "bidi_streaming" }
        ? (options?: CallOptions) => BidiCall<In<M>, Out<M>>
        : never;

/** A promise-based client of a whole service, typed from its descriptor. */
export type Client<S extends GenServiceMethods> = { [K in keyof S]: ClientMethod<S[K]> } & {
  /** Closes the channel. */
  close(): void;
};

function callOptions(options?: CallOptions): grpc.CallOptions {
  const out: grpc.CallOptions = {};
  if (options?.deadline !== undefined) {
    out.deadline = typeof options.deadline === "number" ? Date.now() + options.deadline : options.deadline;
  }
  return out;
}

async function writeAllRequests(call: grpc.ClientWritableStream<unknown>, schema: DescMessage, requests: Iterable<unknown> | AsyncIterable<unknown>): Promise<void> {
  for await (const request of requests as AsyncIterable<unknown>) {
    if (!call.write(create(schema, request as MessageInitShape<DescMessage>))) await once(call, "drain");
  }
  call.end();
}

/**
 * TLS channel credentials that also send `authorization: Bearer <token>` on
 * every call. gRPC only sends call credentials over TLS, so a token never
 * travels in plaintext.
 */
export function bearerCredentials(token: string, tls: grpc.ChannelCredentials): grpc.ChannelCredentials {
  const perCall = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    callback(null, metadata);
  });
  return grpc.credentials.combineChannelCredentials(tls, perCall);
}

/**
 * Creates a typed client for any service descriptor, on the same
 * descriptor-derived definition the server uses.
 */
export function createClient<S extends GenServiceMethods>(
  service: DescService & { method: S },
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  channelOptions: grpc.ChannelOptions = {},
): Client<S> {
  const definition = createServiceDefinition(service);
  const Ctor = grpc.makeGenericClientConstructor(definition, service.typeName);
  const raw = new Ctor(address, credentials, channelOptions) as unknown as Record<string, (...args: unknown[]) => unknown> & grpc.Client;
  const client: Record<string, unknown> = { close: () => raw.close() };
  for (const method of service.methods) {
    const fn = raw[method.localName].bind(raw);
    const input = method.input;
    switch (method.methodKind) {
      case "unary":
        client[method.localName] = (request: unknown, options?: CallOptions) =>
          new Promise((resolve, reject) => {
            fn(create(input, request as MessageInitShape<DescMessage>), options?.metadata ?? new grpc.Metadata(), callOptions(options), (err: unknown, res: unknown) => (err ? reject(err) : resolve(res)));
          });
        break;
      case "server_streaming":
        client[method.localName] = (request: unknown, options?: CallOptions) =>
          fn(create(input, request as MessageInitShape<DescMessage>), options?.metadata ?? new grpc.Metadata(), callOptions(options)) as AsyncIterable<unknown>;
        break;
      case "client_streaming":
        client[method.localName] = (requests: Iterable<unknown> | AsyncIterable<unknown>, options?: CallOptions) =>
          new Promise((resolve, reject) => {
            const call = fn(options?.metadata ?? new grpc.Metadata(), callOptions(options), (err: unknown, res: unknown) => (err ? reject(err) : resolve(res))) as grpc.ClientWritableStream<unknown>;
            writeAllRequests(call, input, requests).catch((err) => {
              call.cancel();
              reject(err);
            });
          });
        break;
      case "bidi_streaming":
        client[method.localName] = (options?: CallOptions) => {
          const call = fn(options?.metadata ?? new grpc.Metadata(), callOptions(options)) as grpc.ClientDuplexStream<unknown, unknown>;
          return {
            async send(request: unknown) {
              if (!call.write(create(input, request as MessageInitShape<DescMessage>))) await once(call, "drain");
            },
            close: () => call.end(),
            cancel: () => call.cancel(),
            responses: call as AsyncIterable<unknown>,
          };
        };
        break;
    }
  }
  return client as Client<S>;
}
