/**
 * What the benchmark reads of a server over a driver's measured part, beside
 * its CPU time: each thread group's CPU time (bench/threads.ts) and, when the
 * server runs with bench/server-probe.mjs preloaded, its main thread's GC
 * pauses. Pass it to a driver as its `marks`, then `await result()`.
 */
import { fileURLToPath } from "node:url";
import { CpuWindow, type CpuUse } from "./cpu.js";
import type { WindowMarks } from "./drivers/driver.js";
import type { ServerProcess } from "./servers/spawn.js";
import { groupCpuBetween, mainRunShare, snapshotThreads, type ThreadGroup, type ThreadSnapshot } from "./threads.js";

/** The node flags that preload the probe into a server (thread names, GC pauses on SIGUSR2). */
export const SERVER_PROBE_FLAGS: readonly string[] = ["--import", fileURLToPath(new URL("./server-probe.mjs", import.meta.url))];

/** The probe's totals since the server started. */
export interface ProbeReading {
  /** Milliseconds of GC pauses of the main thread ("gc" performance entries summed). */
  gcMs: number;
  gcCount: number;
  /** gcMs by kind: minor, major, incremental, weakcb. */
  byKind: Record<string, number>;
  /** Whether the probe could name the server's threads. */
  named: boolean;
}

const PROBE_TIMEOUT_MS = 10_000;

/**
 * Asks a server running the probe for its totals: sends SIGUSR2 and resolves
 * with the next probe line on its stderr (the totals as of the signal's
 * handling, a few milliseconds after it on a busy event loop).
 */
export function readProbe(server: ServerProcess): Promise<ProbeReading> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${server.name} server: no probe line within ${PROBE_TIMEOUT_MS} ms (is bench/server-probe.mjs preloaded?)`));
    }, PROBE_TIMEOUT_MS);
    const stop = server.onStderrLine((line) => {
      if (!line.startsWith('{"probe":')) return;
      const probe = (JSON.parse(line) as { probe: Partial<ProbeReading> }).probe;
      if (typeof probe.gcMs !== "number") return;
      clearTimeout(timer);
      stop();
      resolve(probe as ProbeReading);
    });
    server.signal("SIGUSR2");
  });
}

/** What a {@link ServerWindow} measured. */
export interface ServerWindowResult {
  /** The server process's CPU over the measured part. */
  server?: CpuUse;
  /** The client's CPU over it. */
  client?: CpuUse;
  /** Cores each thread group kept busy over the part (CPU seconds / wall seconds). */
  threadCores?: Record<ThreadGroup, number>;
  /**
   * The main thread's CPU in GC pauses over the part, as cores: the pauses'
   * wall seconds, times the share of its runnable time the thread ran
   * ({@link mainRunShare}: on a loaded machine a pause also waits for a
   * CPU), over the part's wall seconds; with the probe only.
   */
  gcPauseCores?: number;
  /** The pauses' wall seconds over the part's (no correction for waiting); with the probe only. */
  gcPauseWallCores?: number;
  /** The main thread's run / (run + run-queue wait) over the part. */
  mainRunShare?: number;
  /** GC pause milliseconds by kind over the part; with the probe only. */
  gcPauseMsByKind?: Record<string, number>;
}

/**
 * The marks of one measured part on one server: CPU of the process
 * ({@link CpuWindow}), of its thread groups, and (with `probe`) its GC pauses.
 */
export class ServerWindow implements WindowMarks {
  private readonly cpu: CpuWindow;
  private threadsFrom?: ThreadSnapshot;
  private threadsTo?: ThreadSnapshot;
  private probeFrom?: Promise<ProbeReading>;
  private probeTo?: Promise<ProbeReading>;

  constructor(
    private readonly server: ServerProcess,
    private readonly options: { probe?: boolean } = {},
  ) {
    this.cpu = new CpuWindow(server.pid);
  }

  start(clientPid?: number): void {
    this.cpu.start(clientPid);
    this.threadsFrom = snapshotThreads(this.server.pid);
    if (this.options.probe) {
      this.probeFrom = readProbe(this.server);
      // Awaited in result(); a driver that fails first never asks.
      this.probeFrom.catch(() => undefined);
    }
  }

  end(): void {
    this.cpu.end();
    this.threadsTo = snapshotThreads(this.server.pid);
    if (this.options.probe) {
      this.probeTo = readProbe(this.server);
      this.probeTo.catch(() => undefined);
    }
  }

  /** The figures of the part, once both marks came (the probe's answers awaited). */
  async result(): Promise<ServerWindowResult> {
    const server = this.cpu.server;
    const out: ServerWindowResult = { server, client: this.cpu.client };
    if (server !== undefined && this.threadsFrom !== undefined && this.threadsTo !== undefined) {
      const groups = groupCpuBetween(this.server.pid, this.threadsFrom, this.threadsTo);
      out.threadCores = Object.fromEntries(Object.entries(groups).map(([g, s]) => [g, s / server.wallS])) as Record<ThreadGroup, number>;
      out.mainRunShare = mainRunShare(this.threadsFrom, this.threadsTo);
    }
    if (server !== undefined && this.probeFrom !== undefined && this.probeTo !== undefined) {
      const [from, to] = await Promise.all([this.probeFrom, this.probeTo]);
      out.gcPauseWallCores = (to.gcMs - from.gcMs) / 1000 / server.wallS;
      // Without schedstat, the wall time as it is (an overestimate under load).
      out.gcPauseCores = out.gcPauseWallCores * (Number.isFinite(out.mainRunShare) ? out.mainRunShare! : 1);
      out.gcPauseMsByKind = Object.fromEntries(Object.keys(to.byKind).map((k) => [k, to.byKind[k] - (from.byKind[k] ?? 0)]));
    }
    return out;
  }
}
