import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { loadTokensFile, type Principal, type TokenVerifier } from "./tokens.js";

/** What a reload of the tokens file did, for the server log: counts only, never a token or a name. */
export interface TokensReload {
  /** What asked for it: the SIGHUP signal, or a change of the file seen by the watcher. */
  trigger: "SIGHUP" | "file change";
  /** Tokens before and after. */
  before: number;
  tokens: number;
}

/** Where reloads are reported. */
export interface TokensReloadLog {
  reloaded(reload: TokensReload): void;
  /** The file could not be used (unreadable, not JSON, a bad entry): the old tokens stay; `err` says why (never a token). */
  failed(trigger: TokensReload["trigger"], err: unknown): void;
}

/** Options of {@link ReloadingTokens.open}. */
export interface ReloadingTokensOptions {
  /** Quiet time after the last change seen before reading the file, in ms (an editor writes in steps). Default 50. */
  settleMs?: number;
}

/**
 * The tokens of `--tokens-file`, reloaded on SIGHUP ({@link reload}) and when
 * the file changes (a watch of the file and of its folder, which also sees an
 * editor's or a deploy's rename over it). A reload swaps the whole set at
 * once: a call is verified against the old set or the new one, never a mix.
 * A file that cannot be used keeps the old set. Listeners are told after each
 * swap, so open calls whose token was revoked can be ended at once.
 */
export class ReloadingTokens implements TokenVerifier {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();
  /** Reloads run one at a time; a trigger during one runs another after it. */
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly path: string,
    private current: TokenVerifier,
    private readonly log: TokensReloadLog,
    private readonly settleMs: number,
  ) {}

  /** Loads the file (a bad file fails the start with TokensFileError) and starts watching it. */
  static async open(path: string, log: TokensReloadLog, options: ReloadingTokensOptions = {}): Promise<ReloadingTokens> {
    const tokens = new ReloadingTokens(path, await loadTokensFile(path), log, options.settleMs ?? 50);
    tokens.watch();
    return tokens;
  }

  verify(token: string): Principal | undefined {
    return this.current.verify(token);
  }

  get size(): number {
    return this.current.size;
  }

  /** Calls `listener` after every swap; returns a function that unsubscribes. */
  onReload(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the file again now and swaps the tokens in (or keeps the old ones and reports why). Resolves once done. */
  reload(trigger: TokensReload["trigger"] = "SIGHUP"): Promise<void> {
    this.running = this.running.then(() => this.load(trigger));
    return this.running;
  }

  /** Stops watching. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers.splice(0)) w.close();
  }

  private async load(trigger: TokensReload["trigger"]): Promise<void> {
    if (this.closed) return;
    let next: TokenVerifier;
    try {
      next = await loadTokensFile(this.path);
    } catch (err) {
      this.log.failed(trigger, err);
      return;
    }
    const before = this.current.size;
    this.current = next;
    this.log.reloaded({ trigger, before, tokens: next.size });
    for (const listener of this.listeners) listener();
  }

  /**
   * Watches the folder (a rename over the file, a file made again) and the
   * file itself (written in place). Either may be unavailable (the folder
   * unreadable, a file system without notifications): SIGHUP still works.
   */
  private watch(): void {
    const name = basename(this.path);
    const changed = () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload("file change"), this.settleMs);
      this.timer.unref();
    };
    const tryWatch = (target: string, filter: (file: string | null) => boolean) => {
      try {
        const w = watch(target, { persistent: false }, (_event, file) => {
          if (filter(file)) changed();
        });
        w.on("error", () => w.close());
        this.watchers.push(w);
      } catch {
        /* not watchable: SIGHUP reloads */
      }
    };
    tryWatch(dirname(this.path), (file) => file === null || file === name);
    tryWatch(this.path, () => true);
  }
}
