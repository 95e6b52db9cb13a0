import { status } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { RunStatus, type HoldRunRequest, type HoldRunResponseSchema, type ListRunsRequest, type ListRunsResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../errors.js";
import type { CallContext } from "../rpc/grpc-adapter.js";
import { checkRun } from "../runs/call-run.js";
import type { RunIndex, RunState } from "../runs/run-index.js";
import { shutdownFanout } from "./shutdown-fanout.js";

const STATUS: Readonly<Record<RunState, RunStatus>> = {
  logging: RunStatus.LOGGING,
  finished: RunStatus.FINISHED,
  failed: RunStatus.FAILED,
  "ended-without-finish": RunStatus.ENDED_WITHOUT_FINISH,
};

/** Options of the run handlers. */
export interface RunHandlerOptions {
  /** Aborted when the server shuts down: holds end with UNAVAILABLE (clients hold again once it is back). */
  shutdown?: AbortSignal;
  /** Most runs named in one ListRuns. Default 1,000. */
  runsMax?: number;
}

/** ListRuns and HoldRun: the runs the log holds, from the run index, and the processes logging into them. */
export function createRunHandlers(index: RunIndex, options: RunHandlerOptions = {}) {
  const stopping = shutdownFanout(options.shutdown);
  const runsMax = options.runsMax ?? 1000;
  return {
    async listRuns(request: ListRunsRequest, ctx: CallContext): Promise<MessageInitShape<typeof ListRunsResponseSchema>> {
      if (request.runs.length > runsMax) throw ServiceError.invalid("runs", `at most ${runsMax} runs`);
      request.runs.forEach((r, i) => checkRun(r, `runs[${i}]`));
      const runs = await index.list(new Set(request.runs), ctx.signal);
      return {
        indexedSeq: BigInt(index.indexedSeq),
        runs: runs.map((r) => ({
          run: r.run,
          firstSeq: BigInt(r.firstSeq),
          lastSeq: BigInt(r.lastSeq),
          firstTimestamp: r.firstTimestamp,
          lastTimestamp: r.lastTimestamp,
          eventCount: BigInt(r.count),
          eventTypes: Object.fromEntries(Object.entries(r.types).map(([t, n]) => [t, BigInt(n)])),
          status: STATUS[r.state],
          error: r.error,
        })),
      };
    },

    /** Answers once, then holds the run until the client goes (or the server stops). */
    async *holdRun(request: HoldRunRequest, ctx: CallContext): AsyncIterable<MessageInitShape<typeof HoldRunResponseSchema>> {
      const run = checkRun(request.run, "run");
      const release = index.hold(run);
      let wake: () => void = () => {};
      const ended = new Promise<void>((resolve) => (wake = resolve));
      const stopWaiting = stopping.onShutdown(wake);
      ctx.signal.addEventListener("abort", wake);
      try {
        yield { run };
        await ended;
        if (!ctx.signal.aborted) throw new ServiceError(status.UNAVAILABLE, "server is shutting down; hold the run again once it is back");
      } finally {
        stopWaiting();
        ctx.signal.removeEventListener("abort", wake);
        release();
      }
    },
  };
}
