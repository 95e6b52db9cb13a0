import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { chainOfHeaders, lastTimestampOf, rangeOfMessage, type SeqRange } from "./record-message.js";
import { retrying } from "./retry.js";

/**
 * Reads the stored message at a stream sequence (null when there is none:
 * deleted, or never stored), tried again through an election but not past
 * `deadline` (Date.now() ms) when given.
 */
export type MessageGetter = (streamSeq: number, deadline?: number) => Promise<StoredMsg | null>;

/** How {@link messageGetter} reads. */
export interface MessageGetterOptions {
  /** The stream allows direct gets (`allow_direct`, set on streams this server makes). */
  direct: boolean;
  /** Each get is tried through an election for this long, in ms... */
  retryMs: number;
  /** ...but not past this time (Date.now() ms), when given: one budget for a whole search. */
  deadline?: number;
  /** Told about every get tried again. */
  onRetry?: (err: unknown, attempt: number) => void;
}

/**
 * Gets messages by stream sequence. With direct gets allowed, a get is
 * answered by any of the stream's servers with the raw message (no JSON,
 * no base64: several times cheaper for a message holding a whole group
 * commit); a replica that has not applied the message yet answers "not
 * found", so that answer is asked again of the stream's leader, which has
 * every acknowledged message.
 */
export function messageGetter(jsm: JetStreamManager, stream: string, options: MessageGetterOptions): MessageGetter {
  const leader = (seq: number) => jsm.streams.getMessage(stream, { seq });
  const get = options.direct ? async (seq: number) => (await jsm.direct.getMessage(stream, { seq })) ?? (await leader(seq)) : leader;
  return (seq, deadline) =>
    retrying(() => get(seq), { ms: Math.min(options.retryMs, Math.min(options.deadline ?? Number.POSITIVE_INFINITY, deadline ?? Number.POSITIVE_INFINITY) - Date.now()), onRetry: options.onRetry });
}

/**
 * The first stream sequence in [lo, hi] whose message is not before the
 * target (`before` says true, false, or undefined when the message cannot
 * tell: not a record, missing), or hi + 1 when every one is before. One
 * message get per step: O(log(hi - lo)) gets. A message that cannot tell is
 * searched to its left: the reader skips what lies before the target
 * anyway, so starting early costs reading, never a record.
 */
async function firstNotBefore(lo: number, hi: number, before: (m: StoredMsg) => boolean | undefined, get: MessageGetter): Promise<number> {
  let end = hi + 1;
  while (lo < end) {
    const mid = lo + Math.floor((end - lo) / 2);
    const m = await get(mid);
    if (m !== null && before(m) === true) lo = mid + 1;
    else end = mid;
  }
  return lo;
}

/**
 * Where the record with `seq` is, or the first one after it: the first
 * stream sequence in [lo, hi] whose message holds a seq >= `seq` (hi + 1 when
 * none does). Seq ranges grow with the stream sequence, so this is a binary
 * search over the messages' seq headers.
 */
export function streamSeqOfRecord(seq: number, lo: number, hi: number, get: MessageGetter): Promise<number> {
  return firstNotBefore(
    lo,
    hi,
    (m) => {
      const range = rangeOfMessage(m.seq, m.data, m.header);
      return range === undefined ? undefined : range.last < seq;
    },
    get,
  );
}

/**
 * The first stream sequence in [lo, hi] whose message's last record is
 * stamped at or after `micros` (hi + 1 when none is). Record times only
 * roughly grow with the stream (front ends stamp before they publish): the
 * caller starts earlier by its skew margin and filters exactly.
 */
export function streamSeqAtTime(micros: number, lo: number, hi: number, get: MessageGetter): Promise<number> {
  return firstNotBefore(
    lo,
    hi,
    (m) => {
      const t = lastTimestampOf(m.seq, m.data, m.header);
      return Number.isNaN(t) ? undefined : t < micros;
    },
    get,
  );
}

/** The last record of the stream: its seq and the stream sequence of the message holding it. */
export interface LastRecord {
  readonly recordSeq: number;
  readonly streamSeq: number;
  /** The hash chain's tip there ("" when the message carries no chain). */
  readonly hash: string;
}

/**
 * The last record stored at or before stream sequence `last`: the message
 * there names it, or, when other programs' messages follow the last record,
 * one of the messages before (read backwards, at most `stepsMax` of them).
 * Undefined when none of them holds a record (an empty stream, or one
 * ending with more than `stepsMax` messages that are not records).
 */
export async function lastRecordAt(last: number, first: number, get: MessageGetter, stepsMax = 64): Promise<LastRecord | undefined> {
  for (let s = last; s >= Math.max(first, 1) && last - s < stepsMax; s--) {
    const m = await get(s);
    const range = m === null ? undefined : rangeOfMessage(s, m.data, m.header);
    if (range !== undefined) return { recordSeq: range.last, streamSeq: s, hash: chainOfHeaders(m!.header)?.last ?? "" };
  }
  return undefined;
}

/** What one message of a stretch holds: its seq range, no record at all, or what cannot be told (a headers-only look at a message without seq headers). */
export type MessageSeqs = SeqRange | "none" | "unknown";

/**
 * The seq ranges of the stream's latest messages as one front end saw them,
 * one after the other (its own stores, the messages it caught up on, what
 * its watcher saw), so that a read starting near the end finds its message
 * without a search by message gets. It holds one contiguous stretch of
 * stream sequences: a message that does not follow the last one held (or
 * one it cannot tell about) starts the stretch again; the oldest half is
 * dropped past `max` messages.
 */
export class RecentMessages {
  /** Stream sequence of the stretch's first message. */
  private firstStreamSeq = 0;
  /** The last seq before the stretch. */
  private base = 0;
  /** The highest seq held by the stretch's messages up to each one (others' messages repeat the one before). */
  private lastUpTo: number[] = [];

  constructor(private readonly max = 8192) {}

  /** Tells the stretch about the message at `streamSeq`. */
  add(streamSeq: number, seqs: MessageSeqs): void {
    const end = this.firstStreamSeq + this.lastUpTo.length - 1;
    if (this.lastUpTo.length > 0 && streamSeq <= end) return;
    if (seqs === "unknown" || (this.lastUpTo.length > 0 && streamSeq !== end + 1)) this.lastUpTo = [];
    if (seqs === "unknown") return;
    if (this.lastUpTo.length === 0) {
      // A stretch starts at a message with records: the seq before it is then known.
      if (seqs === "none") return;
      this.firstStreamSeq = streamSeq;
      this.base = seqs.first - 1;
      this.lastUpTo.push(seqs.last);
      return;
    }
    const before = this.lastUpTo[this.lastUpTo.length - 1];
    this.lastUpTo.push(seqs === "none" ? before : Math.max(before, seqs.last));
    if (this.lastUpTo.length > this.max) {
      const drop = this.lastUpTo.length >> 1;
      this.base = this.lastUpTo[drop - 1];
      this.firstStreamSeq += drop;
      this.lastUpTo = this.lastUpTo.slice(drop);
    }
  }

  /**
   * Where a read of `seq` starts: the stream sequence of the message holding
   * it, or of the message after the stretch when it holds only earlier seqs;
   * undefined when `seq` is at or before the stretch's start (search).
   */
  find(seq: number): number | undefined {
    if (this.lastUpTo.length === 0 || seq <= this.base) return undefined;
    let lo = 0;
    let hi = this.lastUpTo.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.lastUpTo[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return this.firstStreamSeq + lo;
  }
}
