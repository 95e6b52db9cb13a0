/**
 * CPU per event of the server's request path, in one process: an
 * IngestEvents request's bytes decoded, every event validated and encoded
 * into its log record, the fast path against the reference path, in the
 * same run.
 *
 *   node --import tsx bench/request-path-bench.ts [--seconds 1] [--repeats 3] [--only TEXT]
 *
 * `--only` keeps the payloads whose label contains TEXT.
 *
 * Paths, each over the very same request bytes (batches of 1,000 events):
 *  - reference: protobuf-es decodes the whole request (Structs become JS
 *    objects); each event is validated (descriptor-driven), built by the
 *    catalog, PII-guarded and encoded with JSON.stringify
 *    (`EventWriter.prepare`): the path every event took before the fast path;
 *  - fast: the batch request read by hand (src/codec/event-batch.ts, Structs
 *    transcoded), weight changes and rule activations written by the typed
 *    encoders (src/events/typed-encoders.ts), event ids drawn in bulk
 *    (`EventWriter.writeBatch`, as the IngestEvents handler calls it);
 *  - "of which decode" rows: the decode step of each path alone.
 * Both paths end in the same store stand-in, which encodes each record as
 * the appender does (event_id, timestamp, body, seq) into a record buffer;
 * the hash chain, the disk, gRPC and the ack are not in this figure (the
 * server's CPU per event in `npm run bench` has all of them).
 *
 * Payloads: the seed mix (bench/drivers/fixtures.ts: a third each weight
 * changes, rule activations with object outcomes, LogEvents with nested
 * data), then each shape alone: rule activations with object outcomes
 * ({"delta": .., "applied": ..}, as Pulse logs them) and with string
 * outcomes, weight changes, and one payload per other catalog event
 * (symbolic upgrades, revision triggers, arc regret, learning summaries,
 * rule effectiveness), shaped as Pulse sends them. Server defaults: PII
 * guard in redact mode with the default keys, default limits; a fixed clock
 * (rule effectiveness writes the time of the call in its data), so both
 * paths' records can be compared.
 *
 * CPU is utime + stime of this process from /proc/self/stat over each
 * measured window (every thread: GC and compiler included), divided by the
 * events. Rows rotate across `--repeats` repeats; each prints min / median /
 * max and the ratio of its median to the reference's; the 1-minute load
 * average is printed at each repeat.
 */
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { IngestEventsRequestSchema, LearningEventSchema, type IngestEventsRequest, type LearningEvent } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { readEventBatch } from "../src/codec/event-batch.js";
import { EventWriter } from "../src/events/event-writer.js";
import { defaultEventLimits } from "../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys } from "../src/guard/pii.js";
import { RECORD_END, recordHead, recordPrefix } from "../src/record/layout.js";
import { RecordBuffer } from "../src/store/record-buffer.js";
import type { AppendEntry, AppendResult, LogStore } from "../src/store/store.js";
import { cpuSecondsOf, loadAverage1m } from "./cpu.js";
import { prebuiltBatches, seedMixEvent } from "./drivers/fixtures.js";
import { minMedianMax, ratioOfMedians, textTable } from "./figures.js";

const { values: args } = parseArgs({ options: { seconds: { type: "string", default: "1" }, repeats: { type: "string", default: "3" }, only: { type: "string" } } });
const SECONDS = Number(args.seconds);
const REPEATS = Number(args.repeats);
if (!(SECONDS > 0) || !(REPEATS >= 1)) throw new Error("--seconds and --repeats must be positive");

const BATCH_EVENTS = 1000;
const DISTINCT_BATCHES = 8;
const TIMESTAMP = "2026-11-30T12:00:00.000000Z";

/** The appender's encoding of records into its record buffer, without the disk: what every path ends in. */
class EncodingStore {
  readonly records = new RecordBuffer(8 * 1024 * 1024);
  private seq = 0;
  /** Bytes encoded since the last reset of the buffer, for the check. */
  lastRecord = "";

  append(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    const head = recordHead(TIMESTAMP);
    if (this.records.length > 4 * 1024 * 1024) this.records.reset();
    const results: AppendResult[] = [];
    for (const e of entries) {
      const line = `${recordPrefix(e.eventId, head, e.body, ++this.seq)}${RECORD_END}`;
      this.records.write(line);
      this.lastRecord = line;
      results.push({ seq: this.seq, timestamp: TIMESTAMP, duplicate: false });
    }
    return Promise.resolve(results);
  }
}

const store = new EncodingStore();
const limits = defaultEventLimits;
const writer = new EventWriter(
  store as unknown as LogStore,
  { limits, clock: { nowMicros: () => 1_764_504_000_123_456 }, trustMetrics: () => Promise.reject(new Error("no event of these payloads reads the tracker")) },
  limits,
  createPiiGuard({ mode: "redact", sensitiveKeys: defaultSensitiveKeys }),
);

