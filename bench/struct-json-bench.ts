/**
 * CPU per Struct: today's path for a free-form field against the Struct
 * transcoder, in one process, in the same run.
 *
 *   node --import tsx bench/struct-json-bench.ts [--seconds 2] [--repeats 3]
 *
 * Payload: the data (and context) of the seed's LogEvent (bench/drivers/fixtures.ts),
 * 1,000 distinct events encoded by protobuf-es as LogEventRequests; the PII
 * guard in the server's default mode (redact, default keys), default limits.
 *
 * Rows:
 *  - reference: protobuf-es decodes the request (the Struct field becomes JS
 *    objects), the validator's Struct check (checkJson), the PII guard, jsonLine;
 *  - decode only: the same decode (its share of the reference);
 *  - transcoder -> string: structText on the field's bytes;
 *  - transcoder -> sink: structTo, the bytes appended to a growing buffer;
 *  - "+ record buffer" rows: the same ending as bytes in a record buffer
 *    (today's RecordBuffer writes each string as UTF-8; the sink already holds them).
 *
 * CPU is utime + stime of this process from /proc/self/stat over each
 * measured window (every thread: GC and compiler included), divided by the
 * Structs transcoded. Each row runs `--repeats` times, rows interleaved, and
 * reports min/median/max; ratios are of medians, and the 1-minute load
 * average is printed at the start of each repeat.
 */
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary, type JsonValue } from "@bufbuild/protobuf";
import { LogEventRequestSchema } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ByteSink } from "../src/codec/byte-sink.js";
import { createStructTranscoder } from "../src/codec/struct-json.js";
import { jsonLine } from "../src/record/json-text.js";
import { defaultEventLimits } from "../src/guard/limits.js";
import { createPiiGuard, defaultSensitiveKeys } from "../src/guard/pii.js";
import { checkJson } from "../src/guard/validator.js";
import { cpuSecondsOf, loadAverage1m } from "./cpu.js";
import { learningEvent, seededRandom } from "./drivers/fixtures.js";

const { values: args } = parseArgs({ options: { seconds: { type: "string", default: "2" }, repeats: { type: "string", default: "3" } } });
const SECONDS = Number(args.seconds);
const REPEATS = Number(args.repeats);

const DISTINCT = 1000;
const pii = { mode: "redact" as const, sensitiveKeys: defaultSensitiveKeys };
const guard = createPiiGuard(pii);
const tx = createStructTranscoder({ limits: defaultEventLimits, pii });

/** One field's bytes in its request, where the hand-written reader would find them. */
interface Field {
  request: Uint8Array;
  start: number;
  end: number;
}

