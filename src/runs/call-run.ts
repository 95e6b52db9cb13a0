import { AsyncLocalStorage } from "node:async_hooks";
import type { Metadata } from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import type { CallContext } from "../rpc/grpc-adapter.js";
import { ServiceError } from "../errors.js";
import { runIdProblem } from "../record/layout.js";

/** The request metadata naming the call's run: events of the call that name none belong to it. */
export const RUN_METADATA = "pulse-run";

/** Checks a run id; INVALID_ARGUMENT names `field`. Returns the id. */
export function checkRun(run: string, field: string): string {
  const problem = runIdProblem(run);
  if (problem !== undefined) throw ServiceError.invalid(field, `run ${problem}`);
  return run;
}

/** The call's run from its metadata (checked), or undefined when it names none. */
export function callRun(metadata: Metadata): string | undefined {
  const values = metadata.get(RUN_METADATA);
  if (values.length === 0) return undefined;
  if (values.length > 1) throw ServiceError.invalid(`metadata ${RUN_METADATA}`, `one run per call, not ${values.length}`);
  const value = values[0];
  if (typeof value !== "string") throw ServiceError.invalid(`metadata ${RUN_METADATA}`, "must be text, not binary");
  return checkRun(value, `metadata ${RUN_METADATA}`);
}

/**
 * The run of the call being served, for records written deep below the
 * handler without a run parameter on the way (the trust tracker's audit
 * records). Set by {@link withCallRuns}.
 */
export const currentRun = new AsyncLocalStorage<string | undefined>();

/**
 * The implementation of `service` with each call answered once (unary and
 * client-streaming methods) run with its call's run (from the metadata,
 * checked) as {@link currentRun}. Server-streaming methods are left as they
 * are: their generators run outside the call's frame.
 */
export function withCallRuns<T extends object>(service: DescService, impl: T): T {
  const out: Record<string, unknown> = { ...(impl as Record<string, unknown>) };
  for (const method of service.methods) {
    const fn = (impl as Record<string, unknown>)[method.localName];
    if (typeof fn !== "function" || (method.methodKind !== "unary" && method.methodKind !== "client_streaming")) continue;
    const handler = fn as (request: unknown, ctx: CallContext) => Promise<unknown>;
    out[method.localName] = (request: unknown, ctx: CallContext) => currentRun.run(callRun(ctx.metadata), () => handler(request, ctx));
  }
  return out as T;
}
