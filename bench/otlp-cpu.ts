/**
 * Server CPU per event of OTLP/gRPC logs Export against IngestEvents (and
 * LogBatch) carrying the same events, on the same server, in the same run.
 *
 *   npm run build && node --import tsx bench/otlp-cpu.ts [--measure-s 3] [--warmup-s 1] [--repeats 3] [--source]
 *
 * Events: batches of 1,000 weight updates as an OpenTelemetry SDK sends
 * them (event_name "variable_weight_update", a key-value body {variable,
 * from, to}, one attribute, three resource attributes); the learning log's
 * own calls carry the LogEvents the OTLP mapping makes of them (data = the
 * body, context = the attributes with the resource's under "resource"). The
 * script first checks that both write the same records.
 *
 * Calls, 16 in flight each:
 *  - OTLP Export (unary, one ExportLogsServiceRequest of 1,000 records);
 *  - IngestEvents (one stream, batches of 1,000, 16 unanswered);
 *  - LogBatch (unary, 1,000 events: the same call shape as Export).
 *
 * Server CPU per event = utime + stime of the server process (all threads,
 * /proc/<pid>/stat) over the driver's measured part / events acknowledged in
 * it. One fresh server per repeat runs every call in turn (rotated across
 * repeats); each prints min / median / max and the ratio of its median to
 * IngestEvents'; the 1-minute load average at each run is printed beside it.
 *
 * Runs the build (dist/src/main.js, as `npm start`); --source runs
 * src/main.ts through tsx instead.
 */
import { readFile } from "node:fs/promises";
import { create } from "@bufbuild/protobuf";
import { ExportLogsServiceRequestSchema, LogsService } from "../gen/ts/opentelemetry/proto/collector/logs/v1/logs_service_pb.js";
import { IngestEventsRequestSchema, LearningLogService, LogBatchRequestSchema } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { driveBatchCalls, driveIngestBatches } from "./drivers/batch-calls.js";
import type { DriverResult, RunTiming } from "./drivers/driver.js";
import { minMedianMax, ratioOfMedians, textTable } from "./figures.js";
import { STREAM_IN_FLIGHT } from "./scenarios.js";
import { runArgs, serverCpuRun, startPulse, type ServerCpuRun } from "./server-cpu-run.js";

const { timing, repeats: REPEATS, build } = runArgs();

const BATCH = 1000;
const DISTINCT = 8;
const IN_FLIGHT = STREAM_IN_FLIGHT;

const s = (value: string) => ({ value: { case: "stringValue" as const, value } });
const d = (value: number) => ({ value: { case: "doubleValue" as const, value } });
const resourceAttributes = { "service.name": "trainer", "service.version": "2.1", "host.name": "node-7" };

/** Event `i`: its body, as OTLP carries it and as LogEvent data. */
const body = (i: number) => ({ variable: `var_${String(i % 500).padStart(3, "0")}`, from: (i % 10_000) / 10_000, to: ((i * 7919) % 10_000) / 10_000 });

const otlpRequests = Array.from({ length: DISTINCT }, (_, b) =>
  create(ExportLogsServiceRequestSchema, {
    resourceLogs: [
      {
        resource: { attributes: Object.entries(resourceAttributes).map(([key, v]) => ({ key, value: s(v) })) },
        scopeLogs: [
          {
            scope: { name: "pulse.trainer", version: "1.0.0" },
            logRecords: Array.from({ length: BATCH }, (_, k) => {
              const e = body(b * BATCH + k);
              return {
                eventName: "variable_weight_update",
                body: { value: { case: "kvlistValue" as const, value: { values: [{ key: "variable", value: s(e.variable) }, { key: "from", value: d(e.from) }, { key: "to", value: d(e.to) }] } } },
                attributes: [{ key: "run", value: s("r1") }],
              };
            }),
          },
        ],
      },
    ],
  }),
);

const logEvents = (b: number) =>
  Array.from({ length: BATCH }, (_, k) => ({
    event: { case: "generic" as const, value: { eventType: "variable_weight_update", data: body(b * BATCH + k), context: { run: "r1", resource: resourceAttributes } } },
  }));
const ingestBatches = Array.from({ length: DISTINCT }, (_, b) => create(IngestEventsRequestSchema, { events: logEvents(b) }));
const logBatchRequests = Array.from({ length: DISTINCT }, (_, b) => create(LogBatchRequestSchema, { events: logEvents(b) }));

