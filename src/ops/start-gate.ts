import { status } from "@grpc/grpc-js";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { ServiceError } from "../errors.js";
import type { ServiceImpl } from "../rpc/grpc-adapter.js";

/** A service behind the gate: `impl` goes to the server at once; `serve` hands it the real implementation. */
export interface GatedService<S extends GenServiceMethods> {
  /** What the server registers before it is ready: refuses while starting, then calls the real implementation. */
  readonly impl: ServiceImpl<S>;
  /** From now on, calls go to `real`. */
  serve(real: ServiceImpl<S>): void;
}

/**
 * What a starting server answers. The server listens before it opens its
 * log (a JetStream front end rebuilds its dedup window and tail, which can
 * take many seconds), so that a load balancer meets NOT_SERVING on the health
 * service rather than a refused connection; meanwhile every call of the
 * served services ends UNAVAILABLE saying what the start is doing (with
 * google.rpc.RetryInfo, as every UNAVAILABLE: see status-details.ts), and
 * once a service gets its real implementation, its calls go there.
 */
export class StartGate {
  private refusal: ServiceError;

  constructor(doing: string) {
    this.refusal = StartGate.refusalFor(doing);
  }

  private static refusalFor(doing: string): ServiceError {
    return new ServiceError(status.UNAVAILABLE, `the server is starting (${doing}) and does not serve yet; try again shortly`);
  }

  /** Says what the start does now, in the words a refused call gets, e.g. "opening the log". */
  starting(doing: string): void {
    this.refusal = StartGate.refusalFor(doing);
  }

  /** The UNAVAILABLE a call gets now. */
  get error(): ServiceError {
    return this.refusal;
  }

  /** Puts `service` behind the gate: its methods refuse until {@link GatedService.serve} hands over the real ones. */
  service<S extends GenServiceMethods>(service: GenService<S>): GatedService<S> {
    let real: Record<string, (...args: unknown[]) => unknown> | undefined;
    const impl: Record<string, (...args: unknown[]) => unknown> = {};
    for (const method of service.methods) {
      const name = method.localName;
      // The adapter calls the method per call: once served, each call goes straight to the real one.
      const refuse = (): never => {
        throw this.refusal;
      };
      switch (method.methodKind) {
        case "unary":
        case "client_streaming":
          impl[name] = (...args) => (real === undefined ? Promise.reject(this.refusal) : real[name](...args));
          break;
        case "server_streaming":
        case "bidi_streaming":
          // A stream's refusal ends it before any message: the request stream is never read.
          impl[name] = (...args) =>
            real === undefined
              ? (async function* () {
                  yield refuse();
                })()
              : real[name](...args);
          break;
      }
    }
    return {
      impl: impl as unknown as ServiceImpl<S>,
      serve: (r) => {
        real = r as unknown as Record<string, (...args: unknown[]) => unknown>;
      },
    };
  }
}
