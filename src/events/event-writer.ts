import { status } from "@grpc/grpc-js";
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { LearningEventSchema, LogEventRequestSchema, type LearningEvent, type LogEventRequest } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { decodeWhole, LOG_EVENT_STRUCT_DEPTH, WIRE_EVENT, WIRE_FIELDS, WIRE_REQUEST, type WireEvents, type WireFields, type WireFixedEvent, type WireLearningEvent, type WireLogEvent } from "../codec/event-batch.js";
import { DECODE_LEVELS_MAX, undecodableError } from "../codec/request-decode.js";
import { ByteSink } from "../codec/byte-sink.js";
import { createStructTranscoder, type StructTranscoder } from "../codec/struct-json.js";
import { ServiceError, type FieldViolation } from "../errors.js";
import type { EventLimits } from "../guard/limits.js";
import { createPiiGuard, keyClassifier, piiOptionsOf, redactionReason, type KeyClass, type PiiGuard, type RedactionReason } from "../guard/pii.js";
import { createValidatorFactory, type Validator } from "../guard/validator.js";
import type { AppendEntry, AppendResult, LogStore } from "../store/store.js";
import { buildEvent, eventFieldNames, eventSchemas, type CatalogDeps, type EventCase, type EventDraft } from "./catalog.js";
import { bodyInRun, bodyOf, bodyOpenOf, CONTEXT_MEMBER, runMember } from "../record/body.js";
import { checkRun } from "../runs/call-run.js";
import { EventIds } from "./event-ids.js";
import { createTypedEncoders, type TypedEncoders } from "./typed-encoders.js";

/** An event checked, built and encoded: ready for the store. */
export interface PreparedEvent extends AppendEntry {
  readonly draft: EventDraft;
  readonly eventType: string;
  /** Paths the PII guard redacted. */
  readonly redactedFields: string[];
}

/** The ack of one durable event. */
export interface EventAckData {
  eventId: string;
  seq: bigint;
  timestamp: string;
  duplicate: boolean;
  redactedFields: string[];
  /** What the PII guard matched in each redacted field (see {@link EventWriter.explainRedactions}). */
  redactions: RedactionReason[];
}

/** One rejected event of a batch. */
export interface EventErrorData {
  index: number;
  code: number;
  message: string;
  /** The refused fields as data (paths from the batch), as a lone call's BadRequest detail has them. */
  violations: readonly FieldViolation[];
}

/**
 * The outcome of a batch: where the accepted events landed, why the others
 * were rejected. Only this is kept while the batch waits for its fsync (not
 * the request, the drafts or the records), so waiting batches cost little memory.
 */
export interface BatchOutcome {
  /** The event_id of each accepted event, in request order (only when asked for with `eventIds`; empty otherwise). */
  eventIds: string[];
  /** Where each accepted event landed, in request order. */
  results: AppendResult[];
  /** Paths the PII guard redacted, by position among the accepted events (only those with any). */
  redacted: Map<number, string[]>;
  /** The rejected events. */
  errors: EventErrorData[];
}

/** An accepted event as the store and the ack need it. */
type AcceptedEvent = AppendEntry & { readonly redactedFields: string[]; readonly eventType: string };

/**
 * The UTF-8 bodies of one request's events read by hand, written one after
 * the other (no string per body, no copy but the store's). Back in the
 * writer's pool once the batch's append has answered: the store has copied
 * the bytes by then.
 */
class BodySink extends ByteSink {}

/**
 * An accepted event whose body lies in its request's {@link BodySink}: the
 * store copies the bytes; the text is made only when asked for (another
 * store, the run index for a run's first and last records).
 */
class SinkEntry implements AcceptedEvent {
  run: string | undefined = undefined;
  constructor(
    readonly eventId: string,
    readonly clientChosenId: boolean,
    readonly eventType: string,
    readonly redactedFields: string[],
    private readonly sink: BodySink,
    public bodyStart: number,
    public bodyEnd: number,
  ) {}

  get bodyUtf8(): Buffer {
    return this.sink.buf;
  }

  get body(): string {
    return this.sink.buf.toString("utf8", this.bodyStart, this.bodyEnd);
  }

