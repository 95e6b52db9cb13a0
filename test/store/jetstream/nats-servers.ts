import { spawn, spawnSync } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

/** One nats-server process started by a test. */
export interface NatsNode {
  readonly name: string;
  /** The process id (benchmarks read its CPU time from /proc). */
  readonly pid: number;
  readonly port: number;
  /** host:port for clients. */
  readonly address: string;
  /** Kills the process (SIGKILL: a crash, not a clean stop) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts the node again after a kill, on its port and store folder (what it kept on disk); resolves once it accepts connections. */
  restart(): Promise<void>;
  /** SIGSTOP: the process stops answering (a long GC pause, a stalled disk) without losing a connection. */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  readonly alive: boolean;
}

/** nats-server processes with JetStream on loopback, each with its own port and store folder. */
export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** `nats://a,b,c` for --store. */
  readonly storeUrl: string;
  /** host:port of every node. */
  readonly servers: string[];
  /** The nats-server release, as `nats-server --version` prints it ("2.9.10"). */
  readonly version: string | undefined;
  /** Kills every process still running. Safe to call twice. */
  stop(): Promise<void>;
}

/** Fails with a clear message when nats-server cannot run here (the JetStream tests never skip silently); returns its release ("2.9.10"). */
export function requireNatsServer(): string | undefined {
  const probe = spawnSync("nats-server", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`nats-server is not available (${probe.error?.message ?? probe.stderr}); the JetStream tests need it: apt-get install -y nats-server`);
  }
  return /v?(\d+\.\d+\.\d+\S*)/.exec(probe.stdout)?.[1];
}

/** True when a TCP listener can bind 127.0.0.1:port right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * `count` distinct free ports below the kernel's ephemeral range. A port
 * taken from that range (listen on 0) and freed again can be reused as the
 * source port of any outgoing connection (the cluster's own routes, other
 * tests' clients) before nats-server binds it: nats-server then exits with
 * "address already in use".
 */
async function freePorts(count: number): Promise<number[]> {
  const range = await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8").catch(() => "32768 60999");
  const ephemeralLow = Number(range.trim().split(/\s+/)[0]) || 32768;
  const low = 10_000;
  const high = Math.max(low + 1000, Math.min(ephemeralLow, 65536));
  const picked = new Set<number>();
  while (picked.size < count) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!picked.has(port) && (await canListen(port))) picked.add(port);
  }
  return [...picked];
}

/** A nats-server that exited while the cluster was starting, with its output. */
class StartFailure extends Error {
  constructor(
    readonly node: string,
    readonly stderr: string,
  ) {
    super(`nats-server ${node} exited while starting: ${stderr}`);
  }
}

/**
 * Starts `size` nats-server processes with JetStream, clustered when size > 1
 * (routes between all of them), stores under `dir`, and waits until
 * JetStream answers (with a cluster: until it has a meta leader). A port
 * taken by another process between picking and binding it starts the whole
 * cluster again on other ports, in fresh store folders.
 */
export async function startNats(dir: string, size: 1 | 3, options: { token?: string } = {}): Promise<NatsCluster> {
  const version = requireNatsServer();
  for (let attempt = 1; ; attempt++) {
    try {
      return { ...(await startNatsOnce(join(dir, `start-${attempt}`), size, options)), version };
    } catch (err) {
      if (attempt >= 5 || !(err instanceof StartFailure && /address already in use/.test(err.stderr))) throw err;
    }
  }
}

async function startNatsOnce(dir: string, size: 1 | 3, options: { token?: string }): Promise<Omit<NatsCluster, "version">> {
  const allPorts = await freePorts(size > 1 ? 2 * size : size);
  const ports = allPorts.slice(0, size);
  const clusterPorts = size > 1 ? allPorts.slice(size) : [];
  const nodes: NatsNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
  };
  let started = false;
  const giveUp = new AbortController();
  let failStart!: (err: StartFailure) => void;
  const earlyExit = new Promise<never>((_, reject) => (failStart = reject));
  earlyExit.catch(() => undefined);
  try {
    for (let i = 0; i < size; i++) {
      const name = `n${i + 1}`;
      const storeDir = join(dir, name);
      await mkdir(storeDir, { recursive: true });
      const args = ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(ports[i]), "--server_name", name];
      if (options.token !== undefined) args.push("--auth", options.token);
      if (size > 1) {
        const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`).join(",");
        args.push("--cluster_name", "c", "--cluster", `nats://127.0.0.1:${clusterPorts[i]}`, "--routes", routes);
      }
      let proc = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      const watchOutput = () =>
        proc.stderr!.on("data", (chunk: Buffer) => {
          stderr = (stderr + chunk.toString()).slice(-4000);
        });
      watchOutput();
      let exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
      const port = ports[i];
      nodes.push({
        name,
        get pid() {
          return proc.pid!;
        },
        port,
        address: `127.0.0.1:${port}`,
        get alive() {
          return proc.exitCode === null && proc.signalCode === null;
        },
        async kill() {
          if (proc.exitCode === null && proc.signalCode === null) {
            // A paused process takes SIGKILL too; SIGCONT first anyway so nothing waits on it.
            proc.kill("SIGKILL");
            proc.kill("SIGCONT");
          }
          await exited;
        },
        async restart() {
          if (proc.exitCode === null && proc.signalCode === null) throw new Error(`nats-server ${name} is still running`);
          proc = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
          watchOutput();
          exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
          const deadline = Date.now() + 30_000;
          for (;;) {
            const up = await connect({ servers: [`127.0.0.1:${port}`], timeout: 500, reconnect: false }).then(
              (nc) => nc.close().then(() => true),
              () => false,
            );
            if (up) return;
            if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`nats-server ${name} did not start again: ${stderr}`);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        },
        pause() {
          proc.kill("SIGSTOP");
        },
        resume() {
          proc.kill("SIGCONT");
        },
      });
      // close, not exit: its output has been read to the end by then.
      proc.once("close", (code, signal) => {
        if (!started) failStart(new StartFailure(name, stderr));
        else if (code !== null && code !== 0) console.error(`nats-server ${name} exited with ${code ?? signal}: ${stderr}`);
      });
    }
    const waiting = waitForJetStream(nodes.map((n) => n.address), size, options.token, giveUp.signal);
    waiting.catch(() => undefined);
    await Promise.race([waiting, earlyExit]);
    started = true;
  } catch (err) {
    started = true; // the exits of the kill below are ours
    giveUp.abort();
    await stop();
    throw err;
  }
  const servers = nodes.map((n) => n.address);
  return { nodes, servers, storeUrl: `nats://${servers.join(",")}`, stop };
}

/**
 * Connects and asks JetStream until it answers and can place a stream on
 * every server (a cluster first elects its meta leader). The bound is
 * generous: on a loaded machine the election takes a while.
 */
async function waitForJetStream(servers: string[], replicas: number, token: string | undefined, signal: AbortSignal, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline && !signal.aborted) {
    try {
      const nc = await connect({ servers, timeout: 1000, token });
      try {
        const jsm = await jetstreamManager(nc, { timeout: 1000 });
        await jsm.getAccountInfo();
        // A meta leader may not know every peer yet: ready once a stream with a copy on each server can be placed.
        await jsm.streams.add({ name: "READY_PROBE", subjects: ["ready.probe"], num_replicas: replicas });
        await jsm.streams.delete("READY_PROBE");
        return;
      } finally {
        await nc.close();
      }
    } catch (err) {
      last = err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`JetStream on ${servers.join(",")} did not become ready in ${timeoutMs} ms: ${(last as Error)?.message}`);
}
