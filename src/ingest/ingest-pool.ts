import { cpus } from "node:os";
import { Worker } from "node:worker_threads";
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ServiceError } from "../errors.js";
import { INGEST_WORKER_DATA, type BatchKind, type ErrorData, type IngestWorkerConfig, type PrepareAnswer, type PrepareRequest } from "./ingest-protocol.js";

/** Default of --ingest-workers: one per core beside the main thread's, at most four. */
export function defaultIngestWorkers(): number {
  return Math.min(4, Math.max(1, cpus().length));
}

/** Options of an {@link IngestPool}. */
export interface IngestPoolOptions {
  /** Worker threads, at least 1. */
  workers: number;
  /** What the workers check and guard with (the server's limits and PII options). */
  config: IngestWorkerConfig;
  /** Where a worker's crash is logged (error level, with its cause). */
  logger?: Logger;
  /** The worker's module (a seam for tests). Default ingest-worker.js beside this module. */
  workerScript?: URL;
}

/** Consecutive workers that end before answering anything, after which the pool stops starting them (a worker that cannot start would otherwise be restarted forever). */
const FAILED_STARTS_MAX = 3;

const DEFAULT_SCRIPT = new URL(import.meta.url.endsWith(".ts") ? "./ingest-worker.ts" : "./ingest-worker.js", import.meta.url);

/** Starts a worker on `script`; from TypeScript sources (tests) through tsx, as the main thread runs. */
function startWorker(script: URL, workerData: unknown): Worker {
  if (script.pathname.endsWith(".ts")) {
    const href = JSON.stringify(script.href);
    return new Worker(`import("tsx/esm/api").then((api) => api.tsImport(${href}, ${href}))`, { eval: true, workerData, execArgv: [] });
  }
  return new Worker(script, { workerData, execArgv: [] });
}

interface Pending {
  resolve(answer: PrepareAnswer): void;
  reject(err: unknown): void;
}

/** One worker thread and the batches it has not answered yet. */
interface Slot {
  worker: Worker;
  /** The worker's thread id (the Worker's own reads -1 once it stopped). */
  threadId: number;
  pending: Map<number, Pending>;
  /** It answered at least once (a worker that dies before that counts as a failed start). */
  answered: boolean;
  /** Why it stopped, when it threw. */
  error?: Error;
}

/** The error of a batch whose worker stopped before answering it. */
function workerStopped(cause: Error): ServiceError {
  return new ServiceError(status.INTERNAL, "internal error", { cause });
}

/** An error sent by a worker, rebuilt with its stack for the server log. */
export function rebuiltError(data: ErrorData): Error {
  const err = new Error(data.message);
  err.name = data.name;
  if (data.stack !== undefined) err.stack = data.stack;
  return err;
}

/**
 * Worker threads that decode, check, guard and encode batch requests
 * (src/ingest/batch-preparation.ts), so that the main thread only admits
 * requests, hands entries to the store and answers. Each batch goes to the
 * worker with the fewest unanswered batches. A worker that stops (a crash)
 * fails the batches it held with INTERNAL, its cause logged, and is
 * replaced; {@link close} waits for every batch sent to be answered.
 */
export class IngestPool {
  private readonly slots: Slot[] = [];
  private readonly script: URL;
  private nextId = 1;
  private next = 0;
  private closing = false;
  private failedStarts = 0;
  private broken: Error | undefined;
  private drained: (() => void) | undefined;
  /** Workers started to replace ones that stopped. */
  restarts = 0;

  constructor(private readonly options: IngestPoolOptions) {
    if (!(Number.isSafeInteger(options.workers) && options.workers >= 1)) throw new Error(`an ingest pool needs at least one worker, not ${options.workers}`);
    this.script = options.workerScript ?? DEFAULT_SCRIPT;
    for (let i = 0; i < options.workers; i++) this.slots.push(this.start());
  }

  /** Worker threads of the pool. */
  get size(): number {
    return this.slots.length;
  }

  /** Batches sent and not answered yet. */
  get pending(): number {
    let n = 0;
    for (const s of this.slots) n += s.pending.size;
    return n;
  }

  /**
   * Sends a batch request's wire bytes to a worker (copied into a buffer of
   * their own and transferred: grpc-js's buffer may share its memory) and
   * resolves with its answer. Rejects INTERNAL when its worker stops first.
   */
  prepare(kind: BatchKind, bytes: Uint8Array, run: string | undefined, indexBase: number): Promise<PrepareAnswer> {
    if (this.closing) return Promise.reject(new ServiceError(status.UNAVAILABLE, "server is shutting down; resend unanswered batches"));
    if (this.broken !== undefined) return Promise.reject(workerStopped(this.broken));
    const slot = this.pick();
    const id = this.nextId++;
    const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
    copy.set(bytes);
    const request: PrepareRequest = { id, kind, bytes: copy, run, indexBase };
    return new Promise<PrepareAnswer>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage(request, [copy.buffer as ArrayBuffer]);
    });
  }

  /** Waits for every batch sent to be answered, then stops the workers. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.pending > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  /** The worker with the fewest unanswered batches, the next in turn among equals. */
  private pick(): Slot {
    let best = this.slots[this.next];
    for (let i = 1; i < this.slots.length; i++) {
      const s = this.slots[(this.next + i) % this.slots.length];
      if (s.pending.size < best.pending.size) best = s;
    }
    this.next = (this.next + 1) % this.slots.length;
    return best;
  }

  private start(): Slot {
    const worker = startWorker(this.script, { [INGEST_WORKER_DATA]: this.options.config });
    const slot: Slot = { worker, threadId: worker.threadId, pending: new Map(), answered: false };
    worker.on("message", (answer: PrepareAnswer) => {
      const p = slot.pending.get(answer.id);
      if (p === undefined) return;
      slot.pending.delete(answer.id);
      slot.answered = true;
      this.failedStarts = 0;
      p.resolve(answer);
      this.checkDrained();
    });
    worker.on("error", (err) => {
      slot.error = err;
    });
    worker.on("exit", (code) => this.stopped(slot, code));
    return slot;
  }

  /** A worker ended: while the pool runs, a crash: its batches fail and another worker takes its place. */
  private stopped(slot: Slot, code: number): void {
    const index = this.slots.indexOf(slot);
    if (this.closing && slot.pending.size === 0) return;
    const cause = new Error(`ingest worker ${slot.threadId} stopped (exit code ${code})${slot.error ? `: ${slot.error.message}` : ""}`, { cause: slot.error });
    this.options.logger?.error({ err: cause, batches: slot.pending.size }, "ingest worker stopped; its batches fail with INTERNAL and a new worker takes its place");
    for (const p of slot.pending.values()) p.reject(workerStopped(cause));
    slot.pending.clear();
    this.checkDrained();
    if (this.closing || index < 0) return;
    if (!slot.answered && ++this.failedStarts >= FAILED_STARTS_MAX) {
      this.broken = cause;
      this.options.logger?.error({ err: cause }, `ingest workers: ${FAILED_STARTS_MAX} in a row stopped before answering; no more are started and batches fail with INTERNAL`);
      return;
    }
    this.restarts++;
    this.slots[index] = this.start();
  }

  private checkDrained(): void {
    if (this.drained !== undefined && this.pending === 0) {
      const drained = this.drained;
      this.drained = undefined;
      drained();
    }
  }
}