/** Today's fast path: the batch read by hand (or decoded whole when it is not in the plain shape), then written. */
async function fast(bytes: Uint8Array): Promise<number> {
  const request = (readEventBatch(IngestEventsRequestSchema, bytes) ?? fromBinary(IngestEventsRequestSchema, bytes)) as IngestEventsRequest;
  const outcome = await writer.writeBatch(writer.settle(request.events), { wait: true });
  if (outcome.errors.length > 0) throw new Error(`fast path refused an event: ${outcome.errors[0].message}`);
  return outcome.results.length;
}

/** The reference path: decoded whole by protobuf-es, each event prepared (validate, catalog, PII, JSON.stringify), then written. */
async function reference(bytes: Uint8Array): Promise<number> {
  const request = fromBinary(IngestEventsRequestSchema, bytes);
  const entries: AppendEntry[] = [];
  for (let i = 0; i < request.events.length; i++) {
    const prepared = writer.prepare(request.events[i].event, `events[${i}]`);
    entries.push(prepared instanceof Promise ? await prepared : prepared);
  }
  return (await store.append(entries)).length;
}

let checksum = 0;
const fastDecode = (bytes: Uint8Array): Promise<number> => {
  const request = readEventBatch(IngestEventsRequestSchema, bytes) as IngestEventsRequest | undefined;
  if (request === undefined) throw new Error("the fixture is not read by hand");
  // Settling transcodes the LogEvents' Structs: part of the fast path's reading, as the handler does it.
  checksum += writer.settle(request.events).length;
  return Promise.resolve(request.events.length);
};
const referenceDecode = (bytes: Uint8Array): Promise<number> => Promise.resolve(fromBinary(IngestEventsRequestSchema, bytes).events.length);

/** Request bytes: `DISTINCT_BATCHES` batches of `BATCH_EVENTS` events, encoded as a client sends them. */
function requests(events: (i: number) => LearningEvent): Uint8Array[] {
  return Array.from({ length: DISTINCT_BATCHES }, (_, b) =>
    toBinary(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { batchId: BigInt(b + 1), events: Array.from({ length: BATCH_EVENTS }, (_, i) => events(b * BATCH_EVENTS + i)) })),
  );
}

const pad3 = (n: number) => String(n).padStart(3, "0");
/** The other catalog events, shaped as Pulse logs them: every value from `i` alone. */
const otherEvents: Record<string, (i: number) => LearningEvent> = {
  "symbolic upgrades (a plan of three variable changes)": (i) =>
    create(LearningEventSchema, {
      event: {
        case: "symbolicUpgrade",
        value: {
          plan: Object.fromEntries(Array.from({ length: 3 }, (_, k) => [`var_${pad3((i + k * 7) % 500)}`, { from: ((i * 31 + k) % 1000) / 1000, to: ((i * 37 + k) % 1000) / 1000, reason: "trust_drop" }])),
        },
      },
    }),
  "revision triggers": (i) => create(LearningEventSchema, { event: { case: "revisionTrigger", value: { reason: `arc_${pad3(i % 40)} regret above 0.${(i * 7) % 10} for 3 forecasts` } } }),
  "arc regret (five scores)": (i) =>
    create(LearningEventSchema, { event: { case: "arcRegret", value: { scores: Object.fromEntries(Array.from({ length: 5 }, (_, k) => [`arc_${pad3((i + k) % 40)}`, ((i * 13 + k * 101) % 1000) / 1000])) } } }),
  "learning summaries (nested)": (i) =>
    create(LearningEventSchema, {
      event: {
        case: "learningSummary",
        value: {
          summary: { window: `w-${i % 100}`, rules_evaluated: 40 + (i % 30), mean_trust: ((i * 7) % 1000) / 1000, top_rules: [`rule_${pad3(i % 250)}`, `rule_${pad3((i + 1) % 250)}`], drift: { mae: ((i * 3) % 100) / 1000, flagged: i % 9 === 0 } },
        },
      },
    }),
  "rule effectiveness": (i) =>
    create(LearningEventSchema, {
      event: { case: "ruleEffectiveness", value: { ruleId: `rule_${pad3(i % 250)}`, activationCount: BigInt(100 + (i % 900)), successRate: ((i * 7) % 1000) / 1000, impactScore: ((i * 11) % 2000) / 1000 - 1 } },
    }),
};

