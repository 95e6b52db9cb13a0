import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";

/** The newest record acked on a stream: its seq, the stream sequence of the message holding it, and its chain hash. */
export interface AckedRecord {
  readonly seq: number;
  readonly streamSeq: number;
  readonly hash: string;
}

/** Bytes of one slot of the witness file: a JSON line padded with spaces. */
const SLOT_BYTES = 256;

/**
 * A front end's durable witness of the newest record acked on its stream
 * (its own acks, and what other front ends said they acked): a small file
 * beside the front end, written durably (O_DSYNC) before an ack goes out. At
 * open, and whenever the stream is read, the stream's end must hold it: a
 * stream that ends before it, or holds another record there, lost
 * acknowledged records (a stale replica leads it), and writing on would
 * ack a seq a second time.
 *
 * The file has two slots written in turn, each a JSON line with a SHA-256 of
 * its content: a write torn by a crash spoils one slot, and the other still
 * holds the witness before it.
 */
export class AckWitness {
  private slot = 0;
  private newest: AckedRecord | undefined;
  /** Writes in flight: one at a time, in order. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly fh: FileHandle | undefined,
    readonly path: string | undefined,
    private readonly stream: string,
  ) {}

  /**
   * Opens (creating) the witness file at `path` for `stream`; without a path,
   * a witness kept in memory only (tools, tests): it still guards the
   * process's own acks.
   */
  static async open(path: string | undefined, stream: string): Promise<AckWitness> {
    if (path === undefined) return new AckWitness(undefined, undefined, stream);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Not "a+": O_APPEND would put every write at the end, not in its slot. O_DSYNC: each write returns once
    // its bytes (and the size, on the first) are on disk, as a write then fdatasync would, in one call.
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC, 0o600);
    try {
      const witness = new AckWitness(fh, path, stream);
      await witness.load();
      return witness;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** The newest record acked, as far as this front end knows (undefined: none yet). */
  get acked(): AckedRecord | undefined {
    return this.newest;
  }

  /**
   * Makes `r` the witness when it is newer than the one held (a higher seq),
   * durably: resolves once the file is synced. Acks wait on this.
   */
  record(r: AckedRecord): Promise<void> {
    if (this.newest !== undefined && r.seq <= this.newest.seq) return this.writing;
    this.newest = r;
    const write = this.writing.then(() => this.write(r));
    // A failed write fails the acks waiting on it; the next one tries again.
    this.writing = write.catch(() => undefined);
    return write;
  }

  /** Raises the witness to what another front end said it acked; written with the next own ack (or now, in the background). */
  learn(r: AckedRecord): void {
    if (this.newest !== undefined && r.seq <= this.newest.seq) return;
    void this.record(r).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.writing;
    await this.fh?.close();
  }

  private async write(r: AckedRecord): Promise<void> {
    if (this.fh === undefined) return;
    // Only if it is still the newest: an older write queued behind a newer one is pointless.
    if (this.newest !== r) return;
    const slot = this.slot;
    this.slot ^= 1;
    const content = JSON.stringify({ stream: this.stream, seq: r.seq, streamSeq: r.streamSeq, hash: r.hash });
    const line = `${JSON.stringify({ w: content, sha256: sha256(content) })}`;
    const bytes = Buffer.alloc(SLOT_BYTES, " ");
    if (bytes.write(line, 0, "utf8") > SLOT_BYTES - 1) throw new Error("witness record too long");
    bytes[SLOT_BYTES - 1] = 0x0a;
    // Durable when it returns (O_DSYNC).
    const { bytesWritten } = await this.fh.write(bytes, 0, SLOT_BYTES, slot * SLOT_BYTES);
    if (bytesWritten !== SLOT_BYTES) throw new Error(`witness write: ${bytesWritten} of ${SLOT_BYTES} bytes written`);
  }

  /** Reads both slots and keeps the newest intact one of this stream. */
  private async load(): Promise<void> {
    const buf = Buffer.alloc(2 * SLOT_BYTES);
    const { bytesRead } = await this.fh!.read(buf, 0, buf.length, 0);
    const found: Array<AckedRecord | undefined> = [0, 1].map((i) => (bytesRead >= (i + 1) * SLOT_BYTES ? parseSlot(buf.subarray(i * SLOT_BYTES, (i + 1) * SLOT_BYTES), this.stream) : undefined));
    const [a, b] = found;
    const newest = a === undefined ? b : b === undefined ? a : a.seq >= b.seq ? a : b;
    this.newest = newest;
    // The next write goes to the older (or spoilt) slot.
    this.slot = newest !== undefined && newest === a ? 1 : 0;
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** One slot's witness, when it is intact and of this stream. */
function parseSlot(bytes: Buffer, stream: string): AckedRecord | undefined {
  try {
    const outer = JSON.parse(bytes.toString("utf8").trim()) as { w?: unknown; sha256?: unknown };
    if (typeof outer.w !== "string" || outer.sha256 !== sha256(outer.w)) return undefined;
    const w = JSON.parse(outer.w) as Partial<{ stream: string; seq: number; streamSeq: number; hash: string }>;
    if (w.stream !== stream || !Number.isSafeInteger(w.seq) || !Number.isSafeInteger(w.streamSeq) || typeof w.hash !== "string") return undefined;
    return { seq: w.seq!, streamSeq: w.streamSeq!, hash: w.hash };
  } catch {
    return undefined;
  }
}
