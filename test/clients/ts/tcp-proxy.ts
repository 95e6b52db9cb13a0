import { once } from "node:events";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";

/**
 * A loopback TCP proxy in front of a server, to break a client's streams on
 * cue: {@link holdAnswers} swallows what the server sends (the server
 * writes, the client never hears back), {@link cut} drops every connection.
 */
export class TcpProxy {
  private holding = false;
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(
    private readonly server: Server,
    /** `127.0.0.1:<port>` of the proxy, for clients. */
    readonly address: string,
  ) {}

  /** Listens on an ephemeral loopback port and forwards to `target` (`host:port`). */
  static async start(target: string): Promise<TcpProxy> {
    const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
    // Connections arrive only after listening, once proxy is set.
    const server = createServer((client) => proxy.accept(client, host, port));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const proxy = new TcpProxy(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  private accept(client: Socket, host: string, port: number): void {
    const upstream = connect(port, host);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      if (!this.holding) client.write(chunk);
    });
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) {
      socket.on("error", end);
      socket.on("close", end);
    }
  }

  /** From now on, bytes from the server are dropped (until {@link cut}). */
  holdAnswers(): void {
    this.holding = true;
  }

  /** Drops every open connection; new ones are forwarded normally. */
  cut(): void {
    this.holding = false;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Drops every connection and stops listening. */
  async close(): Promise<void> {
    this.cut();
    this.server.close();
    await once(this.server, "close");
  }
}
