import type * as grpc from "@grpc/grpc-js";
import { status as grpcStatus } from "@grpc/grpc-js";
import { markUndecodable, Undecodable, type InternalErrorSink } from "../rpc/grpc-adapter.js";
import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import { file_google_rpc_error_details } from "../../gen/ts/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/ts/google/rpc/status_pb.js";

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/**
 * The files of the types a status detail can hold: google.rpc.Status (the
 * grpc-status-details-bin trailer) and the detail messages this server
 * packs into it (BadRequest, RetryInfo), so a generic tool can decode them.
 */
export const STATUS_DETAIL_FILES: readonly DescFile[] = [file_google_rpc_status, file_google_rpc_error_details];

/**
 * The proto files that define `services` (and `files`), with everything
 * they import, each once, dependencies first (the order a
 * FileDescriptorSet wants).
 */
export function filesOf(services: readonly DescService[], files: readonly DescFile[] = []): DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    for (const dep of file.dependencies) visit(dep);
    out.push(file);
  };
  for (const s of services) visit(s.file);
  for (const f of files) visit(f);
  return out;
}

/**
 * grpc/health/v1/health.proto as upstream (grpc-proto) defines it and the
 * grpc-health-check package serves it (Check, Watch, List). Built here
 * because the descriptor @grpc/proto-loader makes of it is refused by
 * strict descriptor pools (its map entry); this one is what protoc makes:
 * the map field `statuses` with its nested `StatusesEntry` (map_entry),
 * every type name fully qualified.
 */
