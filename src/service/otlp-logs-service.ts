import { status } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  LogsService,
  type ExportLogsServiceRequest,
  type ExportLogsServiceResponseSchema,
} from "../../gen/ts/opentelemetry/proto/collector/logs/v1/logs_service_pb.js";
import type { LearningEvent } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ServiceError } from "../errors.js";
import type { BatchOutcome, EventWriter } from "../events/event-writer.js";
import type { CallContext, ServiceImpl } from "../rpc/grpc-adapter.js";
import { callRun } from "../runs/call-run.js";
import { redactionsByRequestIndex } from "./ingest-handlers.js";
import { logRecordToEvent, otlpField, otlpMessage, type MappedRecord, type RecordPlace } from "./otlp-log-record.js";

/** What the OTLP logs service needs. */
export interface OtlpLogsServiceDeps {
  /** The writer every event goes through (validation, PII guard, limits, durable append). */
  writer: EventWriter;
  /** Most log records in one export, with or without an event name: the batch limit of every write (batchEventsMax). */
  logRecordsMax: number;
}

/** The writer's paths of the export's events start with this, e.g. `log_records[3].generic.data`. */
const WRITER_PREFIX = "log_records";

/** A record that was mapped and handed to the writer. */
interface Written {
  /** Position of the record in the whole export, counting every record. */
  readonly at: number;
  readonly place: RecordPlace;
  readonly mapped: MappedRecord;
}

/** A record that was not written, and why. */
interface Rejection {
  readonly at: number;
  readonly message: string;
}

const NO_EVENT_NAME = "no event name: only events are learning records (set the record's event_name, or an event.name attribute)";


/** The partial_success of an export: rejections first (OTLP's convention), then what the PII guard redacted, as a warning. */
function partialSuccess(total: number, rejections: Rejection[], outcome: BatchOutcome | undefined, written: readonly Written[]) {
  const notes: string[] = [];
  if (rejections.length > 0) {
    const first = rejections.reduce((a, b) => (b.at < a.at ? b : a));
    notes.push(`${rejections.length} of ${total} log records rejected; first: ${first.message}`);
  }
  const redactions = outcome === undefined ? [] : redactionsByRequestIndex(outcome);
  if (redactions.length > 0) {
    const { index, fields } = redactions[0];
    const w = written[index];
    notes.push(`${redactions.length} of ${total} log records written with values redacted by the PII guard; first: ${otlpField(fields[0], `${WRITER_PREFIX}[${index}]`, w.place, w.mapped)}`);
  }
  return notes.length === 0 ? undefined : { rejectedLogRecords: BigInt(rejections.length), errorMessage: notes.join("; ") };
}

/**
 * The status an export fails with. RESOURCE_EXHAUSTED (a full write queue,
 * a full disk: nothing was written) becomes UNAVAILABLE: OTLP senders retry
 * UNAVAILABLE with backoff (OTLP's throttling signal), but treat
 * RESOURCE_EXHAUSTED without retry advice as final and drop the data.
 */
function otlpStatus(err: unknown): never {
  const e = ServiceError.from(err);
  if (e.code === status.RESOURCE_EXHAUSTED) throw new ServiceError(status.UNAVAILABLE, e.message, { cause: err });
  throw e;
}

/**
 * OTLP/gRPC logs in: `opentelemetry.proto.collector.logs.v1.LogsService/Export`.
 * Each record with an event name is one free-form event, written through the
 * same event writer as LogEvent (see logRecordToEvent for the mapping); a
 * record that names no run (pulse.run.id) belongs to the call's, from the
 * pulse-run metadata, like every event. One
 * export is one batch: one durable append, answered once it is on disk.
 * Records without an event name, or that fail validation, are counted in
 * partial_success with a message naming the first one's field; the others
 * are written all the same. An export over the batch limit is refused
 * whole (INVALID_ARGUMENT: senders do not retry it). See {@link otlpStatus}
 * for a full write queue or disk.
 */
export function createOtlpLogsService(deps: OtlpLogsServiceDeps): ServiceImpl<typeof LogsService.method> {
  return {
    async export(request: ExportLogsServiceRequest, ctx: CallContext): Promise<MessageInitShape<typeof ExportLogsServiceResponseSchema>> {
      // The call's run (pulse-run metadata, e.g. a Collector's headers): for records that name none.
      const run = callRun(ctx.metadata);
      let total = 0;
      for (const rl of request.resourceLogs) for (const sl of rl.scopeLogs) total += sl.logRecords.length;
      if (total > deps.logRecordsMax) {
        throw ServiceError.invalid("resource_logs", `${total} log records in one export, over the limit of ${deps.logRecordsMax}; send smaller exports (a Collector: send_batch_max_size of its batch processor)`);
      }
      const events: LearningEvent[] = [];
      const written: Written[] = [];
      const rejections: Rejection[] = [];
      let at = 0;
      request.resourceLogs.forEach((rl, r) => {
        rl.scopeLogs.forEach((sl, s) => {
          sl.logRecords.forEach((record, k) => {
            const place: RecordPlace = { record: `resource_logs[${r}].scope_logs[${s}].log_records[${k}]`, resource: `resource_logs[${r}]` };
            try {
              const mapped = logRecordToEvent(record, rl.resource, place);
              if (mapped === undefined) {
                rejections.push({ at, message: `${place.record}: ${NO_EVENT_NAME}` });
              } else {
                events.push(mapped.event);
                written.push({ at, place, mapped });
              }
            } catch (err) {
              const e = ServiceError.from(err);
              if (e.code !== status.INVALID_ARGUMENT) throw e;
              rejections.push({ at, message: e.message });
            }
            at++;
          });
        });
      });
      const outcome = events.length === 0 ? undefined : await deps.writer.writeBatch(events, { pathPrefix: WRITER_PREFIX, run }).catch(otlpStatus);
      for (const error of outcome?.errors ?? []) {
        const w = written[error.index];
        rejections.push({ at: w.at, message: otlpMessage(error, `${WRITER_PREFIX}[${error.index}]`, w.place, w.mapped) });
      }
      return { partialSuccess: partialSuccess(total, rejections, outcome, written) };
    },
  };
}
