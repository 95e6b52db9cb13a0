import type * as grpc from "@grpc/grpc-js";
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import { readsEventBatch } from "../codec/event-batch.js";

/**
 * A batch request (IngestEvents, StreamEvents, LogBatch) as it came on the
 * wire, handed to the handler undecoded: an ingest worker decodes, checks
 * and encodes it (src/ingest/ingest-pool.ts), not the main thread.
 */
export class BatchRequestBytes {
  /** Size on the wire, for the read budget (it stays after {@link take}). */
  readonly byteLength: number;
  private bytes: Buffer | undefined;
  private count: number | undefined;

  constructor(
    bytes: Buffer,
    /** The request's message type. */
    readonly schema: DescMessage,
  ) {
    this.bytes = bytes;
    this.byteLength = bytes.length;
  }

  /**
   * How many events the request holds: elements of its `events` field,
   * counted from their tags without decoding them (what protobuf-es would
   * give for any request that decodes). Counted before {@link take}.
   */
  get eventCount(): number {
    if (this.count === undefined) this.count = this.bytes === undefined ? 0 : countField(this.bytes, this.schema.field.events.number);
    return this.count;
  }

  /** For the per-call log line, which counts a request's `events` (src/ops/call-log.ts). */
  get events(): { readonly length: number } {
    return { length: this.eventCount };
  }

  /**
   * The bytes, once: let go here, since grpc-js's stream iterator keeps the
   * message it last handed out until the next read, which a stream waiting
   * for the read budget may not ask for soon.
   */
  take(): Buffer {
    const bytes = this.bytes;
    if (bytes === undefined) throw new Error("a batch request's bytes were taken twice");
    this.bytes = undefined;
    return bytes;
  }
}

/** The request's events, or undefined when it came decoded (no ingest workers). */
export function batchRequestBytes(request: object): BatchRequestBytes | undefined {
  return request instanceof BatchRequestBytes ? request : undefined;
}

/** Reads a varint at `at.pos` (any length up to 10 bytes); -1 past the end. */
function varint(bytes: Buffer, at: { pos: number }): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (at.pos >= bytes.length) return -1;
    const b = bytes[at.pos++];
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 128;
  }
  return -1;
}

/**
 * Elements of the repeated length-delimited field `field` at the top level
 * of a message. Bytes that are not a message give the count so far (such a
 * request is refused when it is decoded anyway).
 */
function countField(bytes: Buffer, field: number): number {
  const at = { pos: 0 };
  let n = 0;
  while (at.pos < bytes.length) {
    const tag = varint(bytes, at);
    if (tag < 0) return n;
    const wireType = tag % 8;
    if (wireType === 0) {
      if (varint(bytes, at) < 0) return n;
    } else if (wireType === 1) {
      at.pos += 8;
    } else if (wireType === 5) {
      at.pos += 4;
    } else if (wireType === 2) {
      const length = varint(bytes, at);
      if (length < 0) return n;
      at.pos += length;
      if (Math.floor(tag / 8) === field) n++;
    } else {
      // Groups never hold a batch's events: counted no further.
      return n;
    }
  }
  return n;
}

/**
 * The service's definition with its batch requests handed over as
 * {@link BatchRequestBytes} instead of decoded: for a server whose ingest
 * handlers send them to the ingest workers. Other methods are left as the
 * adapter built them.
 */
export function withBatchRequestBytes(service: DescService, definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = { ...(definition as Record<string, grpc.MethodDefinition<unknown, unknown>>) };
  for (const method of service.methods) {
    if (!readsEventBatch(method.input)) continue;
    const schema = method.input;
    out[method.localName] = { ...out[method.localName], requestDeserialize: (bytes: Buffer) => new BatchRequestBytes(bytes, schema) };
  }
  return out;
}
