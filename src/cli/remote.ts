import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient, type Client } from "../rpc/client.js";

/** The learning log client the commands use. */
export type LogClient = Client<typeof LearningLogService.method>;
/** The trust client the commands use. */
export type TrustClient = Client<typeof TrustService.method>;

// Replay messages are up to 1 MiB of records; a record itself may be up to the server's record limit.
const channelOptions = { "grpc.max_receive_message_length": 64 * 1024 * 1024 };

/** A client of the learning log service at host:port. */
export function logClient(address: string): LogClient {
  return createClient(LearningLogService, address, undefined, channelOptions);
}

/** A client of the trust service at host:port. */
export function trustClient(address: string): TrustClient {
  return createClient(TrustService, address, undefined, channelOptions);
}

/** The seq of the first record with seq >= fromSeq (and of the given types), or 0 when there is none. */
async function firstSeqFrom(client: LogClient, fromSeq: number, eventTypes: readonly string[] = []): Promise<number> {
  for await (const m of client.readEvents({ fromSeq: BigInt(fromSeq), limit: 1n, eventTypes: [...eventTypes] })) {
    if (m.records.length > 0) return Number(m.records[0].seq);
  }
  return 0;
}

/**
 * The log's last seq, found with O(log n) one-record ReadEvents calls (seqs
 * have no gaps): exponential probing, then binary search. 0 for an empty log.
 */
export async function lastSeqOf(client: LogClient): Promise<number> {
  let lo = await firstSeqFrom(client, 1);
  if (lo === 0) return 0;
  let step = 1;
  let hi = 0; // first seq known to have no record
  while (hi === 0) {
    const found = await firstSeqFrom(client, lo + step);
    if (found === 0) hi = lo + step;
    else {
      lo = found;
      step *= 2;
    }
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const found = await firstSeqFrom(client, mid);
    if (found === 0) hi = mid;
    else lo = found;
  }
  return lo;
}