type Call = { name: string; drive: (address: string, timing: RunTiming) => Promise<DriverResult> };
const calls: Call[] = [
  {
    name: "IngestEvents",
    drive: async (address, t) => {
      const client = createClient(LearningLogService, address);
      try {
        return await driveIngestBatches(client, ingestBatches, { ...t, inFlight: IN_FLIGHT });
      } finally {
        client.close();
      }
    },
  },
  {
    name: "OTLP Export",
    drive: async (address, t) => {
      const client = createClient(LogsService, address);
      let next = 0;
      try {
        return await driveBatchCalls(
          async () => {
            const answer = await client.export(otlpRequests[next++ % DISTINCT]);
            if (answer.partialSuccess !== undefined && answer.partialSuccess.rejectedLogRecords > 0n) throw new Error(`Export refused records: ${answer.partialSuccess.errorMessage}`);
            return BATCH;
          },
          { ...t, inFlight: IN_FLIGHT },
        );
      } finally {
        client.close();
      }
    },
  },
  {
    name: "LogBatch",
    drive: async (address, t) => {
      const client = createClient(LearningLogService, address);
      let next = 0;
      try {
        return await driveBatchCalls(
          async () => {
            const answer = await client.logBatch(logBatchRequests[next++ % DISTINCT]);
            if (answer.errors.length > 0) throw new Error(`LogBatch refused events: ${answer.errors[0].message}`);
            return answer.acks.length;
          },
          { ...t, inFlight: IN_FLIGHT },
        );
      } finally {
        client.close();
      }
    },
  },
];


/** Sends one batch by Export and the same by LogBatch and checks the records match, event_id, timestamp, seq and hash aside. */
async function checkSameRecords(): Promise<void> {
  const { server, logPath, stop } = await startPulse(build, []);
  const otlp = createClient(LogsService, server.address);
  const log = createClient(LearningLogService, server.address);
  try {
    await otlp.export(otlpRequests[0]);
    await log.logBatch(logBatchRequests[0]);
    const records = (await readFile(logPath, "utf8"))
      .trim()
      .split("\n")
      .map((line) => {
        const { event_id: _id, timestamp: _ts, seq: _seq, hash: _hash, ...rest } = JSON.parse(line) as Record<string, unknown>;
        return JSON.stringify(rest);
      });
    if (records.length !== 2 * BATCH) throw new Error(`expected ${2 * BATCH} records, found ${records.length}`);
    for (let i = 0; i < BATCH; i++) if (records[i] !== records[BATCH + i]) throw new Error(`record ${i} differs:\n${records[i]}\n${records[BATCH + i]}`);
  } finally {
    otlp.close();
    log.close();
    await stop();
  }
}

await checkSameRecords();
const runs = new Map<string, ServerCpuRun[]>(calls.map((c) => [c.name, []]));
console.log(`OTLP CPU: node ${process.version}, the real server (${build === "dist" ? "dist/src/main.js" : "src/main.ts through tsx"}), batches of ${BATCH} records, ${IN_FLIGHT} in flight, ${timing.warmupS} s warm-up + ${timing.measureS} s measured per run, ${REPEATS} repeats; Export and LogBatch write the same records (checked)`);
for (let r = 0; r < REPEATS; r++) {
  const { server, stop } = await startPulse(build, []);
  try {
    for (let k = 0; k < calls.length; k++) {
      // Calls rotate so none always runs first on a fresh server.
      const call = calls[(k + r) % calls.length];
      const run = await serverCpuRun(server.pid, timing, (t) => call.drive(server.address, t));
      runs.get(call.name)!.push(run);
      console.log(`repeat ${r + 1}, ${call.name}: ${run.usPerEvent.toFixed(2)} us/event, ${Math.round(run.eventsPerSecond).toLocaleString("en-US")} events/s, load ${run.loadAverage}`);
    }
  } finally {
    await stop();
  }
}

const ingest = runs.get("IngestEvents")!.map((x) => x.usPerEvent);
const table = [["call", "server CPU us/event min / median / max", "events/s (median)", "load avg at each run", "ratio to IngestEvents"]];
for (const c of calls) {
  const xs = runs.get(c.name)!;
  const rates = xs.map((x) => x.eventsPerSecond).sort((a, b) => a - b);
  table.push([c.name, minMedianMax(xs.map((x) => x.usPerEvent)), Math.round(rates[Math.floor(rates.length / 2)]).toLocaleString("en-US"), xs.map((x) => x.loadAverage.toFixed(1)).join(", "), ratioOfMedians(xs.map((x) => x.usPerEvent), ingest)]);
}
console.log("");
console.log(textTable(table));
