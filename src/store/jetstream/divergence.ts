import { status } from "@grpc/grpc-js";
import { ServiceError } from "../../errors.js";

/**
 * The stream does not hold the history that was acknowledged: a record
 * acked (by this front end, or by another that said so) is missing from the
 * stream's end ("behind"), or another record stands in its place ("differs").
 * nats-server 2.9.10 can do this after a paused leader is killed (see
 * docs/jetstream.md, "What an ack means"): the service then refuses to write
 * rather than ack a seq a second time.
 */
export interface Divergence {
  /** The stream's name. */
  readonly stream: string;
  readonly kind: "behind" | "differs";
  /** The seq of the acked record the stream lacks or holds differently. */
  readonly seq: number;
  /** Where in the stream it was acked (its stream sequence). */
  readonly streamSeq: number;
  /** What the stream holds instead, in words. */
  readonly found: string;
  /** Why, in words. */
  readonly cause: string;
}

/** What an operator can do when the stream lost acknowledged records (every refusal says it). */
export const DIVERGENCE_REMEDY =
  "An operator can find a node whose copy of the stream still holds those records (pulse-log verify against each, or nats stream info per server) and make it lead the stream, or restore the stream from a backup; to accept the loss and write on after what the stream holds, remove the front ends' witness files (see docs/jetstream.md, \"When the stream lost acknowledged records\")";

/** The sentence every refusal and the error log line carry. */
export function divergenceMessage(d: Divergence): string {
  return `JetStream stream ${d.stream} lost acknowledged records: seq ${d.seq} was acked at stream sequence ${d.streamSeq}, but ${d.found} (${d.cause}). Nothing was written, and this server writes nothing more until that is resolved. ${DIVERGENCE_REMEDY}`;
}

/** An append refused because the stream lost acknowledged records: UNAVAILABLE, naming them. */
export class DivergedError extends ServiceError {
  constructor(readonly divergence: Divergence) {
    super(status.UNAVAILABLE, divergenceMessage(divergence));
  }
}
