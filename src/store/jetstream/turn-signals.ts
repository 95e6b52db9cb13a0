import type { NatsConnection, Subscription } from "@nats-io/transport-node";

/** A notice from a front end writing to the same stream. */
export type TurnNotice =
  /** It lost a race and waits for a turn. */
  | { readonly kind: "want"; readonly writer: string }
  /** It stored a message at this stream sequence. */
  | { readonly kind: "stored"; readonly writer: string; readonly streamSeq: number };

/**
 * Small core NATS messages (not stored in the stream) by which the front
 * ends writing one stream take turns instead of racing: a front end that
 * lost a race says it wants a turn; while front ends share the stream, each
 * says where it stored its last message, so that the others read it before
 * they publish (and wait a little for it after their own). A lost notice
 * costs at most a lost race or a short wait, never a record: the stream's
 * expected last sequence still decides every publish.
 */
export class TurnSignals {
  private readonly sub: Subscription;
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
  ) {
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
    this.send({ kind: "stored", writer: this.writer, streamSeq });
  }

  /** Stops listening. */
  close(): void {
    this.sub.unsubscribe();
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
  const v = value as Partial<{ kind: unknown; writer: unknown; streamSeq: unknown }>;
  if (typeof v?.writer !== "string") return undefined;
  if (v.kind === "want") return { kind: "want", writer: v.writer };
  if (v.kind === "stored" && typeof v.streamSeq === "number" && Number.isSafeInteger(v.streamSeq) && v.streamSeq > 0) return { kind: "stored", writer: v.writer, streamSeq: v.streamSeq };
  return undefined;
}
