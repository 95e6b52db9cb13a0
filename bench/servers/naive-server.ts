/**
 * The naive baseline: the original Python module's literal approach served
 * over the same protocol. Every event opens the log, appends its line, fsyncs
 * and closes the file, one event after another. Separate calls run
 * concurrently (as separate Pulse processes did against one file), which only
 * flatters the baseline: the kernel may merge their journal commits.
 *
 * Usage: node --import tsx bench/servers/naive-server.ts --log-path FILE
 */
import { open } from "node:fs/promises";
import { parseArgs } from "node:util";
import { v4 as uuidv4 } from "uuid";
import type { LearningEvent } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { formatTimestamp, systemClock } from "../../src/clock.js";
import { buildEvent, type CatalogDeps } from "../../src/events/catalog.js";
import { encodeBody } from "../../src/events/event-writer.js";
import { defaultEventLimits } from "../../src/guard/limits.js";
import { serveBaseline, type BaselineAck, type BaselineSink } from "./baseline-service.js";

const { values } = parseArgs({ options: { "log-path": { type: "string" } }, strict: true });
const logPath = values["log-path"];
if (logPath === undefined) {
  process.stderr.write("naive-server: --log-path FILE is required\n");
  process.exit(2);
}

const deps: CatalogDeps = {
  limits: defaultEventLimits,
  clock: systemClock,
  trustMetrics: () => Promise.reject(new Error("the naive baseline has no trust tracker")),
};

let seq = 0;

/** Writes one record the way the original did: open(path, "a"), write, flush, fsync, close. */
async function appendOne(event: LearningEvent["event"]): Promise<BaselineAck> {
  const draft = await buildEvent(event, deps);
  const eventId = draft.eventId ?? uuidv4();
  const timestamp = formatTimestamp(systemClock.nowMicros());
  const mySeq = ++seq;
  const line = `{"event_id":"${eventId}","timestamp":"${timestamp}",${encodeBody(draft)},"seq":${mySeq}}\n`;
  const fh = await open(logPath!, "a", 0o600);
  try {
    await fh.write(line);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { firstSeq: mySeq, lastSeq: mySeq, lastEventId: eventId, timestamp };
}

const sink: BaselineSink = {
  async append(events) {
    let ack: BaselineAck = { firstSeq: 0, lastSeq: 0, lastEventId: "", timestamp: "" };
    let firstSeq = 0;
    for (const event of events) {
      ack = await appendOne(event);
      if (firstSeq === 0) firstSeq = ack.firstSeq;
    }
    return { ...ack, firstSeq };
  },
};

await serveBaseline("naive-baseline", sink);
