import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { AckedRecord } from "./ack-witness.js";

/** A notice from a front end writing to the same stream. */
export type TurnNotice =
  /** It lost a race and waits for a turn. */
  | { readonly kind: "want"; readonly writer: string }
  /** It stored a message at this stream sequence; `acked`: the newest record it knows acked (its witness). */
  | { readonly kind: "stored"; readonly writer: string; readonly streamSeq: number; readonly acked?: AckedRecord };

/**
 * Small core NATS messages (not stored in the stream) by which the front
 * ends writing one stream take turns instead of racing: a front end that
 * lost a race says it wants a turn; while front ends share the stream, each
 * says where it stored its last message, so that the others read it before
 * they publish (and wait a little for it after their own). A lost notice
 * costs at most a lost race or a short wait, never a record: the stream's
 * expected last sequence still decides every publish.
 *
 * The notices also carry each front end's witness of the newest record
 * acked (ack-witness.ts), and a front end answers requests for it on
 * `<subject>.witness`: a front end that starts without a witness of its own
 * learns the others' before it writes.
 */
export class TurnSignals {
  private readonly sub: Subscription;
  private readonly witnessSub: Subscription;
  private failedOnce = false;

  constructor(
    private readonly nc: NatsConnection,
    /** The subject of the stream's notices (outside the records' subject, so no stream stores them). */
    private readonly subject: string,
    /** This front end's writer id (its message ids' prefix). */
    private readonly writer: string,
    onNotice: (notice: TurnNotice) => void,
    /** Told once when a notice cannot be sent (no permission on the subject, say): turns then fall back to races. */
    private readonly onFailure?: (err: unknown) => void,
    /** This front end's witness, to answer other front ends' requests for it. */
    private readonly acked: () => AckedRecord | undefined = () => undefined,
  ) {
    this.witnessSub = nc.subscribe(`${subject}.witness`, {
      callback: (err, msg) => {
        if (err !== null || msg.reply === undefined) return;
        const w = this.acked();
        try {
          msg.respond(JSON.stringify(w ?? null));
        } catch {
          // Connection closing: the asker counts on the stream and the other front ends.
        }
      },
    });
    this.sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) return;
        const notice = parseNotice(msg.string());
        if (notice !== undefined && notice.writer !== writer) onNotice(notice);
      },
    });
  }

  /** Says this front end lost a race and waits for a turn. */
  want(): void {
    this.send({ kind: "want", writer: this.writer });
  }

  /** Says this front end stored a message at `streamSeq`. */
  stored(streamSeq: number): void {
    this.send({ kind: "stored", writer: this.writer, streamSeq, acked: this.acked() });
  }

  /** Stops listening. */
  close(): void {
    this.sub.unsubscribe();
    this.witnessSub.unsubscribe();
  }

  private send(notice: TurnNotice): void {
    try {
      this.nc.publish(this.subject, JSON.stringify(notice));
    } catch (err) {
      if (!this.failedOnce) this.onFailure?.(err);
      this.failedOnce = true;
    }
  }
}

/**
 * Asks the front ends writing the stream for their witnesses (the newest
 * record each knows acked) and returns the newest answer, waiting at most
 * `waitMs` (no front end running: none).
 */
export async function askWitnesses(nc: NatsConnection, subject: string, waitMs: number): Promise<AckedRecord | undefined> {
  let newest: AckedRecord | undefined;
  try {
    const answers = await nc.requestMany(`${subject}.witness`, "", { maxWait: waitMs, strategy: "timer" });
    for await (const m of answers) {
      const w = parseAcked(safeJson(m.string()));
      if (w !== undefined && (newest === undefined || w.seq > newest.seq)) newest = w;
    }
  } catch {
    // No responders (no other front end), or no permission: the stream's own end is all there is to go on.
  }
  return newest;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseAcked(v: unknown): AckedRecord | undefined {
  const w = v as Partial<AckedRecord> | null | undefined;
  if (w === null || typeof w !== "object") return undefined;
  if (!Number.isSafeInteger(w.seq) || !Number.isSafeInteger(w.streamSeq) || typeof w.hash !== "string" || !/^[0-9a-f]{64}$|^$/.test(w.hash)) return undefined;
  return { seq: w.seq!, streamSeq: w.streamSeq!, hash: w.hash };
}

/** The subject of a stream's turn notices. */
export function turnSubject(stream: string): string {
  return `_PULSE.turns.${stream}`;
}

function parseNotice(text: string): TurnNotice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const v = value as Partial<{ kind: unknown; writer: unknown; streamSeq: unknown; acked: unknown }>;
  if (typeof v?.writer !== "string") return undefined;
  if (v.kind === "want") return { kind: "want", writer: v.writer };
  if (v.kind === "stored" && typeof v.streamSeq === "number" && Number.isSafeInteger(v.streamSeq) && v.streamSeq > 0) return { kind: "stored", writer: v.writer, streamSeq: v.streamSeq, acked: parseAcked(v.acked) };
  return undefined;
}