  /**
   * Closes the body with its run's member: the body is copied to the end of
   * the sink with the member after it (the run is known once every body of
   * the request is written).
   */
  joinRun(run: string): void {
    const sink = this.sink;
    const member = runMember(run);
    const length = this.bodyEnd - this.bodyStart;
    const buf = sink.reserve(length + member.length);
    const start = sink.length;
    buf.copy(buf, start, this.bodyStart, this.bodyEnd);
    // Checked to need no escaping (ASCII): one byte per character.
    sink.length = start + length + buf.write(member, start + length, "latin1");
    this.bodyStart = start;
    this.bodyEnd = sink.length;
    this.run = run;
  }
}

/** Body sinks kept for the next requests. */
const BODY_SINKS_KEPT = 32;

/** What the first pass over a batch read by hand left for each LogEvent: the encoded record, or the event decoded by protobuf-es for today's path. */
type Settled = { entry: AcceptedEvent; event?: undefined } | { entry?: undefined; event: LearningEvent["event"] };
const SETTLED: unique symbol = Symbol("settled");
type SettledEvent = (WireLearningEvent | WireFixedEvent) & { [SETTLED]?: Settled };
const BODY_SINK: unique symbol = Symbol("body sink");
/** A request's events after {@link EventWriter.settle}: the sink their bodies were written to. */
type SettledEvents = readonly LearningEvent[] & { [BODY_SINK]?: BodySink };
/** Batches already settled (see {@link EventWriter.settle}). */
const settledBatches = new WeakSet<readonly LearningEvent[]>();
const LEARNING_EVENT_READ = { recursionLimit: DECODE_LEVELS_MAX - 1 };

/**
 * Told what the writer refused before the store, and what it redacted
 * (metrics). What the store writes, finds duplicate or refuses is the
 * store's to tell.
 */
export interface EventWriterObserver {
  /** `events` events were refused with this status code before reaching the store (validation, size limits, the PII guard in reject mode). */
  rejected?(code: number, events: number): void;
  /** The PII guard redacted fields of one event of this type. */
  redacted?(eventType: string): void;
  /** The store answered an append of these entries (in order) with these results: what the run index follows. */
  written?(entries: readonly AppendEntry[], results: readonly AppendResult[]): void;
}

/**
 * What the observer was told while a batch was prepared elsewhere (an
 * ingest worker): refusals as (code, events) pairs one after the other, and
 * the event type of each event redacted.
 */
export interface PreparedElsewhereNotes {
  readonly rejected: readonly number[];
  readonly redacted: readonly string[];
}

/** Options of a batch write. */
export interface WriteBatchOptions {
  /** Make a full queue wait instead of failing (streams). */
  wait?: boolean;
  /** Offsets indexes and paths (whole-stream numbering). */
  indexBase?: number;
  /** The name of the events in error paths. Default "events". */
  pathPrefix?: string;
  /** Keep the accepted events' ids for per-event acks. */
  eventIds?: boolean;
  /** The call's run: events that name none belong to it (checked by the caller, see {@link checkRun}). */
  run?: string;
}


/** A batch checked and encoded, ready for the store. */
interface PreparedBatch extends Omit<BatchOutcome, "results"> {
  entries: AppendEntry[];
  /** Keep the accepted events' ids for the answer. */
  keepIds: boolean;
}

/** Encodes the record members between timestamp and seq, in the contract's key order (src/record/body.ts writes them). */
export function encodeBody(draft: EventDraft): string {
  return bodyOf(draft.eventType, draft.data, draft.context);
}

// Shared by every event nothing was redacted in (nearly all): no array per event.
const NOTHING_REDACTED: string[] = [];
const EMPTY_OBJECT = Buffer.from("{}");
const CONTEXT_BYTES = Buffer.from(CONTEXT_MEMBER);

/** Builds a store-independent ack from where the store put the event. */
export function toAck(eventId: string, result: AppendResult, redactedFields: string[] = [], redactions: RedactionReason[] = []): EventAckData {
  return { eventId, seq: BigInt(result.seq), timestamp: result.timestamp, duplicate: result.duplicate, redactedFields, redactions };
}

/**
 * Turns request messages into durable records: validate (descriptor-driven),
 * build with the catalog, encode, bound the size, append, ack. Every write of
 * the learning log service goes through here.
 */
