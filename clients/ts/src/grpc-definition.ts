import { fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** Wraps encoded bytes as the Buffer grpc-js needs (it calls Buffer#copy), without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function serializer<D extends DescMessage>(schema: D): (value: MessageShape<D>) => Buffer {
  return (value) => asBuffer(toBinary(schema, value));
}

function deserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(schema, bytes);
}

/**
 * The grpc-js definition of a protobuf-es service: one entry per method,
 * keyed by its localName, on the path other languages' clients and the
 * server use (`/<package.Service>/<ProtoName>`), with protobuf-es codecs.
 * `rawRequests` names methods whose requests the caller encodes itself
 * (their serializer passes a Buffer through).
 */
export function serviceDefinition(service: DescService, rawRequests: ReadonlySet<string> = new Set()): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const raw = rawRequests.has(method.localName);
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: (raw ? (bytes: Buffer) => bytes : serializer(method.input)) as (value: unknown) => Buffer,
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output) as (value: unknown) => Buffer,
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition;
}
