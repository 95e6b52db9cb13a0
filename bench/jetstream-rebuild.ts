/**
 * `node --import tsx bench/jetstream-rebuild.ts [--records N] [--replicas 1|3] [--repeats N] [--under-load]`:
 * how long a JetStream front end takes to open ready (the stream's tail found,
 * the dedup window rebuilt from the stream's last records, the witness
 * checked) for the default window of 100,000 records. Fills a fresh stream on
 * a nats-server (or a three-node cluster) on loopback through one front end,
 * then opens a second front end on it `--repeats` times and prints the
 * rebuild time the store reports (the server logs it as `rebuildMs` in
 * "JetStream log opened"), with the load average. `--under-load`: the first
 * front end keeps writing 1,000-event batches while the others open.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { v4 as uuidv4 } from "uuid";
import { JetStreamStore } from "../src/store/jetstream/jetstream-store.js";
import { startNats } from "../test/store/jetstream/nats-servers.js";
import { loadAverage1m } from "./cpu.js";

const { values } = parseArgs({ options: { records: { type: "string", default: "120000" }, replicas: { type: "string", default: "3" }, repeats: { type: "string", default: "3" }, "under-load": { type: "boolean", default: false } } });
const records = Number(values.records);
const replicas = Number(values.replicas) as 1 | 3;
const repeats = Number(values.repeats);
const dir = await mkdtemp(join(tmpdir(), "pulse-rebuild-"));
const nats = await startNats(dir, replicas === 3 ? 3 : 1);
try {
  const where = { servers: nats.servers, stream: "REBUILD", subject: "rebuild.events", replicas };
  const { store: writer } = await JetStreamStore.open(where);
  const body = `"event_type":"rule_activation","data":{"rule_id":"r1","variable_id":"v1","outcome":{"delta":0.25,"applied":true},"forecast_id":null,"success":true}`;
  const batch = () => Array.from({ length: 1000 }, () => ({ eventId: uuidv4(), clientChosenId: true, body }));
  for (let done = 0; done < records; done += 1000) await writer.append(batch());
  let writing = values["under-load"];
  const load = (async () => {
    while (writing) await writer.append(batch());
  })();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const { store, report } = await JetStreamStore.open(where);
    times.push(report.rebuildMs);
    process.stdout.write(`open ${i + 1}: rebuilt ${report.windowRecords} window records, last seq ${report.lastSeq}, in ${Math.round(report.rebuildMs)} ms (load ${loadAverage1m().toFixed(1)})\n`);
    await store.close();
  }
  writing = false;
  await load;
  await writer.close();
  times.sort((a, b) => a - b);
  process.stdout.write(`${records} records, replicas ${replicas}${values["under-load"] ? ", under write load" : ""}: rebuild min/median/max ${times.map((t) => Math.round(t)).filter((_, i, a) => i === 0 || i === a.length >> 1 || i === a.length - 1).join(" / ")} ms\n`);
} finally {
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}
