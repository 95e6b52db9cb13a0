import * as grpc from "@grpc/grpc-js";
import { create, createFileRegistry, fromBinary, type DescService } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type DescriptorProto, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";

/** The reflection method this helper speaks (grpc.reflection.v1, the current version). */
export const REFLECTION_PATH = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

const identity = (b: Buffer) => b;

// ServerReflectionRequest: file_by_filename = 3, file_containing_symbol = 4, list_services = 7.
function request(field: 3 | 4 | 7, text: string): Buffer {
  return Buffer.from(new BinaryWriter().tag(field, WireType.LengthDelimited).string(text).finish());
}

interface ReflectionAnswer {
  services: string[];
  files: Uint8Array[];
  error?: string;
}

// ServerReflectionResponse: file_descriptor_response = 4 { repeated bytes file_descriptor_proto = 1 },
// list_services_response = 6 { repeated ServiceResponse service = 1 { string name = 1 } }, error_response = 7.
function decodeAnswer(bytes: Buffer): ReflectionAnswer {
  const out: ReflectionAnswer = { services: [], files: [] };
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 4 || no === 6) {
      const inner = new BinaryReader(r.bytes());
      while (inner.pos < inner.len) {
        const [n, w] = inner.tag();
        if (n !== 1) {
          inner.skip(w);
          continue;
        }
        if (no === 4) out.files.push(inner.bytes());
        else {
          const svc = new BinaryReader(inner.bytes());
          while (svc.pos < svc.len) {
            const [sn, sw] = svc.tag();
            if (sn === 1) out.services.push(svc.string());
            else svc.skip(sw);
          }
        }
      }
    } else if (no === 7) {
      out.error = "error_response";
      r.skip(wt);
    } else r.skip(wt);
  }
  return out;
}

/**
 * Descriptors made by @grpc/proto-loader (the health service's) name types
 * relative to their scope; protoc writes them fully qualified, which is what
 * a registry expects. Resolves them the way protoc does: innermost scope first.
 */
function qualifyTypeNames(files: Iterable<FileDescriptorProto>): void {
  const known = new Set<string>();
  const collect = (scope: string, messages: DescriptorProto[], enums: Array<{ name: string }>) => {
    for (const e of enums) known.add(`${scope}.${e.name}`);
    for (const m of messages) {
      known.add(`${scope}.${m.name}`);
      collect(`${scope}.${m.name}`, m.nestedType, m.enumType);
    }
  };
  const all = [...files];
  for (const f of all) collect(f.package ? `.${f.package}` : "", f.messageType, f.enumType);
  const resolve = (scope: string, name: string): string => {
    if (name === "" || name.startsWith(".")) return name;
    for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf(".")))) {
      if (known.has(`${s}.${name}`)) return `${s}.${name}`;
      if (s === "") return name;
    }
  };
  const visit = (scope: string, messages: DescriptorProto[]) => {
    for (const m of messages) {
      const inner = `${scope}.${m.name}`;
      for (const f of m.field) if (f.typeName !== undefined) f.typeName = resolve(inner, f.typeName);
      visit(inner, m.nestedType);
    }
  };
  for (const f of all) {
    const scope = f.package ? `.${f.package}` : "";
    visit(scope, f.messageType);
    for (const svc of f.service) {
      for (const m of svc.method) {
        if (m.inputType !== undefined) m.inputType = resolve(scope, m.inputType);
        if (m.outputType !== undefined) m.outputType = resolve(scope, m.outputType);
      }
    }
  }
}

/** Sends requests on one reflection stream and collects the answers. */
function ask(client: grpc.Client, requests: Buffer[]): Promise<ReflectionAnswer[]> {
  return new Promise((resolve, reject) => {
    const answers: ReflectionAnswer[] = [];
    const call = client.makeBidiStreamRequest(REFLECTION_PATH, identity, identity, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    call.on("data", (b: Buffer) => answers.push(decodeAnswer(b)));
    call.on("error", () => undefined);
    call.on("status", (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve(answers) : reject(Object.assign(new Error(s.details), { code: s.code }))));
    for (const r of requests) call.write(r);
    call.end();
  });
}

/**
 * Asks a server, through standard gRPC reflection, which services it serves
 * and returns their descriptors (built from the file descriptors it sends).
 * Resolves with undefined when the server has no reflection service.
 */
export async function reflectedServices(address: string): Promise<DescService[] | undefined> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    let names: string[];
    try {
      [{ services: names }] = await ask(client, [request(7, "")]);
    } catch (err) {
      if ((err as { code?: number }).code === grpc.status.UNIMPLEMENTED) return undefined;
      throw err;
    }
    const answers = await ask(
      client,
      names.map((n) => request(4, n)),
    );
    const files = new Map<string, FileDescriptorProto>();
    const add = (list: ReflectionAnswer[]) => {
      for (const a of list) {
        for (const bytes of a.files) {
          const file = fromBinary(FileDescriptorProtoSchema, bytes);
          files.set(file.name, file);
        }
      }
    };
    add(answers);
    // Like grpcurl: ask by file name for imports the answers did not carry.
    for (let round = 0; round < 10; round++) {
      const missing = [...new Set([...files.values()].flatMap((f) => f.dependency))].filter((d) => !files.has(d));
      if (missing.length === 0) break;
      add(await ask(client, missing.map((d) => request(3, d))));
    }
    qualifyTypeNames(files.values());
    // A FileDescriptorSet lists dependencies before the files importing them.
    const ordered: FileDescriptorProto[] = [];
    const visit = (name: string) => {
      const file = files.get(name);
      if (file === undefined || ordered.includes(file)) return;
      file.dependency.forEach(visit);
      ordered.push(file);
    };
    [...files.keys()].forEach(visit);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
    return names.map((n) => {
      const service = registry.getService(n);
      if (service === undefined) throw new Error(`reflection lists ${n} but sends no descriptor for it`);
      return service;
    });
  } finally {
    client.close();
  }
}
