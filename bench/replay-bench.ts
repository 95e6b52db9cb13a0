/**
 * Replay benchmark: writes N records (default 1,000,000) through the real
 * Appender, starts the real server on that log in a child process, and
 * streams the log back with ReadEvents (all records, then with an event-type
 * filter), measuring records scanned and delivered per second of wall time,
 * and per CPU-second of the server and of the client (which stay meaningful
 * when other work shares the machine). `npm run bench` runs it as one of its
 * parts (`measureReplay`); alone:
 *
 *   npm run bench:replay -- [--records N] [--types a,b]   (builds the server first)
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { v4 as uuidv4 } from "uuid";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { Appender } from "../src/store/file/appender.js";
import { listSegments } from "../src/store/file/segments.js";
import { cpuSecondsOf, loadAverage1m } from "./cpu.js";
import { PULSE_SERVER_SCRIPT, ServerProcess } from "./servers/spawn.js";

// Four event types in turn: a two-type filter keeps half of the records.
const bodies = [
  (i: number) => `"event_type":"variable_weight_update","data":{"variable":"var_${i % 97}","from":${(i % 13) / 10},"to":${(i % 17) / 10}}`,
  (i: number) => `"event_type":"rule_activation","data":{"rule_id":"r${i % 31}","variable_id":"var_${i % 97}","outcome":"ok","forecast_id":null,"success":true}`,
  (i: number) => `"event_type":"symbolic_revision_triggered","data":{"reason":"drift ${i}"}`,
  (i: number) => `"event_type":"rule_effectiveness","data":{"rule_id":"r${i % 31}","activation_count":${i},"success_rate":0.5,"impact_score":0.1,"timestamp":"x"}`,
];

/** The event types a filtered read keeps by default: half of the records written. */
export const DEFAULT_REPLAY_TYPES = ["variable_weight_update", "rule_activation"];

/** One ReadEvents pass over the whole log. */
export interface ReplayPass {
  /** "no filter", or the types kept. */
  label: string;
  /** Records the client received. */
  delivered: number;
  /** ReadEvents messages they came in. */
  messages: number;
  seconds: number;
  /** Records of the log scanned per second (all of them, whatever the filter). */
  scannedPerS: number;
  deliveredPerS: number;
  /** Server CPU seconds of the pass, and records scanned per server CPU-second. */
  serverCpuS: number;
  scannedPerServerCpuS: number;
  /** Client CPU seconds (this process: protobuf decoding), and records decoded per client CPU-second. */
  clientCpuS: number;
  decodedPerClientCpuS: number;
}

/** What {@link measureReplay} measured. */
export interface ReplayResult {
  records: number;
  logBytes: number;
  files: number;
  /** 1-minute load average when the passes started. */
  loadAverage: number;
  passes: ReplayPass[];
}

/** Options of {@link measureReplay}. */
export interface ReplayOptions {
  /** Records written, then read back. */
  records: number;
  /** Event types of the filtered pass. Default {@link DEFAULT_REPLAY_TYPES}. */
  types?: string[];
  /** Folder under which the log is written (and removed). Default the system's temp folder. */
  workDir?: string;
  progress?: (line: string) => void;
}

/** Writes `records` records with the real Appender, then reads them back through a real server, twice. */
export async function measureReplay(options: ReplayOptions): Promise<ReplayResult> {
  const types = options.types ?? DEFAULT_REPLAY_TYPES;
  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), "replay-"));
  try {
    const logPath = join(dir, "pulse_learning_log.jsonl");
    const { appender } = await Appender.open({ path: logPath, dedupWindowRecords: 1 });
    const batch = 10_000;
    for (let i = 0; i < options.records; i += batch) {
      const entries = [];
      for (let j = i; j < Math.min(options.records, i + batch); j++) entries.push({ eventId: uuidv4(), body: bodies[j % bodies.length](j) });
      await appender.append(entries);
    }
    await appender.close();
    const files = await listSegments(logPath);
    let logBytes = 0;
    for (const f of files) logBytes += (await stat(f.path)).size;
    options.progress?.(`replay: wrote ${options.records.toLocaleString("en-US")} records (${(logBytes / 1e6).toFixed(1)} MB in ${files.length} file(s))`);

    const server = await ServerProcess.start({ name: "pulse", script: PULSE_SERVER_SCRIPT, args: ["--addr", "127.0.0.1:0", "--log-path", logPath, "--log-level", "info"] });
    const client = createClient(LearningLogService, server.address, undefined, { "grpc.max_receive_message_length": 16 * 1024 * 1024 });
    const passes: ReplayPass[] = [];
    const loadAverage = loadAverage1m();
    try {
      for (const [label, eventTypes] of [["no filter", []], [`types ${types.join(",")}`, types]] as const) {
        const t0 = performance.now();
        const serverCpu0 = cpuSecondsOf(server.pid) ?? Number.NaN;
        const clientCpu0 = process.cpuUsage();
        let delivered = 0;
        let messages = 0;
        for await (const m of client.readEvents({ eventTypes: [...eventTypes] })) {
          delivered += m.records.length;
          messages++;
        }
        const seconds = (performance.now() - t0) / 1000;
        const serverCpuS = (cpuSecondsOf(server.pid) ?? Number.NaN) - serverCpu0;
        const c = process.cpuUsage(clientCpu0);
        const clientCpuS = (c.user + c.system) / 1e6;
        const pass: ReplayPass = {
          label,
          delivered,
          messages,
          seconds,
          scannedPerS: options.records / seconds,
          deliveredPerS: delivered / seconds,
          serverCpuS,
          scannedPerServerCpuS: options.records / serverCpuS,
          clientCpuS,
          decodedPerClientCpuS: delivered / clientCpuS,
        };
        passes.push(pass);
        options.progress?.(replayLine(pass));
      }
    } finally {
      client.close();
      await server.stop();
    }
    return { records: options.records, logBytes, files: files.length, loadAverage, passes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rate = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");

/** One pass in one line. */
export function replayLine(p: ReplayPass): string {
  return (
    `${p.label}: ${p.delivered} records delivered in ${p.messages} messages, ${p.seconds.toFixed(2)} s: ` +
    `${rate(p.scannedPerS)} records scanned/s, ${rate(p.deliveredPerS)} delivered/s; ` +
    `server ${p.serverCpuS.toFixed(2)} CPU-s (${rate(p.scannedPerServerCpuS)} scanned/CPU-s), client ${p.clientCpuS.toFixed(2)} CPU-s (${rate(p.decodedPerClientCpuS)} decoded/CPU-s)`
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      records: { type: "string", default: "1000000" },
      types: { type: "string", default: DEFAULT_REPLAY_TYPES.join(",") },
    },
  });
  await measureReplay({ records: Number(values.records), types: values.types!.split(","), progress: (line) => console.log(line) });
}