const payloads: Array<{ label: string; input: Uint8Array[] }> = [
  { label: "seed mix (rule outcomes as objects)", input: requests(seedMixEvent) },
  // The seed mix's rule activations (every third event from the second).
  { label: "rule activations, object outcomes", input: requests((i) => seedMixEvent(3 * i + 1)) },
  { label: "rule activations, string outcomes", input: requests((i) => seedMixEvent(3 * i + 1, { outcome: "string" })) },
  { label: "variable weight changes", input: prebuiltBatches("typed", BATCH_EVENTS, DISTINCT_BATCHES).map((b) => toBinary(IngestEventsRequestSchema, b)) },
  ...Object.entries(otherEvents).map(([label, event]) => ({ label, input: requests(event) })),
];

type Row = { name: string; baseline: string; run: (bytes: Uint8Array) => Promise<number> };
const rows: Row[] = [
  { name: "reference (protobuf-es decode, validate, catalog, PII, JSON.stringify, record)", baseline: "reference", run: reference },
  { name: "fast (batch read by hand, Structs transcoded, typed encoders, record)", baseline: "reference", run: fast },
  { name: "  of which decode: protobuf-es", baseline: "reference", run: referenceDecode },
  { name: "  of which decode: read by hand + Structs transcoded", baseline: "reference", run: fastDecode },
];

/** CPU microseconds per event of `run` over the inputs, round-robin, for about SECONDS of this process's CPU time. */
async function measure(run: Row["run"], input: readonly Uint8Array[]): Promise<number> {
  const startCpu = cpuSecondsOf(process.pid)!;
  let events = 0;
  for (let n = 0; ; n++) {
    events += await run(input[n % input.length]);
    // /proc's ticks are 10 ms: read it every few batches, not per batch.
    if (n % 8 === 7) {
      const used = cpuSecondsOf(process.pid)! - startCpu;
      if (used >= SECONDS) return (used * 1e6) / events;
    }
  }
}

/** Both paths write the same records (event ids aside, which each draws at random). */
async function check(input: readonly Uint8Array[]): Promise<void> {
  const withoutId = (line: string) => line.replace(/^\{"event_id":"[0-9a-f-]{36}"/, "").replace(/,"seq":\d+\}\n$/, "");
  for (const bytes of input) {
    const count = fromBinary(IngestEventsRequestSchema, bytes).events.length;
    const lines: string[][] = [];
    for (const run of [reference, fast]) {
      store.records.reset();
      if ((await run(bytes)) !== count) throw new Error("a path wrote fewer events than the request holds");
      lines.push(store.records.bytes.toString("utf8").split(/(?<=\n)/).map(withoutId));
    }
    for (let i = 0; i < count; i++) if (lines[0][i] !== lines[1][i]) throw new Error(`paths differ on event ${i}:\n${lines[0][i]}\n${lines[1][i]}`);
  }
}

console.log(`request-path bench: node ${process.version}, ${SECONDS} s of CPU per window, ${REPEATS} repeats, ${DISTINCT_BATCHES} distinct batches of ${BATCH_EVENTS} events, PII redact (default keys), default limits`);
for (const payload of payloads.filter((p) => args.only === undefined || p.label.includes(args.only))) {
  await check(payload.input);
  const bytesPerEvent = payload.input.reduce((sum, b) => sum + b.length, 0) / (payload.input.length * BATCH_EVENTS);
  store.records.reset();
  await reference(payload.input[0]);
  const recordBytes = store.records.length / BATCH_EVENTS;
  // Warm-up: every row reaches its optimized code before anything is measured.
  for (const row of rows) for (let i = 0; i < 40; i++) await row.run(payload.input[i % payload.input.length]);
  const results = new Map<string, number[]>(rows.map((r) => [r.name, []]));
  const loads: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    loads.push(loadAverage1m());
    // Rows rotate so none always runs first (after a GC, or on a quieter machine).
    for (let k = 0; k < rows.length; k++) {
      const row = rows[(k + r) % rows.length];
      results.get(row.name)!.push(await measure(row.run, payload.input));
    }
  }
  console.log(`\n${payload.label}: ${bytesPerEvent.toFixed(0)} request bytes and ${recordBytes.toFixed(0)} record bytes per event (no hash chain); 1-minute load average at each repeat: ${loads.join(", ")}`);
  const table = [["row", "CPU us/event min / median / max", "events/s per core (median)", "ratio to reference"]];
  for (const row of rows) {
    const us = results.get(row.name)!;
    const median = [...us].sort((a, b) => a - b)[Math.floor(us.length / 2)];
    table.push([row.name, minMedianMax(us, 3), Math.round(1e6 / median).toLocaleString("en-US"), ratioOfMedians(us, results.get(rows[0].name)!)]);
  }
  console.log(textTable(table));
}
// Keeps the results alive so no row is optimized away.
if (checksum === -1) console.log(checksum, store.lastRecord);
