import type * as grpc from "@grpc/grpc-js";
import { HealthImplementation, service as healthServiceDefinition, type ServingStatus } from "grpc-health-check";

/** The fully qualified name of the standard health service. */
export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

type Handlers = Parameters<Parameters<HealthImplementation["addToServer"]>[0]["addService"]>[1];
type WatchCall = grpc.ServerWritableStream<unknown, unknown>;

/**
 * The standard gRPC health service (grpc.health.v1.Health, from the
 * grpc-health-check package) for the whole server ("") and each served
 * service. Statuses start NOT_SERVING: the server listens before its log is
 * open (a JetStream front end's rebuild can take many seconds) and marks them
 * SERVING once the log is open and the services are built, NOT_SERVING again
 * when shutdown starts (or its store refuses to write), so load balancers
 * send nothing before it is ready and drain it first. Watch streams never
 * end by themselves, which would hold a graceful shutdown until its
 * deadline: this wrapper ends them on shutdown.
 */
export class HealthService {
  private readonly impl: HealthImplementation;
  private readonly watches = new Set<WatchCall>();

  constructor(private readonly serviceNames: readonly string[]) {
    this.impl = new HealthImplementation(Object.fromEntries(["", ...serviceNames].map((name) => [name, "NOT_SERVING" as ServingStatus])));
  }

  /** Sets every service (and "") to `status`. */
  setAll(status: "SERVING" | "NOT_SERVING"): void {
    for (const name of ["", ...this.serviceNames]) this.impl.setStatus(name, status);
  }

  /** Adds grpc.health.v1.Health to the server. */
  addToServer(server: grpc.Server): void {
    this.impl.addToServer({
      addService: (definition, handlers: Handlers) => {
        const watch = handlers.watch as (call: WatchCall) => void;
        const tracked = (call: WatchCall) => {
          this.watches.add(call);
          const forget = () => this.watches.delete(call);
          call.once("cancelled", forget);
          call.once("finish", forget);
          watch(call);
        };
        server.addService(definition as unknown as grpc.ServiceDefinition, { ...handlers, watch: tracked } as unknown as grpc.UntypedServiceImplementation);
      },
    });
  }

  /** Marks everything NOT_SERVING (watchers are told) and ends the open Watch streams. */
  shutdown(): void {
    this.setAll("NOT_SERVING");
    for (const call of this.watches) call.end();
    this.watches.clear();
  }
}

/** The health service's grpc-js definition, for clients (e.g. `makeGenericClientConstructor`). */
export const healthDefinition = healthServiceDefinition as unknown as grpc.ServiceDefinition;
