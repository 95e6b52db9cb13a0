import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { status, type ClientReadableStream } from "@grpc/grpc-js";
import { LearningLogService, type HoldRunResponse } from "../gen/pulse/learninglog/v1/learning_log_pb.js";
import type { CallOptions, Connection } from "./connection.js";
import { errorFromCall, statusName, type LearningLogError } from "./errors.js";
import type { Ack } from "./results.js";
import { Signal } from "./signal.js";

/** The event types of a run's lifecycle records. */
export const RUN_STARTED = "run_started";
/** Written last: data `{"status": "finished"}` or `{"status": "failed", "error": {"type", "message"}}`. */
export const RUN_FINISHED = "run_finished";

/** Where a run scope reports a hold it gave up. Default: `console.error`. */
export interface RunLogger {
  /** One line about the hold. */
  error(message: string): void;
}

/** Options of {@link LearningLogClient.runScope} and {@link LearningLogClient.withRun}. */
export interface RunScopeOptions extends CallOptions {
  /** The run's parameters, written in `run_started` as `data.params`. Default `{}`. */
  params?: JsonObject;
  /** Also write this process's `pid` and `host` in `run_started`. Default true. */
  processInfo?: boolean;
  /** Where a hold the scope gives up on is reported. Default `console.error`. */
  logger?: RunLogger;
}

/** How a run ended, as its `run_finished` record says. */
export type RunOutcome = { status: "finished" } | { status: "failed"; error: { type: string; message: string } };

// Statuses after which re-opening the hold cannot help: the server has no
// HoldRun, or refuses this caller or run (the Python client's set). The
// process keeps logging into the run, unheld.
const HOLD_FINAL = new Set<status>([status.UNIMPLEMENTED, status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.INVALID_ARGUMENT]);

/** Waits before re-opening a hold, in ms: from the first, doubling to the last (as the Python client). */
const HOLD_BACKOFF_INITIAL_MS = 200;
const HOLD_BACKOFF_MAX_MS = 5_000;

/** The wait before re-opening a hold after `attempt` failures in a row (from 1), with jitter. */
function holdBackoffMs(attempt: number): number {
  return Math.min(HOLD_BACKOFF_MAX_MS, HOLD_BACKOFF_INITIAL_MS * 2 ** (attempt - 1)) * (0.5 + 0.5 * Math.random());
}

const consoleLogger: RunLogger = { error: (message) => console.error(`[pulse-learning-log] ${message}`) };

/** The `error` of a failed run: the thrown value's class name and message. */
export function runErrorOf(error: unknown): { type: string; message: string } {
  if (error instanceof Error) {
    // A subclass that does not set `name` still reports its class.
    const type = error.name !== "Error" ? error.name : (error.constructor?.name ?? "Error");
    return { type, message: error.message };
  }
  return { type: error === null ? "null" : typeof error, message: String(error) };
}

/**
 * One run, open: `run_started` is written, and a background `HoldRun` call
 * tells the server a process is logging into the run, so that a process
 * that dies without a `run_finished` record shows as "ended without a
 * finish record". Log into the run through {@link client} (or a
 * BatchWriter given that client); end it with {@link finish} or
 * {@link fail}, which write `run_finished` and then end the hold.
 *
 * The hold is re-opened after it fails (the server restarted, the network
 * broke), with backoff from 200 ms to 5 s, until the scope ends; it is given
 * up on a status no retry can fix (UNIMPLEMENTED from a server without runs,
 * quietly; a refused token or run id, reported to the logger). An open hold
 * is an open call: it keeps the process alive until the scope ends or the
 * client is closed (which ends it too). Disposing the scope (`await using`) without
 * finish or fail ends the hold and writes nothing, leaving the run "ended
 * without a finish record"; {@link LearningLogClient.withRun} writes the
 * outcome for you.
 */
/**
 * What a run scope needs of its client: a LearningLogClient (its type is a
 * parameter so that this module does not import the client's, which imports
 * this one).
 */
export interface RunScopeClient {
  /** The run every call of the client carries. */
  readonly run: string | undefined;
  readonly connection: Connection;
  logEvent(eventType: string, data: JsonObject, context?: JsonObject, options?: CallOptions & { eventId?: string }): Promise<Ack>;
}

export class RunScope<C extends RunScopeClient = RunScopeClient> {
  /** The record the scope began with. */
  readonly started: Ack;
  private readonly logger: RunLogger;
  private readonly changed = new Signal();
  private readonly holding: Promise<void>;
  private call: ClientReadableStream<HoldRunResponse> | undefined;
  private stopping = false;
  private holdsTaken = 0;
  private heldNow = false;
  private holdFailure: LearningLogError | undefined;
  private outcome: RunOutcome | undefined;
  private finishEventId: string | undefined;
  private readonly unhookClose: () => void;

  /** Use {@link LearningLogClient.runScope}: it writes `run_started` first. */
  constructor(
    /** A client whose every call carries the run: log into the run through it. */
    readonly client: C,
    started: Ack,
    options: Pick<RunScopeOptions, "logger"> = {},
  ) {
    this.started = started;
    this.logger = options.logger ?? consoleLogger;
    this.unhookClose = client.connection.onClose(() => this.stopCall());
    this.holding = this.holdLoop();
  }

