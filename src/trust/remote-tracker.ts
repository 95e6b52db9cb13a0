import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { ServiceError, type ErrorCode } from "../errors.js";
import { createClient, type Client } from "../rpc/client.js";
import type { ImportMode, TrustOutcome, TrustTrackerClient } from "./client.js";
import { importModeToProto, metricsFromProto, recordFromProto, recordToProto, reportFromProto } from "./proto-mapping.js";
import type { KeyMetrics, ReportOptions, TrustRecord, TrustReport } from "./tracker.js";
import { fieldViolationsOf } from "../rpc/status-details.js";

/** Options of the remote tracker client. */
export interface RemoteTrustTrackerOptions {
  /** host:port of a server that serves pulse.trust.v1.TrustService. */
  address: string;
  /** Deadline of each call, in ms. Default 30,000. */
  callTimeoutMs?: number;
  /** Most bytes of records sent in one ImportTrust message (under the 4 MiB message limit). Default 1 MiB. */
  importMessageBytesMax?: number;
  /** Channel credentials (TLS, mTLS). Default: insecure, for a loopback tracker. */
  credentials?: grpc.ChannelCredentials;
  /** Metadata sent with every call, e.g. `authorization: Bearer ...` for a tracker that requires tokens. Default none. */
  metadata?: Readonly<Record<string, string>>;
}

// Statuses the remote answers on purpose, passed on unchanged to our caller.
const PASSED_ON = new Set<number>([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.PERMISSION_DENIED,
  status.RESOURCE_EXHAUSTED,
  status.FAILED_PRECONDITION,
  status.UNAVAILABLE,
  status.UNIMPLEMENTED,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
]);

/**
 * The remote tracker's answer as our own status: its refusals pass through
 * with their message (they name the request's fields, which are ours too);
 * anything else is INTERNAL, its cause kept for the server log.
 */
function fromRemote(err: unknown, address: string): ServiceError {
  const e = err as { code?: number; details?: string; message?: string; metadata?: grpc.Metadata };
  if (typeof e?.code === "number" && PASSED_ON.has(e.code)) {
    const details = e.details ?? e.message ?? "";
    const message = e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED ? `trust tracker at ${address}: ${details}` : details;
    // The refused fields come as data too (google.rpc.BadRequest), so they can be renamed like ours.
    return new ServiceError(e.code as ErrorCode, message, { cause: err, violations: e.metadata ? fieldViolationsOf(e.metadata) : [] });
  }
  return new ServiceError(status.INTERNAL, "internal error", { cause: err });
}

/**
 * The TrustTrackerClient over the generated gRPC client stub: the logging
 * service's way to a remote tracker (another instance of this server). Every
 * method is one TrustService call; the remote validates, logs and persists.
 */
export class RemoteTrustTracker implements TrustTrackerClient {
  private readonly client: Client<typeof TrustService.method>;
  private readonly timeoutMs: number;
  private readonly importBytesMax: number;
  private readonly metadata: grpc.Metadata;

  constructor(private readonly options: RemoteTrustTrackerOptions) {
    this.client = createClient(TrustService, options.address, options.credentials);
    this.metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(options.metadata ?? {})) this.metadata.set(k, v);
    this.timeoutMs = options.callTimeoutMs ?? 30_000;
    this.importBytesMax = options.importMessageBytesMax ?? 1024 * 1024;
  }

  private async call<T>(fn: (options: { deadline: number; metadata: grpc.Metadata }) => Promise<T>): Promise<T> {
    try {
      return await fn({ deadline: this.timeoutMs, metadata: this.metadata.clone() });
    } catch (err) {
      throw fromRemote(err, this.options.address);
    }
  }

  async update(outcomes: readonly TrustOutcome[]): Promise<{ metrics: KeyMetrics[]; seq: number }> {
    // Always BatchUpdate: one call for any count, and the remote names fields outcomes[i] as our interface does.
    const res = await this.call((o) => this.client.batchUpdate({ outcomes: outcomes.map((x) => ({ ...x })) }, o));
    return { metrics: res.metrics.map(metricsFromProto), seq: Number(res.seq) };
  }

  async getMetrics(keys: readonly string[], z?: number): Promise<KeyMetrics[]> {
    const res = await this.call((o) => this.client.getMetrics({ keys: [...keys], z }, o));
    return res.metrics.map(metricsFromProto);
  }

  async applyDecay(key: string | undefined, factor: number, minCount: number): Promise<{ keysDecayed: number; seq: number }> {
    const res = await this.call((o) => this.client.applyDecay({ key, factor, minCount }, o));
    return { keysDecayed: res.keysDecayed, seq: Number(res.seq) };
  }

  async report(options: ReportOptions): Promise<TrustReport> {
    const res = await this.call((o) => this.client.generateReport({ ...options }, o));
    if (res.report === undefined) throw new ServiceError(status.INTERNAL, "internal error", { cause: new Error("remote report without a report") });
    return reportFromProto(res.report);
  }

  async exportRecords(): Promise<TrustRecord[]> {
    return this.call(async (o) => {
      const records: TrustRecord[] = [];
      for await (const message of this.client.exportTrust({}, o)) {
        if (message.record !== undefined) records.push(recordFromProto(message.record));
      }
      return records;
    });
  }

  async importRecords(records: readonly TrustRecord[], mode: ImportMode): Promise<{ keyCount: number; seq: number }> {
    const protoMode = importModeToProto(mode);
    const bytesMax = this.importBytesMax;
    // Chunks by an estimate of their encoded size (a point is two doubles, ~20 bytes).
    function* messages() {
      let chunk: ReturnType<typeof recordToProto>[] = [];
      let bytes = 0;
      for (const r of records) {
        const size = 64 + r.key.length * 3 + r.history.length * 20;
        if (chunk.length > 0 && bytes + size > bytesMax) {
          yield { mode: protoMode, records: chunk };
          chunk = [];
          bytes = 0;
        }
        chunk.push(recordToProto(r));
        bytes += size;
      }
      yield { mode: protoMode, records: chunk };
    }
    const res = await this.call((o) => this.client.importTrust(messages(), o));
    return { keyCount: res.keyCount, seq: Number(res.seq) };
  }

  async exportToFile(path: string): Promise<{ path: string; keyCount: number }> {
    const res = await this.call((o) => this.client.exportTrustToFile({ path }, o));
    return { path: res.path, keyCount: res.keyCount };
  }

  async importFromFile(path: string, mode: ImportMode): Promise<{ found: boolean; keyCount: number }> {
    const res = await this.call((o) => this.client.importTrustFromFile({ path, mode: importModeToProto(mode) }, o));
    return { found: res.found, keyCount: res.keyCount };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
