import type { DescService } from "@bufbuild/protobuf";
import { methodPath } from "../rpc/grpc-adapter.js";

/**
 * What a token may do. writer: log and ingest events, record trust outcomes.
 * reader: replay and tail the log, read trust metrics and reports, reflection.
 * admin: everything, including trust imports, decay and server-side files.
 */
export type Role = "writer" | "reader" | "admin";

/** All roles, for parsing. */
export const roles: readonly Role[] = ["writer", "reader", "admin"];

// Methods that are not the service's default role, by proto method name.
const exceptions: Readonly<Record<string, Readonly<Record<string, Role>>>> = {
  "pulse.learninglog.v1.LearningLogService": {
    ReadEvents: "reader",
    ExportTrustData: "admin",
    ImportTrustData: "admin",
  },
  "pulse.trust.v1.TrustService": {
    Update: "writer",
    BatchUpdate: "writer",
    GetMetrics: "reader",
    GenerateReport: "reader",
    ExportTrust: "reader",
  },
};

// The role of every other method of a service.
const serviceDefaults: Readonly<Record<string, Role>> = {
  "pulse.learninglog.v1.LearningLogService": "writer",
  "pulse.trust.v1.TrustService": "admin",
  // OTLP logs in: an export writes events, like LogBatch.
  "opentelemetry.proto.collector.logs.v1.LogsService": "writer",
  "grpc.reflection.v1.ServerReflection": "reader",
  "grpc.reflection.v1alpha.ServerReflection": "reader",
};

/** Services anyone may call without a token (a load balancer's health probe). */
const publicServices = new Set(["grpc.health.v1.Health"]);

/** The role a method needs, "public" for none; unknown methods need admin. */
export function requiredRole(path: string): Role | "public" {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return "admin";
  const [, service, method] = m;
  if (publicServices.has(service)) return "public";
  return exceptions[service]?.[method] ?? serviceDefaults[service] ?? "admin";
}

/** True when a token with these roles may call a method needing `needed`: any one of them is enough. */
export function allows(granted: readonly Role[], needed: Role | "public"): boolean {
  return needed === "public" || granted.includes("admin") || granted.includes(needed);
}

/** The role of every method of the given services (for docs and tests). */
export function roleTable(services: readonly DescService[]): Array<{ path: string; role: Role | "public" }> {
  return services.flatMap((s) => s.methods.map((m) => ({ path: methodPath(m), role: requiredRole(methodPath(m)) })));
}
