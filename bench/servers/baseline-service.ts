import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import {
  LearningLogService,
  type IngestEventsRequest,
  type LearningEvent,
  type StreamEventsRequest,
} from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../../src/errors.js";
import { eventCaseByTypeName, type EventCase } from "../../src/events/catalog.js";
import { adaptImplementation, createServiceDefinition, type ServiceImpl } from "../../src/rpc/grpc-adapter.js";

/** Where a baseline's events went: the seq range of one append, and the last event's identity. */
export interface BaselineAck {
  firstSeq: number;
  lastSeq: number;
  lastEventId: string;
  timestamp: string;
}

/** What a baseline server does with events: the only difference between the naive and the no-op server. */
export interface BaselineSink {
  /** Handles the events of one call or batch, in order; resolves when they count as written. */
  append(events: ReadonlyArray<LearningEvent["event"]>): Promise<BaselineAck>;
}

type Impl = ServiceImpl<typeof LearningLogService.method>;

const unimplemented = (name: string) => new ServiceError(grpc.status.UNIMPLEMENTED, `${name} is not part of the benchmark baseline`);

/**
 * A LearningLogService for the benchmark's baselines, served through the same
 * descriptor-driven adapter as the real server. It implements the RPCs the
 * drivers use (the unary Log* event RPCs, StreamEvents, IngestEvents); the
 * others answer UNIMPLEMENTED. Batches and streams are handled one request
 * after another, without read-ahead, as the original module would.
 */
export function createBaselineService(sink: BaselineSink): Impl {
  const impl: Record<string, unknown> = {};
  for (const method of LearningLogService.methods) {
    const eventCase: EventCase | undefined = eventCaseByTypeName.get(method.input.typeName);
    if (eventCase !== undefined && method.methodKind === "unary") {
      impl[method.localName] = async (request: unknown) => {
        const ack = await sink.append([{ case: eventCase, value: request } as LearningEvent["event"]]);
        return { ack: { eventId: ack.lastEventId, seq: BigInt(ack.lastSeq), timestamp: ack.timestamp } };
      };
    } else if (method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming") {
      impl[method.localName] = () => {
        throw unimplemented(method.name);
      };
    } else {
      impl[method.localName] = async () => {
        throw unimplemented(method.name);
      };
    }
  }
  const streams: Pick<Impl, "ingestEvents" | "streamEvents"> = {
    async *ingestEvents(requests: AsyncIterable<IngestEventsRequest>) {
      for await (const request of requests) {
        const ack = await sink.append(request.events.map((e) => e.event));
        const count = request.events.length;
        yield { batchId: request.batchId, count, firstSeq: BigInt(ack.firstSeq), lastSeq: BigInt(ack.lastSeq) };
      }
    },
    async streamEvents(requests: AsyncIterable<StreamEventsRequest>) {
      let count = 0;
      let firstSeq = 0;
      let lastSeq = 0;
      for await (const request of requests) {
        const ack = await sink.append(request.events.map((e) => e.event));
        if (firstSeq === 0) firstSeq = ack.firstSeq;
        lastSeq = ack.lastSeq;
        count += request.events.length;
      }
      return { count: BigInt(count), firstSeq: BigInt(firstSeq), lastSeq: BigInt(lastSeq) };
    },
  };
  return { ...(impl as Impl), ...streams };
}

/**
 * The service definition of the baselines: the real server's, except that
 * every request is decoded whole by protobuf-es. The real server reads batch
 * requests by hand and leaves LogEvents' Struct data as bytes for its own
 * writer; the naive server needs the decoded events to build its records,
 * and the no-op server's cost stays a fixed floor (grpc-js and protobuf-es)
 * whatever the real server's request reading becomes.
 */
function baselineDefinition(): grpc.ServiceDefinition {
  const definition = createServiceDefinition(LearningLogService) as Record<string, grpc.MethodDefinition<unknown, unknown>>;
  for (const method of LearningLogService.methods) {
    definition[method.localName] = { ...definition[method.localName], requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes) };
  }
  return definition;
}

/**
 * Serves a baseline on 127.0.0.1:0 and prints the same "listening" JSON line
 * as the real server, so the benchmark finds the port the same way. Stops on
 * SIGTERM or SIGINT.
 */
export async function serveBaseline(name: string, sink: BaselineSink, close: () => Promise<void> = async () => undefined): Promise<void> {
  const logger = pino({ base: { service: name } });
  const server = new grpc.Server({ "grpc.max_receive_message_length": 4 * 1024 * 1024 });
  const sinkErrors = (err: unknown, path: string) => logger.error({ err, path }, "internal error");
  server.addService(baselineDefinition(), adaptImplementation(LearningLogService, createBaselineService(sink), sinkErrors));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  logger.info({ port }, "listening");
  const stop = () => {
    server.tryShutdown(() => {
      close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
