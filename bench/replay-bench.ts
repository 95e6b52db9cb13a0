/**
 * Replay benchmark: writes N records (default 1,000,000) through the real
 * Appender, starts the real server on that log in a child process, and
 * streams the log back with ReadEvents (all records, then with an event-type
 * filter), printing records scanned and delivered per second of wall time,
 * and per CPU-second of the server and of the client (which stay meaningful
 * when other work shares the machine).
 *
 *   npm run bench:replay -- [--records N] [--types a,b]   (builds the server first)
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { v4 as uuidv4 } from "uuid";
import { LearningLogService } from "../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { createClient } from "../src/rpc/client.js";
import { Appender } from "../src/store/appender.js";
import { PULSE_SERVER_SCRIPT } from "./servers/spawn.js";
import { listSegments } from "../src/store/segments.js";

const { values } = parseArgs({
  options: {
    records: { type: "string", default: "1000000" },
    types: { type: "string", default: "variable_weight_update,rule_activation" },
  },
});
const records = Number(values.records);
const wanted = values.types!.split(",");

// Four event types in turn: a two-type filter keeps half of the records.
const bodies = [
  (i: number) => `"event_type":"variable_weight_update","data":{"variable":"var_${i % 97}","from":${(i % 13) / 10},"to":${(i % 17) / 10}}`,
  (i: number) => `"event_type":"rule_activation","data":{"rule_id":"r${i % 31}","variable_id":"var_${i % 97}","outcome":"ok","forecast_id":null,"success":true}`,
  (i: number) => `"event_type":"symbolic_revision_triggered","data":{"reason":"drift ${i}"}`,
  (i: number) => `"event_type":"rule_effectiveness","data":{"rule_id":"r${i % 31}","activation_count":${i},"success_rate":0.5,"impact_score":0.1,"timestamp":"x"}`,
];

/** CPU time (user + system) a process has used, in seconds, from /proc (Linux). */
async function cpuSecondsOf(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const dir = await mkdtemp(join(tmpdir(), "pulse-replay-bench-"));
try {
  const logPath = join(dir, "pulse_learning_log.jsonl");
  let t0 = performance.now();
  const { appender } = await Appender.open({ path: logPath, dedupWindowRecords: 1 });
  const batch = 10_000;
  for (let i = 0; i < records; i += batch) {
    const entries = [];
    for (let j = i; j < Math.min(records, i + batch); j++) entries.push({ eventId: uuidv4(), body: bodies[j % bodies.length](j) });
    await appender.append(entries);
  }
  await appender.close();
  const files = await listSegments(logPath);
  let size = 0;
  for (const f of files) size += (await stat(f.path)).size;
  console.log(`wrote ${records} records (${(size / 1e6).toFixed(1)} MB in ${files.length} file(s)) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const server = spawn(process.execPath, [PULSE_SERVER_SCRIPT, "--addr", "127.0.0.1:0", "--log-path", logPath], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: server.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === "listening" && entry.port) resolve(entry.port);
    });
  });
  const client = createClient(LearningLogService, `127.0.0.1:${port}`, undefined, { "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  try {
    for (const [label, eventTypes] of [["no filter", []], [`types ${wanted.join(",")}`, wanted]] as const) {
      t0 = performance.now();
      const serverCpu0 = await cpuSecondsOf(server.pid!);
      const clientCpu0 = process.cpuUsage();
      let delivered = 0;
      let messages = 0;
      for await (const m of client.readEvents({ eventTypes: [...eventTypes] })) {
        delivered += m.records.length;
        messages++;
      }
      const s = (performance.now() - t0) / 1000;
      const serverCpu = (await cpuSecondsOf(server.pid!)) - serverCpu0;
      const c = process.cpuUsage(clientCpu0);
      const clientCpu = (c.user + c.system) / 1e6;
      const rate = (n: number, seconds: number) => Math.round(n / seconds).toLocaleString("en-US");
      console.log(
        `${label}: ${delivered} records delivered in ${messages} messages, ${s.toFixed(2)} s: ` +
          `${rate(records, s)} records scanned/s, ${rate(delivered, s)} delivered/s; ` +
          `server ${serverCpu.toFixed(2)} CPU-s (${rate(records, serverCpu)} scanned/CPU-s), client ${clientCpu.toFixed(2)} CPU-s (${rate(delivered, clientCpu)} decoded/CPU-s)`,
      );
    }
  } finally {
    client.close();
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