  /** The run's id. */
  get run(): string {
    return this.client.run!;
  }

  /** True while the server holds the run for this scope. */
  get held(): boolean {
    return this.heldNow && !this.stopping;
  }

  /** How often the server has taken the hold: 1 after the first, one more for each re-open. */
  get holdCount(): number {
    return this.holdsTaken;
  }

  /** The status the hold was given up on, if it was. */
  get holdError(): LearningLogError | undefined {
    return this.holdFailure;
  }

  /**
   * Resolves once the server has taken the hold `times` times in all (the
   * first hold, then each re-open) and holds it now; rejects with the hold's
   * final error if it was given up, or when the scope ends first.
   */
  async holdTaken(times = 1): Promise<void> {
    for (;;) {
      if (this.holdFailure !== undefined) throw this.holdFailure;
      if (this.holdsTaken >= times && this.heldNow) return;
      if (this.stopping) throw new TypeError(`the run scope of ${this.run} has ended`);
      await this.changed.wait();
    }
  }

  /** Writes `run_finished` with status "finished", then ends the hold (which stays when the write fails: call again, or dispose). */
  async finish(options?: CallOptions): Promise<Ack> {
    return this.end({ status: "finished" }, options);
  }

  /** Writes `run_finished` with status "failed" and the error's type and message, then ends the hold. */
  async fail(error: unknown, options?: CallOptions): Promise<Ack> {
    return this.end({ status: "failed", error: runErrorOf(error) }, options);
  }

  private async end(outcome: RunOutcome, options?: CallOptions): Promise<Ack> {
    if (this.outcome !== undefined) throw new TypeError(`run ${this.run} already ended (${this.outcome.status})`);
    // Written while the hold is still open: the run is never seen ended
    // without its record when the record is on its way. When the write
    // fails the hold stays (the run is not over): call again, or dispose.
    // One event_id for every attempt: a write whose answer was lost is
    // answered as a duplicate when called again, never written twice.
    this.finishEventId ??= randomUUID();
    const ack = await this.client.logEvent(RUN_FINISHED, outcome, undefined, { ...options, eventId: this.finishEventId });
    this.outcome = outcome;
    await this.stopHold();
    return ack;
  }

  /** Ends the hold without writing anything (the run is then listed as ended without a finish record unless it has one). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stopHold();
  }

  private async stopHold(): Promise<void> {
    this.stopCall();
    await this.holding;
  }

  private stopCall(): void {
    this.stopping = true;
    this.call?.cancel();
    this.changed.notify();
  }

  /** Holds the run until the scope ends, re-opening the call after failures; never rejects. */
  private async holdLoop(): Promise<void> {
    try {
      await this.holdCalls();
    } catch (err) {
      this.holdFailure = errorFromCall(err);
      this.logger.error(`holding run ${this.run} failed: ${this.holdFailure.message}`);
    } finally {
      this.heldNow = false;
      this.unhookClose();
      this.changed.notify();
    }
  }

  private async holdCalls(): Promise<void> {
    const connection = this.client.connection;
    const request = create(LearningLogService.method.holdRun.input, { run: this.run });
    let attempt = 0;
    // A closed channel ends the hold like the end of the scope: the server sees the call end.
    while (!this.stopping && !connection.closed) {
      const grpcClient = connection.client(LearningLogService) as unknown as Record<string, HoldRunFn>;
      const call = grpcClient.holdRun.call(grpcClient, request, connection.metadata(), {});
      this.call = call;
      try {
        for await (const _answer of call as AsyncIterable<HoldRunResponse>) {
          // One answer: the server has taken the hold; the call stays open.
          this.holdsTaken += 1;
          this.heldNow = true;
          attempt = 0;
          this.changed.notify();
        }
      } catch (err) {
        if (this.stopping) break;
        const error = errorFromCall(err);
        if (HOLD_FINAL.has(error.code)) {
          this.holdFailure = error;
          // A server without runs is no news; a refusal is worth a line.
          if (error.code !== status.UNIMPLEMENTED) {
            this.logger.error(`the server refused to hold run ${this.run} (${statusName(error.code)}: ${error.details}); the run is still logged into, unheld`);
          }
          break;
        }
      } finally {
        this.heldNow = false;
        this.call = undefined;
        this.changed.notify();
      }
      if (this.stopping) break;
      // Ended by the server (a restart, a drain) or the network: hold again after a backoff.
      attempt += 1;
      await this.changed.wait(holdBackoffMs(attempt));
    }
  }
}

type HoldRunFn = (request: unknown, metadata: unknown, options: unknown) => ClientReadableStream<HoldRunResponse>;

/** The `run_started` data: the params, and this process's pid and host unless left out. */
export function runStartedData(options: RunScopeOptions): JsonObject {
  const params = options.params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) throw new TypeError("params must be a JSON object");
  return options.processInfo === false ? { params } : { params, pid: process.pid, host: hostname() };
}
