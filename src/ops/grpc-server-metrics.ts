import type { DescMethod } from "@bufbuild/protobuf";
import { Counter, Histogram, type Registry } from "prom-client";
import type { RefusedCall } from "../auth/interceptor.js";
import type { CallContext, CallObserver, CallProbe } from "../rpc/grpc-adapter.js";

/** The grpc_type label: how the gRPC ecosystem names a method's kind. */
export type GrpcType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

const TYPES: Readonly<Record<DescMethod["methodKind"], GrpcType>> = {
  unary: "unary",
  client_streaming: "client_stream",
  server_streaming: "server_stream",
  bidi_streaming: "bidi_stream",
};

/**
 * Status code names as grpc-go spells them (`codes.Code.String()`), by code
 * number: the grpc_code values that dashboards and alerts written for
 * go-grpc-prometheus servers match (`grpc_code!="OK"`, `grpc_code="Unavailable"`).
 */
export const GRPC_CODE_NAMES: readonly string[] = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied",
  "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
]; // prettier-ignore

/** The grpc_code label of a status code (its number for a code gRPC does not define). */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? String(code);
}

/**
 * Upper bounds of grpc_server_handling_seconds. go-grpc-prometheus starts at
 * 5 ms; a durable unary write here takes well under that, so the buckets
 * start at 250 µs and end at 10 s (a long ReadEvents follower lands in +Inf,
 * as in Go).
 */
const HANDLING_BUCKETS_SECONDS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels = "grpc_type" | "grpc_service" | "grpc_method";

/**
 * The per-RPC server metrics of the gRPC ecosystem, with go-grpc-prometheus's
 * names and labels: grpc_server_started_total, grpc_server_handled_total
 * (with grpc_code), grpc_server_handling_seconds (a histogram),
 * grpc_server_msg_received_total and grpc_server_msg_sent_total (a stream
 * counts each message). A {@link CallObserver} of the gRPC adapter: label
 * values are bound once per method, so a call costs a few increments.
 */
export class GrpcServerMetrics implements CallObserver {
  private readonly started: Counter<Labels>;
  private readonly handled: Counter<Labels | "grpc_code">;
  private readonly handling: Histogram<Labels>;
  private readonly received: Counter<Labels>;
  private readonly sent: Counter<Labels>;

  constructor(registers: Registry[]) {
    const labelNames = ["grpc_type", "grpc_service", "grpc_method"] as const;
    this.started = new Counter({ name: "grpc_server_started_total", help: "Total number of RPCs started on the server.", labelNames, registers });
    this.handled = new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: [...labelNames, "grpc_code"],
      registers,
    });
    this.handling = new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
      labelNames,
      buckets: HANDLING_BUCKETS_SECONDS,
      registers,
    });
    this.received = new Counter({ name: "grpc_server_msg_received_total", help: "Total number of RPC stream messages received on the server.", labelNames, registers });
    this.sent = new Counter({ name: "grpc_server_msg_sent_total", help: "Total number of gRPC stream messages sent by the server.", labelNames, registers });
  }

  /**
   * Binds the method's labels and starts its series at zero (as
   * go-grpc-prometheus's InitializeMetrics does: a rate over a method never
   * called is 0, not absent); returns what starts a probe per call.
   */
  method(method: DescMethod): (ctx: CallContext) => CallProbe {
    const labels = { grpc_type: TYPES[method.methodKind], grpc_service: method.parent.typeName, grpc_method: method.name };
    const started = this.started.labels(labels);
    const received = this.received.labels(labels);
    const sent = this.sent.labels(labels);
    const handling = this.handling.labels(labels);
    // One bound child per status code, every code made at once (below): an alert on
    // Internal or Unavailable reads 0, not "no data", until the first one.
    const handled: Array<{ inc(): void } | undefined> = [];
    const handledWith = (code: number) => (handled[code] ??= this.handled.labels({ ...labels, grpc_code: grpcCodeName(code) }));
    for (const counter of [started, received, sent, ...GRPC_CODE_NAMES.map((_, code) => handledWith(code))]) counter.inc(0);
    return () => {
      started.inc();
      const since = performance.now();
      return {
        received: () => received.inc(),
        sent: () => sent.inc(),
        ended: (code) => {
          handledWith(code).inc();
          handling.observe((performance.now() - since) / 1000);
        },
      };
    };
  }

  /**
   * Counts a call the auth interceptor refused before any handler saw it
   * (UNAUTHENTICATED, PERMISSION_DENIED), as a Go server whose metrics
   * interceptor runs before its auth interceptor would. Only registered
   * methods reach interceptors (grpc-js answers UNIMPLEMENTED for others
   * first), so a client cannot make up label values.
   */
  refused(call: RefusedCall): void {
    const i = call.path.lastIndexOf("/");
    const labels = { grpc_type: call.type, grpc_service: call.path.slice(1, i), grpc_method: call.path.slice(i + 1) };
    this.started.inc(labels);
    this.handled.inc({ ...labels, grpc_code: call.outcome === "denied" ? "PermissionDenied" : "Unauthenticated" });
  }
}
