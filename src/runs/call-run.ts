import type { Metadata } from "@grpc/grpc-js";
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
