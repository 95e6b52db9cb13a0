import * as grpc from "@grpc/grpc-js";
import type { DescMethod } from "@bufbuild/protobuf";

/** How a call ended, as the client saw it. */
export interface RawResult {
  code: grpc.status;
  details: string;
  /** Every response message, undecoded. */
  responses: Buffer[];
}

const identity = (b: Buffer) => b;
const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * Calls `path` with raw request bytes through a generic grpc-js client: one
 * payload for unary and server-streaming methods, any number (then a
 * half-close) for client-streaming and bidi ones. Always resolves with the
 * final status; the deadline makes sure a hanging call ends too.
 */
export function rawCall(client: grpc.Client, path: string, kind: DescMethod["methodKind"], payloads: readonly Uint8Array[], deadlineMs: number): Promise<RawResult> {
  const options: grpc.CallOptions = { deadline: Date.now() + deadlineMs };
  const metadata = new grpc.Metadata();
  return new Promise((resolve) => {
    const responses: Buffer[] = [];
    const done = (err: grpc.ServiceError | null, value?: Buffer) => {
      if (value !== undefined) responses.push(value);
      resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? "", responses });
    };
    switch (kind) {
      case "unary":
        client.makeUnaryRequest(path, identity, identity, asBuffer(payloads[0] ?? new Uint8Array()), metadata, options, done);
        return;
      case "client_streaming": {
        const call = client.makeClientStreamRequest(path, identity, identity, metadata, options, done);
        for (const p of payloads) call.write(asBuffer(p));
        call.end();
        return;
      }
      case "server_streaming":
      case "bidi_streaming": {
        const call =
          kind === "server_streaming"
            ? client.makeServerStreamRequest(path, identity, identity, asBuffer(payloads[0] ?? new Uint8Array()), metadata, options)
            : client.makeBidiStreamRequest(path, identity, identity, metadata, options);
        call.on("data", (b: Buffer) => responses.push(b));
        // The status event carries the outcome; 'error' only repeats it.
        call.on("error", () => undefined);
        call.on("status", (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, responses }));
        if (kind === "bidi_streaming") {
          const duplex = call as grpc.ClientDuplexStream<Buffer, Buffer>;
          for (const p of payloads) duplex.write(asBuffer(p));
          duplex.end();
        }
        return;
      }
    }
  });
}
