import { once } from "node:events";
import type { Writable } from "node:stream";
import cliProgress from "cli-progress";

/** How a command prints. */
export interface OutputOptions {
  /** JSON lines on stdout, for machines. Default false: text for people. */
  json: boolean;
  /** Progress bars on stderr; only ever drawn when stderr is a terminal. Default true. */
  progress: boolean;
}

/** A progress bar, or nothing when bars are off. */
export interface Progress {
  update(value: number, total?: number): void;
  stop(): void;
}

const noProgress: Progress = { update: () => undefined, stop: () => undefined };

/** A record as the read commands print it. */
export interface PrintableRecord {
  seq: bigint | number;
  timestamp: string;
  eventType: string;
  json: string;
}

/**
 * Where commands print: stdout for results (text or JSON lines), stderr for
 * progress and messages. Writes wait for stdout to drain, so piping a long
 * replay into a slow consumer holds the stream back instead of buffering it.
 */
export class Output {
  constructor(
    readonly options: OutputOptions,
    private readonly stdout: Writable & { isTTY?: boolean } = process.stdout,
    private readonly stderr: Writable & { isTTY?: boolean } = process.stderr,
  ) {}

  /** Writes text to stdout, waiting for it to drain when its buffer is full. */
  async write(text: string): Promise<void> {
    if (!this.stdout.write(text)) await once(this.stdout, "drain");
  }

  /** Writes one JSON value as a line. */
  async json(value: unknown): Promise<void> {
    await this.write(JSON.stringify(value) + "\n");
  }

  /** A message for people, on stderr (never mixed into results). */
  note(text: string): void {
    this.stderr.write(text + "\n");
  }

  /** Prints records: the log's own lines with --json, else one readable line each. */
  async records(records: readonly PrintableRecord[]): Promise<void> {
    if (records.length === 0) return;
    let text = "";
    for (const r of records) text += (this.options.json ? r.json : formatRecord(r)) + "\n";
    await this.write(text);
  }

  /** A progress bar on stderr when it is a terminal and bars are on; else a no-op. */
  progress(label: string, total: number, unit = "records"): Progress {
    if (!this.options.progress || !this.stderr.isTTY) return noProgress;
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | ETA {eta_formatted}`, stream: this.stderr, hideCursor: true, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return {
      update: (value, newTotal) => {
        if (newTotal !== undefined) bar.setTotal(newTotal);
        bar.update(value);
      },
      stop: () => bar.stop(),
    };
  }
}

/** `     42  2026-11-24T19:05:53.700123+00:00  variable_weight_update  {"variable":"x","from":0.1,"to":0.2}` */
export function formatRecord(r: PrintableRecord): string {
  let rest: string;
  try {
    const parsed = JSON.parse(r.json) as { data?: unknown; context?: unknown };
    rest = JSON.stringify(parsed.data ?? null);
    if (parsed.context !== undefined) rest += `  context=${JSON.stringify(parsed.context)}`;
  } catch {
    rest = r.json;
  }
  return `${String(r.seq).padStart(8)}  ${r.timestamp}  ${r.eventType}  ${rest}`;
}