/** The [start, end) of length-delimited field `no` of a message (the fixtures write each once). */
function fieldRange(bytes: Uint8Array, no: number): [number, number] {
  let p = 0;
  const read = () => {
    let v = 0;
    let shift = 0;
    let b: number;
    do {
      b = bytes[p++];
      v |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (p < bytes.length) {
    const tag = read();
    if ((tag & 7) !== 2) throw new Error("fixture has a field of another wire type");
    const length = read();
    if (tag >>> 3 === no) return [p, p + length];
    p += length;
  }
  throw new Error(`field ${no} not found`);
}

/** Requests holding only the field (so the reference decode is of the Struct, not of the rest of the event). */
function fields(name: "data" | "context", withEmail: boolean): Field[] {
  const random = seededRandom(42);
  const out: Field[] = [];
  for (let i = 0; i < DISTINCT; i++) {
    const event = learningEvent("generic", i, random).event;
    if (event.case !== "generic") throw new Error("fixture is not a LogEvent");
    const json = { ...(event.value[name] ?? {}) };
    if (withEmail) json.owner = `analyst${i}@example.org`;
    const request = toBinary(LogEventRequestSchema, create(LogEventRequestSchema, { [name]: json }));
    const [start, end] = fieldRange(request, name === "data" ? 2 : 3);
    out.push({ request, start, end });
  }
  return out;
}

const place = { path: "data", recordPath: "data", messageDepth: 2 };
const found: string[] = [];
const recordBuffer = Buffer.allocUnsafeSlow(4 * 1024 * 1024);
let recordUsed = 0;
const sink = new ByteSink(4 * 1024 * 1024);
let checksum = 0;

/** Today's path for one field: decode, check, guard, stringify. */
function reference(f: Field, name: "data" | "context"): string {
  const message = fromBinary(LogEventRequestSchema, f.request);
  const json = message[name] as JsonValue;
  checkJson(json, name, 0, defaultEventLimits);
  found.length = 0;
  return jsonLine(guard(json, name, found) ?? null);
}

function toRecordBuffer(text: string): void {
  if (recordUsed + text.length * 3 > recordBuffer.length) recordUsed = 0;
  recordUsed += recordBuffer.write(text, recordUsed);
}

type Row = { name: string; run: (f: Field) => void };

function rows(name: "data" | "context"): Row[] {
  return [
    { name: "reference (decode, check, PII, jsonLine)", run: (f) => (checksum += reference(f, name).length) },
    { name: "  of which protobuf-es decode", run: (f) => (checksum += fromBinary(LogEventRequestSchema, f.request).eventType.length) },
    {
      name: "transcoder -> string",
      run: (f) => {
        found.length = 0;
        checksum += tx.structText(f.request, f.start, f.end, place, found).text.length;
      },
    },
    {
      name: "transcoder -> sink (bytes)",
      run: (f) => {
        if (sink.length > 3 * 1024 * 1024) sink.length = 0;
        found.length = 0;
        checksum += tx.structTo(sink, f.request, f.start, f.end, place, found).bytes;
      },
    },
    { name: "reference + record buffer", run: (f) => toRecordBuffer(reference(f, name)) },
    {
      name: "transcoder -> string + record buffer",
      run: (f) => {
        found.length = 0;
        toRecordBuffer(tx.structText(f.request, f.start, f.end, place, found).text);
      },
    },
  ];
}

/** CPU ns per call of `run` over a window of about SECONDS of CPU time. */
function measure(run: (f: Field) => void, input: Field[]): { nsPerStruct: number; calls: number } {
  // Calibrate a batch to ~50 ms so the /proc readings (10 ms ticks) are not read per call.
  let batch = input.length;
  const startCpu = cpuSecondsOf(process.pid)!;
  let calls = 0;
  for (;;) {
    for (let i = 0; i < batch; i++) run(input[i % input.length]);
    calls += batch;
    const used = cpuSecondsOf(process.pid)! - startCpu;
    if (used >= SECONDS) return { nsPerStruct: (used * 1e9) / calls, calls };
    if (used > 0 && calls === batch) batch = Math.max(input.length, Math.round((batch * 0.05) / used));
  }
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

function check(input: Field[], name: "data" | "context"): void {
  for (const f of input) {
    const expected = reference(f, name);
    const foundRef = [...found];
    found.length = 0;
    const got = tx.structText(f.request, f.start, f.end, place, found).text;
    if (got !== expected || JSON.stringify(found.map((p) => p.replace(/^data/, name))) !== JSON.stringify(foundRef)) throw new Error(`transcoder differs from the reference on ${expected}`);
  }
}

const payloads: Array<{ label: string; name: "data" | "context"; input: Field[] }> = [
  { label: "seed LogEvent data", name: "data", input: fields("data", false) },
  { label: "seed LogEvent context", name: "context", input: fields("context", false) },
  { label: "seed LogEvent data + one e-mail address (redacted)", name: "data", input: fields("data", true) },
];

const fmt = (ns: number) => (ns / 1000).toFixed(3);
console.log(`struct-json bench: node ${process.version}, ${SECONDS} s of CPU per window, ${REPEATS} repeats, ${DISTINCT} distinct payloads, PII redact (default keys)`);
for (const payload of payloads) {
  check(payload.input, payload.name);
  const wireBytes = payload.input.reduce((sum, f) => sum + f.end - f.start, 0) / payload.input.length;
  const jsonBytes = payload.input.reduce((sum, f) => sum + Buffer.byteLength(reference(f, payload.name)), 0) / payload.input.length;
  const before = { ...tx.counts };
  const table = rows(payload.name);
  // Warm-up: let every row reach its optimized code before anything is measured.
  for (const row of table) for (let i = 0; i < 20_000; i++) row.run(payload.input[i % payload.input.length]);
  const results = new Map<string, number[]>(table.map((r) => [r.name, []]));
  const loads: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    loads.push(loadAverage1m());
    // Rows rotate so none always runs first (after a GC, or on a quieter machine).
    for (let k = 0; k < table.length; k++) {
      const row = table[(k + r) % table.length];
      results.get(row.name)!.push(measure(row.run, payload.input).nsPerStruct);
    }
  }
  const walked = tx.counts.onePass - before.onePass;
  const referred = tx.counts.reference - before.reference;
  console.log(`\n${payload.label}: ${wireBytes.toFixed(0)} wire bytes, ${jsonBytes.toFixed(0)} JSON bytes per Struct; load average (1 min) at each repeat: ${loads.join(", ")}; one-pass walks ${walked}, reference path ${referred}`);
  console.log(`${"row".padEnd(40)} ${"CPU us/Struct min".padStart(18)} ${"median".padStart(8)} ${"max".padStart(8)} ${"ratio to reference".padStart(19)}`);
  const referenceMedian = stats(results.get(table[0].name)!).median;
  const referenceBufferMedian = stats(results.get("reference + record buffer")!).median;
  for (const row of table) {
    const s = stats(results.get(row.name)!);
    const base = row.name.includes("record buffer") ? referenceBufferMedian : referenceMedian;
    console.log(`${row.name.padEnd(40)} ${fmt(s.min).padStart(18)} ${fmt(s.median).padStart(8)} ${fmt(s.max).padStart(8)} ${(s.median / base).toFixed(3).padStart(19)}`);
  }
}
// Keeps the results alive so no row is optimized away.
if (checksum === -1) console.log(checksum);
