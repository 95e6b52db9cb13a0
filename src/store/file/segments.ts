import { basename, dirname, extname, join } from "node:path";
import { nodeFileSystem, type StoreFileSystem } from "./file-system.js";
import { errnoOf } from "../../errors.js";

/** One file of the log: a closed segment or the active file. */
export interface LogSegment {
  /** Path of the file. */
  readonly path: string;
  /** First seq of a closed segment, from its name; undefined for the active file. */
  readonly firstSeq?: number;
  /** Last seq of a closed segment, from its name; undefined for the active file. */
  readonly lastSeq?: number;
  /** True for the file the appender writes to (the log path itself). */
  readonly active: boolean;
}

/**
 * The name pattern of closed segments of `logPath`: `<stem>.<firstSeq>-<lastSeq><ext>`,
 * e.g. `pulse_learning_log.1-500000.jsonl` beside `pulse_learning_log.jsonl`.
 */
export function segmentPattern(logPath: string): RegExp {
  const ext = extname(logPath);
  const stem = basename(logPath, ext);
  const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${quote(stem)}\\.(\\d+)-(\\d+)${quote(ext)}$`);
}

/** The file name of the closed segment holding seqs firstSeq..lastSeq of `logPath`. */
export function segmentPath(logPath: string, firstSeq: number, lastSeq: number): string {
  const ext = extname(logPath);
  return join(dirname(logPath), `${basename(logPath, ext)}.${firstSeq}-${lastSeq}${ext}`);
}

/**
 * Lists the files of the log in seq order: closed segments sorted by their
 * first seq, then the active file (when it exists). Readers walk this list to
 * read across segments; the list is a snapshot, so a reader that reaches the
 * end of a file while more records exist lists again.
 */
export async function listSegments(logPath: string, fs: Pick<StoreFileSystem, "readdir"> = nodeFileSystem): Promise<LogSegment[]> {
  const dir = dirname(logPath);
  const active = basename(logPath);
  const pattern = segmentPattern(logPath);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return [];
    throw err;
  }
  const closed: LogSegment[] = [];
  let hasActive = false;
  for (const name of names) {
    if (name === active) {
      hasActive = true;
      continue;
    }
    const m = pattern.exec(name);
    if (m) closed.push({ path: join(dir, name), firstSeq: Number(m[1]), lastSeq: Number(m[2]), active: false });
  }
  closed.sort((a, b) => a.firstSeq! - b.firstSeq!);
  if (hasActive) closed.push({ path: logPath, active: true });
  return closed;
}