export class EventWriter {
  private readonly validate: (schema: DescMessage) => Validator;
  /** Reused for each event's PII findings; copied only when there are any. */
  private readonly redactedScratch: string[] = [];
  /** Writes the Struct fields of LogEvents read by hand (event-batch.ts); absent when the PII guard was not made by createPiiGuard. */
  private readonly transcoder: StructTranscoder | undefined;
  /** Writes the bodies of fixed-shape events of batches (weight changes, rule activations) without building their data. */
  private readonly typed: TypedEncoders;
  /** Random event ids, drawn in bulk. */
  private readonly ids = new EventIds();
  /** The guard's key classifier, made on the first redaction explained. */
  private classifyKey: ((key: string) => KeyClass) | undefined;
  /** Body sinks of answered requests, for the next ones. */
  private readonly freeSinks: BodySink[] = [];
  /** The run id checked last (a batch's events usually share one). */
  private lastRunChecked: string | undefined;

  constructor(
    private readonly store: LogStore,
    private readonly deps: CatalogDeps,
    private readonly limits: EventLimits,
    private readonly pii: PiiGuard = createPiiGuard({ mode: "off", sensitiveKeys: [] }),
    private readonly observer?: EventWriterObserver,
  ) {
    this.validate = createValidatorFactory(limits);
    const piiOptions = piiOptionsOf(pii);
    this.transcoder = piiOptions === undefined ? undefined : createStructTranscoder({ limits, pii: piiOptions });
    this.typed = createTypedEncoders(pii, { transcoder: this.transcoder, clock: deps.clock });
  }

