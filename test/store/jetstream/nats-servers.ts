import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

/** One nats-server process started by a test. */
export interface NatsNode {
  readonly name: string;
  readonly port: number;
  /** host:port for clients. */
  readonly address: string;
  /** Kills the process (SIGKILL: a crash, not a clean stop) and waits for it to exit. */
  kill(): Promise<void>;
  readonly alive: boolean;
}

/** nats-server processes with JetStream on loopback, each with its own port and store folder. */
export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** `nats://a,b,c` for --store. */
  readonly storeUrl: string;
  /** host:port of every node. */
  readonly servers: string[];
  /** Kills every process still running. Safe to call twice. */
  stop(): Promise<void>;
}

/** Fails with a clear message when nats-server cannot run here (the JetStream tests never skip silently). */
export function requireNatsServer(): void {
  const probe = spawnSync("nats-server", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`nats-server is not available (${probe.error?.message ?? probe.stderr}); the JetStream tests need it: apt-get install -y nats-server`);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `size` nats-server processes with JetStream, clustered when size > 1
 * (routes between all of them), stores under `dir`, and waits until
 * JetStream answers (with a cluster: until it has a meta leader).
 */
export async function startNats(dir: string, size: 1 | 3, options: { token?: string } = {}): Promise<NatsCluster> {
  requireNatsServer();
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const clusterPorts = size > 1 ? await Promise.all(Array.from({ length: size }, () => freePort())) : [];
  const procs: ChildProcess[] = [];
  const nodes: NatsNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
  };
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
      const proc = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      proc.stderr!.on("data", (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
      procs.push(proc);
      nodes.push({
        name,
        port: ports[i],
        address: `127.0.0.1:${ports[i]}`,
        get alive() {
          return proc.exitCode === null && proc.signalCode === null;
        },
        async kill() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
          await exited;
        },
      });
      proc.once("exit", (code, signal) => {
        if (code !== null && code !== 0) console.error(`nats-server ${name} exited with ${code ?? signal}: ${stderr}`);
      });
    }
    await waitForJetStream(nodes.map((n) => n.address), size, options.token);
  } catch (err) {
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
async function waitForJetStream(servers: string[], replicas: number, token?: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
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
