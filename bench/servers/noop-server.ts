/**
 * The no-op baseline: the same service over the same adapter, answering every
 * call at once without building, encoding or writing anything. Its rates are
 * the ceiling of grpc-js and protobuf-es on this machine.
 *
 * Usage: node --import tsx bench/servers/noop-server.ts
 */
import { serveBaseline, type BaselineSink } from "./baseline-service.js";

// A fixed, well-formed ack: the answer's size matches a real one's.
const EVENT_ID = "00000000-0000-4000-8000-000000000000";
const TIMESTAMP = "2026-01-01T00:00:00.000000+00:00";
let seq = 0;

const sink: BaselineSink = {
  async append(events) {
    const firstSeq = seq + 1;
    seq += events.length;
    return { firstSeq, lastSeq: seq, lastEventId: EVENT_ID, timestamp: TIMESTAMP };
  },
};

await serveBaseline("noop-baseline", sink);
