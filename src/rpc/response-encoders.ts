import type { DescMessage } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { IngestEventsResponseSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";

/**
 * Writes a response's wire bytes from the handler's init object, or answers
 * undefined for a value it does not write (protobuf-es then encodes it).
 */
export type ResponseEncoder = (value: unknown) => Uint8Array | undefined;

/** The field number of a message's field, by its localName (from the descriptor: never a number written here). */
function numberOf(schema: DescMessage, localName: string): number {
  const field = schema.fields.find((f) => f.localName === localName);
  if (field === undefined) throw new Error(`${schema.typeName} has no field ${localName}`);
  return field.number;
}

/** The answer to one IngestEvents batch, as the ingest handlers build it. */
interface IngestAnswer {
  batchId?: bigint;
  firstSeq?: bigint;
  lastSeq?: bigint;
  count?: number;
  duplicates?: number;
  timestamp?: string;
  errors?: readonly unknown[];
  redactions?: readonly unknown[];
}

const BATCH_ID = numberOf(IngestEventsResponseSchema, "batchId");
const FIRST_SEQ = numberOf(IngestEventsResponseSchema, "firstSeq");
const LAST_SEQ = numberOf(IngestEventsResponseSchema, "lastSeq");
const COUNT = numberOf(IngestEventsResponseSchema, "count");
const DUPLICATES = numberOf(IngestEventsResponseSchema, "duplicates");
const TIMESTAMP = numberOf(IngestEventsResponseSchema, "timestamp");
// protobuf-es writes fields in the order of their numbers; the hand writer does the same, so the bytes are equal.
if (!(BATCH_ID < FIRST_SEQ && FIRST_SEQ < LAST_SEQ && LAST_SEQ < COUNT && COUNT < DUPLICATES && DUPLICATES < TIMESTAMP)) {
  throw new Error("IngestEventsResponse's fields are not in the order its hand writer writes them");
}

/**
 * An IngestEvents answer with no refused and no redacted event (nearly every
 * one): its scalars written straight, without the message protobuf-es would
 * make from the init object first (a visible share of a small batch's cost).
 * Zero values are left out, as proto3 does.
 */
function encodeIngestAnswer(value: unknown): Uint8Array | undefined {
  const a = value as IngestAnswer;
  if ((a.errors !== undefined && a.errors.length > 0) || (a.redactions !== undefined && a.redactions.length > 0)) return undefined;
  const w = new BinaryWriter();
  if (a.batchId) w.tag(BATCH_ID, WireType.Varint).uint64(a.batchId);
  if (a.firstSeq) w.tag(FIRST_SEQ, WireType.Varint).uint64(a.firstSeq);
  if (a.lastSeq) w.tag(LAST_SEQ, WireType.Varint).uint64(a.lastSeq);
  if (a.count) w.tag(COUNT, WireType.Varint).uint32(a.count);
  if (a.duplicates) w.tag(DUPLICATES, WireType.Varint).uint32(a.duplicates);
  if (a.timestamp) w.tag(TIMESTAMP, WireType.LengthDelimited).string(a.timestamp);
  return w.finish();
}

/** The hand writers, by response type name: one per response sent once per small request. */
export const RESPONSE_ENCODERS: ReadonlyMap<string, ResponseEncoder> = new Map([[IngestEventsResponseSchema.typeName, encodeIngestAnswer]]);
