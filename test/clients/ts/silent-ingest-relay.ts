import { once } from "node:events";
import { Client, Server, ServerCredentials, credentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { LearningLogService } from "../../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";

const INGEST_PATH = `/${LearningLogService.typeName}/IngestEvents`;
const raw = (bytes: Buffer) => bytes;

/**
 * A gRPC server that relays every IngestEvents request to a real server and
 * never answers: the server writes the batches, the client hears nothing back.
 * Unlike holding a TCP proxy's bytes, the client's connection is set up
 * normally (nothing to warm up first), so a client's ack timeout is the only
 * way its calls end, however slow the machine.
 */
export class SilentIngestRelay {
  /** IngestEvents calls the client opened (each resend after an ack timeout opens one). */
  calls = 0;
  /** Request messages (batches) relayed to the server. */
  relayed = 0;
  private readonly upstreamEnded = new Set<Promise<unknown>>();

  private constructor(
    private readonly server: Server,
    private readonly upstream: Client,
    /** `127.0.0.1:<port>` of the relay, for clients. */
    readonly address: string,
  ) {}

  /** Listens on an ephemeral loopback port and relays to `target` (`host:port`). */
  static async start(target: string): Promise<SilentIngestRelay> {
    const server = new Server();
    const upstream = new Client(target, credentials.createInsecure());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const relay = new SilentIngestRelay(server, upstream, `127.0.0.1:${port}`);
    server.register(INGEST_PATH, (call: ServerDuplexStream<Buffer, Buffer>) => relay.relay(call), raw, raw, "bidi");
    return relay;
  }

  private relay(call: ServerDuplexStream<Buffer, Buffer>): void {
    this.calls += 1;
    const up = this.upstream.makeBidiStreamRequest(INGEST_PATH, raw, raw, call.metadata.clone());
    // Ends when the server has answered everything it was sent (after our half-close).
    this.upstreamEnded.add(once(up, "status"));
    up.on("data", () => {}); // the answers are swallowed
    up.on("error", () => {}); // its status is awaited above
    let ended = false;
    call.on("data", (batch: Buffer) => {
      if (ended) return;
      this.relayed += 1;
      up.write(batch);
    });
    // However the client's call ends, the server gets to finish what it was sent.
    const end = () => {
      if (ended) return;
      ended = true;
      up.end();
    };
    call.on("end", end);
    call.on("cancelled", end);
    call.on("error", end);
  }

  /** Resolves once every relayed call to the server has ended: everything relayed has been handled. */
  async settled(): Promise<void> {
    await Promise.all(this.upstreamEnded);
  }

  /** Stops listening and closes the connection to the server. */
  close(): void {
    this.server.forceShutdown();
    this.upstream.close();
  }
}
