import type { DescField, DescMethod } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import type { Logger } from "pino";
import { LearningEventSchema, LogRecordSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { principalOf } from "../auth/interceptor.js";
import { ServiceError } from "../errors.js";
import { EncodedMessage, Undecodable, type CallContext, type CallObserver, type CallProbe, type InternalErrorSink } from "../rpc/grpc-adapter.js";
import { grpcCodeName } from "./grpc-server-metrics.js";

/** One per-call line of the server log (level debug, message "call"). */
export interface CallLine {
  /** The method path, e.g. /pulse.learninglog.v1.LearningLogService/LogBatch. */
  method: string;
  /** The client's address as grpc-js gives it (127.0.0.1:53312). */
  peer: string;
  /** The token's name, when the server requires tokens. */
  principal?: string;
  /** Events the call carried: those its requests held (written or not), or the records a read sent. Absent for calls about no events. */
  events?: number;
  /** The status the call ended with, as grpc_code spells it (OK, InvalidArgument, Canceled...). */
  outcome: string;
  /** Time from the call's start to its end, in milliseconds. */
  ms: number;
  /** For a call that did not end OK: the status message the client got. */
  reason?: string;
}

/** How a method's calls are counted in events: by the requests, by the responses, or not at all. */
type EventCounter = { side: "requests" | "responses"; count: (message: unknown) => number } | undefined;

// The messages that are one event each: the unary Log* requests are the LearningEvent oneof's messages.
const oneEventMessages: ReadonlySet<string> = new Set(LearningEventSchema.oneofs[0].fields.map((f) => f.message!.typeName));

function repeatedOf(fields: readonly DescField[], typeName: string): DescField | undefined {
  return fields.find((f) => f.fieldKind === "list" && f.listKind === "message" && f.message.typeName === typeName);
}

/**
 * How many elements of a repeated message field a message holds, decoded or
 * already encoded (ReadEvents sends its records as an {@link EncodedMessage}).
 */
function elementsOf(message: unknown, field: DescField): number {
  if (!(message instanceof EncodedMessage)) return ((message as Record<string, unknown>)[field.localName] as unknown[] | undefined)?.length ?? 0;
  const reader = new BinaryReader(message.bytes);
  let n = 0;
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (no === field.number) n++;
    reader.skip(wireType);
  }
  return n;
}

/** Decided once per method from its descriptor: which messages hold its events, and where. */
function eventCounterOf(method: DescMethod): EventCounter {
  const events = repeatedOf(method.input.fields, LearningEventSchema.typeName);
  if (events !== undefined) return { side: "requests", count: (m) => elementsOf(m, events) };
  if (oneEventMessages.has(method.input.typeName)) return { side: "requests", count: () => 1 };
  const records = repeatedOf(method.output.fields, LogRecordSchema.typeName);
  if (records !== undefined) return { side: "responses", count: (m) => elementsOf(m, records) };
  return undefined;
}

/** Milliseconds with microsecond precision: enough for a log line, short to read. */
const roundMs = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * Per-call lines in the server log: one line at debug level per call,
 * {@link CallLine}. A {@link CallObserver} for the gRPC adapter; undefined
 * when the logger is above debug at start, so calls cost nothing extra then.
 * Failures the server is to blame for are logged at error level with their
 * cause by the adapter's sink ({@link createInternalErrorSink}), whatever the level.
 */
export function createCallLog(logger: Logger): CallObserver | undefined {
  if (!logger.isLevelEnabled("debug")) return undefined;
  return {
    method(method: DescMethod) {
      const counter = eventCounterOf(method);
      return (ctx: CallContext): CallProbe => {
        const since = performance.now();
        let events = counter === undefined ? undefined : 0;
        const count = (message: unknown) => {
          // A request that did not decode carries no events we could count.
          if (events !== undefined && !(message instanceof Undecodable)) events += counter!.count(message);
        };
        return {
          received: counter?.side === "requests" ? count : () => undefined,
          sent: counter?.side === "responses" ? count : () => undefined,
          ended: (code, cause) => {
            const line: CallLine = {
              method: ctx.path,
              peer: ctx.peer,
              principal: principalOf(ctx.metadata)?.name,
              events,
              outcome: grpcCodeName(code),
              ms: roundMs(performance.now() - since),
            };
            if (code !== 0) line.reason = ServiceError.from(cause).message;
            logger.debug(line, "call");
          },
        };
      };
    },
  };
}

/**
 * The adapter's sink for failures that are not the client's fault (every
 * INTERNAL and UNKNOWN sent, and answers that could not be sent): one line
 * at error level with the cause, the method and, for a call, its peer and
 * principal. Clients only ever see "internal error".
 */
export function createInternalErrorSink(logger: Logger): InternalErrorSink {
  return (err, path, call) => {
    logger.error({ err, method: path, peer: call?.peer, principal: call === undefined ? undefined : principalOf(call.metadata)?.name }, "internal error");
  };
}
