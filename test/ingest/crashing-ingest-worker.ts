/**
 * An ingest worker that stops its thread on a batch whose run is "crash"
 * (as a worker that runs out of memory would), for the pool's crash tests.
 */
import { parentPort } from "node:worker_threads";
import "../../src/ingest/ingest-worker.js";

parentPort!.on("message", (request: { run?: string }) => {
  if (request.run === "crash") process.exit(70);
});
