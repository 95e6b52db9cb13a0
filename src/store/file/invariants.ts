/**
 * What the file store's writer holds true on its commit path and after each
 * recovery. Each is checked in O(1) per commit (against the commit's first
 * and last records, never per record):
 * - "seq strictly increasing": a commit's records continue the log right
 *   after its last durable seq, and the last one is past it;
 * - "durable seq never ahead of written": no seq is durable before it was
 *   given to a record;
 * - "file size equals durable size": after a write (and after a recovery)
 *   the active file is exactly as long as the bytes known durable;
 * - "sealer tip equals last hash": the chain's tip the sealer hands back is
 *   the hash in the trailer of the last line it sealed (and after a recovery,
 *   the hash of the file's last line).
 */
export type InvariantName = "seq strictly increasing" | "durable seq never ahead of written" | "file size equals durable size" | "sealer tip equals last hash";

/**
 * An invariant of the store did not hold: the writer's own beliefs disagree
 * with each other or with the file. Like TigerBeetle's assertions, it is never
 * worked around: the store refuses every later write (clients see INTERNAL,
 * nothing is acked) until a restart, whose recovery checks the same
 * invariants, and the server log names the invariant with its details.
 */
export class InvariantError extends Error {
  override readonly name = "InvariantError";

  constructor(
    readonly invariant: InvariantName,
    /** The values that broke it (seqs, sizes, hashes). */
    readonly details: Readonly<Record<string, unknown>>,
  ) {
    super(`store invariant broken: ${invariant} (${Object.entries(details).map(([k, v]) => `${k} ${String(v)}`).join(", ")})`);
  }
}

/** Throws an {@link InvariantError} naming `name` unless `holds`; `details` says what was seen. */
export function invariant(holds: boolean, name: InvariantName, details: () => Record<string, unknown>): asserts holds {
  if (!holds) throw new InvariantError(name, details());
}