export const HEALTH_FILE: FileDescriptorProto = create(FileDescriptorProtoSchema, {
  name: "grpc/health/v1/health.proto",
  package: "grpc.health.v1",
  syntax: "proto3",
  messageType: [
    { name: "HealthListRequest" },
    {
      name: "HealthListResponse",
      field: [{ name: "statuses", jsonName: "statuses", number: 1, label: Label.REPEATED, type: Type.MESSAGE, typeName: ".grpc.health.v1.HealthListResponse.StatusesEntry" }],
      nestedType: [
        {
          name: "StatusesEntry",
          field: [
            { name: "key", jsonName: "key", number: 1, label: Label.OPTIONAL, type: Type.STRING },
            { name: "value", jsonName: "value", number: 2, label: Label.OPTIONAL, type: Type.MESSAGE, typeName: ".grpc.health.v1.HealthCheckResponse" },
          ],
          options: { mapEntry: true },
        },
      ],
    },
    { name: "HealthCheckRequest", field: [{ name: "service", jsonName: "service", number: 1, label: Label.OPTIONAL, type: Type.STRING }] },
    {
      name: "HealthCheckResponse",
      field: [{ name: "status", jsonName: "status", number: 1, label: Label.OPTIONAL, type: Type.ENUM, typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus" }],
      enumType: [
        {
          name: "ServingStatus",
          value: [
            { name: "UNKNOWN", number: 0 },
            { name: "SERVING", number: 1 },
            { name: "NOT_SERVING", number: 2 },
            { name: "SERVICE_UNKNOWN", number: 3 },
          ],
        },
      ],
    },
  ],
  service: [
    {
      name: "Health",
      method: [
        { name: "Check", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse" },
        { name: "Watch", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse", serverStreaming: true },
        { name: "List", inputType: ".grpc.health.v1.HealthListRequest", outputType: ".grpc.health.v1.HealthListResponse" },
      ],
    },
  ],
  options: { javaPackage: "io.grpc.health.v1", javaOuterClassname: "HealthProto", javaMultipleFiles: true, goPackage: "google.golang.org/grpc/health/grpc_health_v1", csharpNamespace: "Grpc.Health.V1" },
});

/** Standard descriptors of services served from other packages, by service name: served instead of the descriptors those packages carry. */
const STANDARD_FILES: Readonly<Record<string, FileDescriptorProto>> = { "grpc.health.v1.Health": HEALTH_FILE };

/**
 * A serialized google.protobuf.FileDescriptorSet of the services' files,
 * straight from the protobuf-es descriptors: what `grpcurl -protoset` and
 * other generic tools read.
 */
export function fileDescriptorSet(services: readonly DescService[]): Uint8Array {
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: filesOf(services).map((f) => f.proto) }));
}

/** FileDescriptorProtos carried by a definition that @grpc/proto-loader made (e.g. the health service's). */
function protosOfLoaderDefinition(definition: grpc.ServiceDefinition): Buffer[] {
  const out: Buffer[] = [];
  for (const method of Object.values(definition)) {
    const type = (method as { requestType?: { fileDescriptorProtos?: Buffer[] } }).requestType;
    out.push(...(type?.fileDescriptorProtos ?? []));
  }
  return out;
}

/**
 * Adds gRPC server reflection (grpc.reflection.v1 and v1alpha, from
 * @grpc/reflection) to the server, so generic tools can list and call its
 * services without the .proto files. `services` are our protobuf-es
 * services; `loaderDefinitions` are served services defined through
 * @grpc/proto-loader (the health service): their standard descriptor when
 * there is one ({@link HEALTH_FILE}), else the one that comes with them.
 * The types of status details ({@link STATUS_DETAIL_FILES}) are served too.
 * `sink` is told the cause of every INTERNAL this module sends (a request
 * that does not decode), as the adapter's sink is for our own services.
 */
export function addReflection(server: grpc.Server, services: readonly DescService[], loaderDefinitions: Record<string, grpc.ServiceDefinition> = {}, sink?: InternalErrorSink): void {
  const files = filesOf(services, STATUS_DETAIL_FILES).map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  const pkg: Record<string, { format: string; type: object; fileDescriptorProtos: Buffer[] }> = {};
  // The reflection service only reads fileDescriptorProtos of each entry.
  pkg["pulse.files"] = { format: "Protocol Buffer 3 FileDescriptorProto", type: {}, fileDescriptorProtos: files };
  for (const [name, definition] of Object.entries(loaderDefinitions)) {
    const standard = STANDARD_FILES[name];
    const protos = standard === undefined ? protosOfLoaderDefinition(definition) : [Buffer.from(toBinary(FileDescriptorProtoSchema, standard))];
    pkg[name] = { format: "Protocol Buffer 3 FileDescriptorProto", type: {}, fileDescriptorProtos: protos };
  }
  const served = [...services.map((s) => s.typeName), ...Object.keys(loaderDefinitions)];
  new ReflectionService(pkg as unknown as PackageDefinition, { services: served }).addToServer(guardedServer(server, sink));
}

/**
 * A server view for a library's services (reflection) that answers requests
 * which do not decode with INTERNAL itself. Left to grpc-js, such a message
 * late in a stream ends the stream under the library's handler, and the
 * final status never reaches the client (the call hangs).
 */
function guardedServer(server: grpc.Server, sink: InternalErrorSink | undefined): Pick<grpc.Server, "addService"> {
  return {
    addService(definition, implementation) {
      const guardedDefinition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
      const guardedImplementation: grpc.UntypedServiceImplementation = {};
      for (const [name, method] of Object.entries(definition)) {
        guardedDefinition[name] = { ...method, requestDeserialize: markUndecodable(method.requestDeserialize) };
        const handler = implementation[name] as (call: grpc.ServerDuplexStream<unknown, unknown>, ...rest: unknown[]) => void;
        guardedImplementation[name] = (method.requestStream ? (call: grpc.ServerDuplexStream<unknown, unknown>, ...rest: unknown[]) => handler(guardStream(call, method.path, sink), ...rest) : handler) as grpc.UntypedHandleCall;
      }
      server.addService(guardedDefinition, guardedImplementation);
    },
  };
}

/** Ends a request stream with INTERNAL at the first message that did not decode, instead of passing it on; the sink gets the decoder's error. */
function guardStream(call: grpc.ServerDuplexStream<unknown, unknown>, path: string, sink: InternalErrorSink | undefined): grpc.ServerDuplexStream<unknown, unknown> {
  const on = call.on.bind(call) as (event: string, listener: (...args: unknown[]) => void) => unknown;
  let failed = false;
  call.on = ((event: string, listener: (...args: unknown[]) => void) => {
    if (event !== "data") return on(event, listener);
    return on("data", (message: unknown) => {
      if (!(message instanceof Undecodable)) return listener(message);
      if (failed) return;
      failed = true;
      sink?.(message.error, path);
      call.emit("error", { code: grpcStatus.INTERNAL, details: "request does not decode" });
    });
  }) as unknown as typeof call.on;
  return call;
}