  /**
   * The first pass over the events of a request read by hand
   * (codec/event-batch.ts): encodes each LogEvent from its wire bytes,
   * checked as {@link prepare} checks it, or, for any LogEvent that is
   * refused or unusual, decodes it with protobuf-es for today's path (which
   * then gives the same error). Throws, before any event is written, the
   * status of a request that does not decode, as decoding it whole would.
   * Returns the events to write: these, or the whole request decoded by
   * protobuf-es. Any other array is returned as it is. Call it as the
   * request arrives (streams stop at a request that does not decode);
   * {@link writeBatch} calls it too.
   */
  settle(events: readonly LearningEvent[], options: { indexBase?: number; pathPrefix?: string } = {}): readonly LearningEvent[] {
    const request = (events as WireEvents)[WIRE_REQUEST];
    if (request === undefined || settledBatches.has(events)) return events;
    const base = options.indexBase ?? 0;
    const prefix = options.pathPrefix ?? "events";
    const sink = this.bodySink(request.bytes.length);
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as SettledEvent;
      const wire = (event as WireLearningEvent)[WIRE_EVENT];
      const fields = (event as WireFixedEvent)[WIRE_FIELDS];
      if (wire === undefined && fields === undefined) continue;
      const settled = wire !== undefined ? this.settleLogEvent(event.event.value as LogEventRequest, wire, `${prefix}[${base + i}]`, sink) : this.settleFixed(event.event, fields, sink);
      if (settled === undefined) {
        // A Struct that does not decode: the request is decoded whole, as before, for its error (no body of the sink is used).
        this.recycle(sink);
        try {
          return decodeWhole(request).events;
        } catch (err) {
          throw undecodableError(err);
        }
      }
      event[SETTLED] = settled;
    }
    settledBatches.add(events);
    (events as SettledEvents)[BODY_SINK] = sink;
    return events;
  }

  /** A body sink for a request of `requestBytes` bytes, from the pool when one is free. */
  private bodySink(requestBytes: number): BodySink {
    const sink = this.freeSinks.pop();
    if (sink !== undefined) return sink;
    // Records' JSON is about twice a request's protobuf (keys spelled out); grown when not.
    return new BodySink(Math.max(4096, requestBytes * 2));
  }

  /** Gives a batch's body sink back to the pool (once the store has answered its append). */
  private recycle(sink: BodySink | undefined): void {
    if (sink === undefined || this.freeSinks.length >= BODY_SINKS_KEPT) return;
    sink.reset();
    this.freeSinks.push(sink);
  }

  /**
   * A fixed-shape event read by hand with Struct or Value fields left as
   * bytes, checked and encoded by the typed encoders; or, when anything is
   * refused or unusual, decoded by protobuf-es for today's path (which then
   * gives the same error); undefined when it does not decode.
   */
  private settleFixed(event: LearningEvent["event"], wire: WireFields, sink: BodySink): Settled | undefined {
    try {
      this.check(event, "");
      const start = sink.length;
      if (this.typed.bodyTo(sink, event, wire)) {
        // Within the size limit; else the general path refuses it.
        if (sink.length - start <= this.limits.recordBytesMax) {
          const eventId = (event.value as { eventId?: string }).eventId;
          const clientChosenId = eventId !== undefined;
          const entry = new SinkEntry(clientChosenId ? eventId.toLowerCase() : this.ids.uuid(), clientChosenId, this.typed.eventType(event.case)!, NOTHING_REDACTED, sink, start, sink.length);
          return { entry };
        }
        sink.length = start;
      }
    } catch {
      // Refused: today's path below gives the very error, or the decode error.
    }
    try {
      return { event: fromBinary(LearningEventSchema, wire.bytes.subarray(wire.start, wire.end), LEARNING_EVENT_READ).event };
    } catch {
      return undefined;
    }
  }

  /** A LogEvent read by hand, encoded; or decoded by protobuf-es when the fast path does not apply; undefined when it does not decode. */
  private settleLogEvent(header: LogEventRequest, wire: WireLogEvent, path: string, sink: BodySink): Settled | undefined {
    if (this.transcoder !== undefined) {
      const start = sink.length;
      try {
        const entry = this.transcodeLogEvent(this.transcoder, header, wire, path, sink);
        if (entry !== undefined) return { entry };
      } catch {
        // Refused: today's path below gives the very error, or the decode error.
      }
      sink.length = start;
    }
    try {
      return { event: fromBinary(LearningEventSchema, wire.bytes.subarray(wire.start, wire.end), LEARNING_EVENT_READ).event };
    } catch {
      return undefined;
    }
  }

  /**
   * Encodes a LogEvent read by hand as {@link prepare} and {@link encode}
   * would; undefined (or a throw) when anything is refused (invalid, over the
   * size limit, PII in reject mode): today's path then says why.
   */
  private transcodeLogEvent(tx: StructTranscoder, header: LogEventRequest, wire: WireLogEvent, path: string, sink: BodySink): AcceptedEvent | undefined {
    this.validate(LogEventRequestSchema)(header, "");
    const found = this.redactedScratch;
    found.length = 0;
    // Bytes of the unredacted JSON beyond the redacted (negative when redaction lengthened it).
    let unredactedExtra = 0;
    const start = sink.length;
    sink.writeString(bodyOpenOf(header.eventType));
    if (wire.dataStart >= 0) {
      const r = tx.structTo(sink, wire.bytes, wire.dataStart, wire.dataEnd, { path: `${path}.generic.data`, recordPath: `${path}.data`, messageDepth: LOG_EVENT_STRUCT_DEPTH }, found);
      if (!r.complete || r.piiError !== undefined) return undefined;
      unredactedExtra += r.unredactedBytes - r.bytes;
    } else {
      sink.writeBytes(EMPTY_OBJECT);
    }
    if (wire.contextStart >= 0) {
      const member = sink.length;
      sink.writeBytes(CONTEXT_BYTES);
      const r = tx.structTo(sink, wire.bytes, wire.contextStart, wire.contextEnd, { path: `${path}.generic.context`, recordPath: `${path}.context`, messageDepth: LOG_EVENT_STRUCT_DEPTH }, found);
      if (!r.complete || r.piiError !== undefined) return undefined;
      unredactedExtra += r.unredactedBytes - r.bytes;
      // A context with no keys is left out, as the original module leaves it out.
      if (r.bytes === 2) sink.length = member;
    }
    const bytes = sink.length - start;
    const max = this.limits.recordBytesMax;
    if (bytes > max || bytes + unredactedExtra > max) return undefined;
    const clientChosenId = header.eventId !== undefined;
    const redactedFields = found.length > 0 ? found.slice() : NOTHING_REDACTED;
    if (redactedFields.length > 0) this.observer?.redacted?.(header.eventType);
    return new SinkEntry(clientChosenId ? header.eventId!.toLowerCase() : this.ids.uuid(), clientChosenId, header.eventType, redactedFields, sink, start, sink.length);
  }

  /** Checks and encodes one event; throws INVALID_ARGUMENT naming the field (paths start at `path`). */
  prepare(event: LearningEvent["event"], path: string): PreparedEvent | Promise<PreparedEvent> {
    this.check(event, path);
    return this.build(event, path);
  }

  /** Validates an event (descriptor-driven); throws INVALID_ARGUMENT naming the field. */
  private check(event: LearningEvent["event"], path: string): void {
    if (event.case === undefined) throw ServiceError.invalid(path || "event", "no event set");
    try {
      this.validate(eventSchemas.get(event.case)!)(event.value, "");
    } catch (err) {
      // Unary requests name their fields directly; batch events also name the
      // position and the oneof case. Built only on failure: no path strings per valid event.
      if (!path || !(err instanceof ServiceError)) throw err;
      throw err.underField(`${path}.${eventFieldNames.get(event.case)}`);
    }
  }

  /** Builds and encodes a validated event. */
  private build(event: LearningEvent["event"], path: string): PreparedEvent | Promise<PreparedEvent> {
    const draft = buildEvent(event, this.deps);
    // Only events that consult the tracker are asynchronous; the rest stay off the microtask queue.
    return draft instanceof Promise ? draft.then((d) => this.encode(d, path)) : this.encode(draft, path);
  }

  /** Guards and encodes a draft, with the size limit (also for drafts the server builds, such as trust events). */
  encode(draft: EventDraft, path = ""): PreparedEvent {
    // Size first: the PII guard then only ever scans records within the limit.
    let body = this.checkedBody(draft, path);
    const found = this.redactedScratch;
    found.length = 0;
    draft.data = this.pii(draft.data, path ? `${path}.data` : "data", found) ?? null;
    if (draft.context !== undefined) draft.context = this.pii(draft.context, path ? `${path}.context` : "context", found) as EventDraft["context"];
    const redactedFields = found.length > 0 ? found.slice() : NOTHING_REDACTED;
    if (redactedFields.length > 0) {
      body = this.checkedBody(draft, path);
      this.observer?.redacted?.(draft.eventType);
    }
    const clientChosenId = draft.eventId !== undefined;
    return { eventId: clientChosenId ? draft.eventId!.toLowerCase() : this.ids.uuid(), clientChosenId, body, draft, redactedFields, eventType: draft.eventType };
  }

  private checkedBody(draft: EventDraft, path: string): string {
    const body = encodeBody(draft);
    // Cheap check first: a UTF-16 unit is at most 3 UTF-8 bytes.
    if (body.length * 3 > this.limits.recordBytesMax) {
      const bytes = Buffer.byteLength(body, "utf8");
      if (bytes > this.limits.recordBytesMax) {
        throw ServiceError.invalid(path || "event", `record of ${bytes} bytes is over the limit of ${this.limits.recordBytesMax} bytes`);
      }
    }
    return body;
  }

  /** Writes one event (of the call's run, if any: checked by the caller); resolves with its ack once durable. */
  async writeOne(eventCase: EventCase, message: unknown, run?: string): Promise<{ ack: EventAckData; draft: EventDraft }> {
    const prepared = await this.refusing(() => this.prepare({ case: eventCase, value: message } as LearningEvent["event"], ""));
    const entry = await this.refusing(() => this.entryOf(prepared, run, ""));
    const result = await this.appendOne(entry);
    return { ack: toAck(prepared.eventId, result, prepared.redactedFields, this.explainRedactions(prepared.redactedFields)), draft: prepared.draft };
  }

  /** Writes a draft the server built (events of trust operations), in the call's run, if any. */
  async writeDraft(draft: EventDraft, run?: string): Promise<EventAckData> {
    const prepared = await this.refusing(() => this.encode(draft));
    const entry = await this.refusing(() => this.entryOf(prepared, run, ""));
    const result = await this.appendOne(entry);
    return toAck(prepared.eventId, result, prepared.redactedFields, this.explainRedactions(prepared.redactedFields));
  }

  /** What the PII guard matched in each of these redacted fields (the key or the value, and the rule), for acks and clients' warnings. */
  explainRedactions(fields: readonly string[]): RedactionReason[] {
    if (fields.length === 0) return [];
    const classify = (this.classifyKey ??= keyClassifier(piiOptionsOf(this.pii)?.sensitiveKeys ?? []));
    return fields.map((f) => redactionReason(f, classify));
  }

  /** Tells the observer that `events` events were refused with `err`'s code, and rejects with it. */
  private refused(err: unknown, events: number): Promise<never> {
    this.observer?.rejected?.(ServiceError.from(err).code, events);
    return Promise.reject(err);
  }

  /** Runs the preparation of one event; its failure is told to the observer (without one, nothing is added). */
  private refusing<T>(step: () => T | Promise<T>): T | Promise<T> {
    if (this.observer === undefined) return step();
    try {
      const prepared = step();
      return prepared instanceof Promise ? prepared.catch((err: unknown) => this.refused(err, 1)) : prepared;
    } catch (err) {
      return this.refused(err, 1);
    }
  }

  /**
   * Writes a batch with partial success: invalid events are reported, the
   * rest is written. `wait` makes a full queue wait instead of failing
   * (streams); `indexBase` offsets indexes and paths (whole-stream numbering);
   * `eventIds` keeps the accepted events' ids for per-event acks.
   * Not an async function on purpose: the request's events are only read
   * here, never held by a frame that waits for the fsync.
   */
  writeBatch(events: readonly LearningEvent[], options: WriteBatchOptions = {}): Promise<BatchOutcome> {
    try {
      events = this.settle(events, { indexBase: options.indexBase, pathPrefix: options.pathPrefix });
      if (events.length > this.limits.batchEventsMax) {
        throw ServiceError.invalid(options.pathPrefix ?? "events", `${events.length} events in one batch, over the limit of ${this.limits.batchEventsMax}`);
      }
      const empty: PreparedBatch = { entries: [], eventIds: [], redacted: new Map(), errors: [], keepIds: options.eventIds ?? false };
      const batch = this.prepareBatch(events, options.indexBase ?? 0, options.pathPrefix ?? "events", options.run, 0, empty);
      const sink = (events as SettledEvents)[BODY_SINK];
      return batch instanceof Promise ? batch.then((b) => this.appendBatch(b, options.wait, sink), (err: unknown) => this.refused(err, events.length)) : this.appendBatch(batch, options.wait, sink);
    } catch (err) {
      return this.refused(err, events.length);
    }
  }

  /**
   * Writes a batch an ingest worker prepared: {@link writeBatch} ran there on
   * the request's bytes, its store only catching `entries`. Tells the
   * observer what was refused and redacted there, then appends as writeBatch does.
   */
  appendPrepared(batch: Omit<BatchOutcome, "results"> & { entries: AppendEntry[] }, notes: PreparedElsewhereNotes, wait?: boolean): Promise<BatchOutcome> {
    this.tellPrepared(notes);
    return this.appendBatch({ ...batch, keepIds: false }, wait);
  }

  /** Tells the observer what preparing a batch elsewhere refused and redacted. */
  tellPrepared(notes: PreparedElsewhereNotes): void {
    for (let i = 0; i < notes.rejected.length; i += 2) this.observer?.rejected?.(notes.rejected[i], notes.rejected[i + 1]);
    for (const eventType of notes.redacted) this.observer?.redacted?.(eventType);
  }

  /** Prepares every event of a batch; asynchronous only when an event consults the tracker. */
  private prepareBatch(events: readonly LearningEvent[], base: number, prefix: string, callRun: string | undefined, from: number, batch: PreparedBatch): PreparedBatch | Promise<PreparedBatch> {
    for (let i = from; i < events.length; i++) {
      try {
        const run = this.runOf(events[i], callRun, prefix, base + i);
        const settled = (events[i] as SettledEvent)[SETTLED];
        if (settled?.entry !== undefined) {
          this.accept(batch, settled.entry, run);
          continue;
        }
        const event = settled?.event ?? events[i].event;
        const typedType = this.typed.eventType(event.case);
        if (typedType !== undefined) {
          // Their path is built only for an error: no string per valid event.
          try {
            this.check(event, "");
          } catch (err) {
            throw err instanceof ServiceError ? err.underField(`${prefix}[${base + i}].${eventFieldNames.get(event.case!)}`) : err;
          }
        } else {
          this.check(event, `${prefix}[${base + i}]`);
        }
        const body = typedType === undefined ? undefined : this.typed.body(event);
        // Within the size limit for sure (a UTF-16 unit is at most 3 UTF-8 bytes); else the general path measures it.
        if (body !== undefined && typedType !== undefined && body.length * 3 <= this.limits.recordBytesMax) {
          const eventId = (event.value as { eventId?: string }).eventId;
          const clientChosenId = eventId !== undefined;
          this.accept(batch, { eventId: clientChosenId ? eventId.toLowerCase() : this.ids.uuid(), clientChosenId, body, redactedFields: NOTHING_REDACTED, eventType: typedType }, run);
          continue;
        }
        const p = this.build(event, `${prefix}[${base + i}]`);
        if (p instanceof Promise) {
          return p.then(
            (event) => this.prepareBatch(events, base, prefix, callRun, i + 1, this.accepting(batch, event, run, base + i)),
            (err) => this.prepareBatch(events, base, prefix, callRun, i + 1, this.reject(batch, err, base + i)),
          );
        }
        this.accept(batch, p, run);
      } catch (err) {
        this.reject(batch, err, base + i);
      }
    }
    return batch;
  }

  private accept(batch: PreparedBatch, event: AcceptedEvent, run: string | undefined): PreparedBatch {
    const entry = this.entryOf(event, run, "");
    if (event.redactedFields.length > 0) batch.redacted.set(batch.entries.length, event.redactedFields);
    batch.entries.push(entry);
    // Ids are kept only when asked: thousands of them per batch would otherwise wait for the fsync too.
    if (batch.keepIds) batch.eventIds.push(event.eventId);
    return batch;
  }

  /**
   * The store's entry of an accepted event: its body closed by the run's
   * member when it belongs to a run, still within the record size limit.
   */
  private entryOf(event: AppendEntry & { readonly eventType: string }, run: string | undefined, path: string): AppendEntry {
    if (event instanceof SinkEntry) {
      if (run === undefined) return event;
      const bytes = event.bodyEnd - event.bodyStart + runMember(run).length;
      if (bytes > this.limits.recordBytesMax) throw ServiceError.invalid(path || "event", `record of ${bytes} bytes (with its run) is over the limit of ${this.limits.recordBytesMax} bytes`);
      event.joinRun(run);
      return event;
    }
    if (run === undefined) return { eventId: event.eventId, clientChosenId: event.clientChosenId, body: event.body, run, eventType: undefined };
    const body = bodyInRun(event.body, run);
    // Cheap check first: a UTF-16 unit is at most 3 UTF-8 bytes.
    if (body.length * 3 > this.limits.recordBytesMax) {
      const bytes = Buffer.byteLength(body, "utf8");
      if (bytes > this.limits.recordBytesMax) throw ServiceError.invalid(path || "event", `record of ${bytes} bytes (with its run) is over the limit of ${this.limits.recordBytesMax} bytes`);
    }
    // The event type for the run index, from what the writer has at hand (reading it from the joined body would flatten it).
    return { eventId: event.eventId, clientChosenId: event.clientChosenId, body, run, eventType: event.eventType };
  }

  /** The run of event `i` of a batch: its own (checked), else the call's. */
  private runOf(event: LearningEvent, callRun: string | undefined, prefix: string, index: number): string | undefined {
    const own = event.run;
    if (own === undefined) return callRun;
    // Most events of a batch name the same run: checked once.
    if (own === this.lastRunChecked) return own;
    checkRun(own, `${prefix}[${index}].run`);
    this.lastRunChecked = own;
    return own;
  }

  /** {@link accept}, or {@link reject} when the event with its run is over the size limit. */
  private accepting(batch: PreparedBatch, event: AcceptedEvent, run: string | undefined, index: number): PreparedBatch {
    try {
      return this.accept(batch, event, run);
    } catch (err) {
      return this.reject(batch, err, index);
    }
  }

  /** Records an invalid event of a batch; any other failure fails the whole batch. */
  private reject(batch: PreparedBatch, err: unknown, index: number): PreparedBatch {
    const e = ServiceError.from(err);
    if (e.code !== status.INVALID_ARGUMENT) throw e;
    this.observer?.rejected?.(e.code, 1);
    batch.errors.push({ index, code: e.code, message: e.message, violations: e.violations });
    return batch;
  }

  /** Appends a prepared batch; its body sink, if any, goes back to the pool once the store has answered (a failed append leaves it to the garbage collector). */
  private appendBatch({ entries, eventIds, redacted, errors }: PreparedBatch, wait: boolean | undefined, sink?: BodySink): Promise<BatchOutcome> {
    return this.store.append(entries, { wait }).then((results) => {
      this.observer?.written?.(entries, results);
      this.recycle(sink);
      return { eventIds, results, redacted, errors };
    });
  }

  /** Appends entries the writer made one at a time (unary calls, the server's own drafts). */
  private async appendOne(entry: AppendEntry): Promise<AppendResult> {
    const results = await this.store.append([entry]);
    this.observer?.written?.([entry], results);
    return results[0];
  }
}
