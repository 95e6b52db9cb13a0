/**
 * An ingest worker thread: prepares the batch requests the main thread
 * sends (batch-preparation.ts), one at a time, answering each in turn.
 */
import { isMainThread, parentPort, workerData, type MessagePort } from "node:worker_threads";
import { createBatchPreparer, errorData } from "./batch-preparation.js";
import { INGEST_WORKER_DATA, type IngestWorkerConfig, type PrepareAnswer, type PrepareRequest } from "./ingest-protocol.js";

/** What an answer transfers rather than copies. */
function transfers(answer: PrepareAnswer): ArrayBuffer[] {
  if (answer.kind === "prepared") return [answer.columns.buffer as ArrayBuffer, answer.bodies.buffer as ArrayBuffer];
  if (answer.kind === "in-thread") return [answer.bytes.buffer as ArrayBuffer];
  return [];
}

/** Answers the prepare requests that arrive on `port`, in order. */
export function serveIngestRequests(port: MessagePort, config: IngestWorkerConfig): void {
  const prepare = createBatchPreparer(config);
  let previous: Promise<void> = Promise.resolve();
  port.on("message", (request: PrepareRequest) => {
    // One batch at a time: the writer's notes are the batch's own.
    previous = previous
      .then(() => prepare(request))
      .then(
        (answer) => port.postMessage(answer, transfers(answer)),
        // A bug of ours: the batch fails INTERNAL with its cause, the worker goes on.
        (err: unknown) => port.postMessage({ id: request.id, kind: "failed", code: 13, message: "internal error", violations: [], cause: errorData(err), notes: { rejected: [], redacted: [] } } satisfies PrepareAnswer),
      );
  });
}

const config = (workerData as Record<string, unknown> | null)?.[INGEST_WORKER_DATA] as IngestWorkerConfig | undefined;
if (!isMainThread && parentPort !== null && config !== undefined) serveIngestRequests(parentPort, config);
