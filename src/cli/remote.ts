import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { LearningLogService } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { isLoopback, parseAddress } from "../config.js";
import { createClient, type Client } from "../rpc/client.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { errnoOf } from "../errors.js";

/** The learning log client the commands use. */
export type LogClient = Client<typeof LearningLogService.method>;
/** The trust client the commands use. */
export type TrustClient = Client<typeof TrustService.method>;

/** How the command line says to reach the server (flags of src/options/client-options.ts). */
export interface ServerFlags {
  address: string;
  /** CA file: TLS when given. */
  ca?: string;
  /** Client certificate and key files: mutual TLS. */
  cert?: string;
  key?: string;
  /** File holding the bearer token. */
  tokenFile?: string;
}

/**
 * What listens at an address that did not answer gRPC in plaintext: a TLS
 * server (it completes a TLS handshake), something else, or nothing. Bounded
 * by `timeoutMs`; used only to word an error.
 */
export async function probeTls(address: string, timeoutMs = 3000): Promise<"tls" | "other" | "nothing"> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: host.replace(/^\[(.*)\]$/, "$1"), port, rejectUnauthorized: false, servername: isIP(host) ? undefined : host, ALPNProtocols: ["h2"] });
    const done = (answer: "tls" | "other" | "nothing") => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done("other"));
    socket.once("secureConnect", () => done("tls"));
    socket.once("error", (err: NodeJS.ErrnoException) => done(err.code === "ECONNREFUSED" || err.code === "EHOSTUNREACH" || err.code === "ENOTFOUND" ? "nothing" : "other"));
  });
}

/** A server to call: its address, the channel's credentials, and whether it speaks TLS (for error messages). */
export interface ServerConnection {
  readonly address: string;
  readonly tls: boolean;
  readonly credentials: grpc.ChannelCredentials;
  /** Adds the bearer token to every call, when there is one. */
  readonly interceptors: grpc.Interceptor[];
}

async function readFlagFile(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = errnoOf(err);
    throw new CliError(code === "ENOENT" ? ExitCode.notFound : ExitCode.failure, `--${flag} ${path}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}

/**
 * Reads the TLS files and the token named on the command line. A token is
 * sent over plaintext only to a loopback address: anywhere else it needs
 * --ca, so it never crosses a network in the clear.
 */
export async function connectionOf(flags: ServerFlags): Promise<ServerConnection> {
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new CliError(ExitCode.usage, "--cert and --key go together");
  if (flags.cert !== undefined && flags.ca === undefined) throw new CliError(ExitCode.usage, "--cert and --key (mutual TLS) need --ca");
  let host: string;
  try {
    ({ host } = parseAddress(flags.address));
  } catch (err) {
    throw new CliError(ExitCode.usage, `--addr ${(err as Error).message}`);
  }
  if (flags.tokenFile !== undefined && flags.ca === undefined && !isLoopback(host)) {
    throw new CliError(ExitCode.usage, `--token-file: a token is only sent to ${flags.address} over TLS; add --ca (the CA of the server's certificate)`);
  }
  const credentials =
    flags.ca === undefined
      ? grpc.credentials.createInsecure()
      : withoutIpServerName(
          grpc.credentials.createSsl(
            await readFlagFile("ca", flags.ca),
            flags.key === undefined ? null : await readFlagFile("key", flags.key),
            flags.cert === undefined ? null : await readFlagFile("cert", flags.cert),
          ),
        );
  const interceptors: grpc.Interceptor[] = [];
  if (flags.tokenFile !== undefined) {
    const token = (await readFlagFile("token-file", flags.tokenFile)).toString("utf8").trim();
    if (token === "") throw new CliError(ExitCode.usage, `--token-file ${flags.tokenFile} is empty`);
    interceptors.push((options, next) =>
      new grpc.InterceptingCall(next(options), {
        start(metadata, listener, start) {
          metadata.set("authorization", `Bearer ${token}`);
          start(metadata, listener);
        },
      }),
    );
  }
  return { address: flags.address, tls: flags.ca !== undefined, credentials, interceptors };
}

/** The part of grpc-js's TLS credentials (1.14) that makes the options of each tls.connect. */
interface SecureConnectorMaker {
  _createSecureConnector(...args: unknown[]): { connectionOptions?: { servername?: string } };
}

/**
 * TLS credentials that name no IP address as the TLS server name (SNI). grpc-js
 * names the address's host, an IP too, which RFC 6066 forbids and Node warns
 * about on every call (DEP0123). Without it the certificate is still checked
 * against the address: tls.connect checks the host it connects to.
 */
function withoutIpServerName(credentials: grpc.ChannelCredentials): grpc.ChannelCredentials {
  const maker = credentials as unknown as SecureConnectorMaker;
  if (typeof maker._createSecureConnector !== "function") return credentials;
  const make = maker._createSecureConnector.bind(maker);
  maker._createSecureConnector = (...args) => {
    const connector = make(...args);
    const options = connector.connectionOptions;
    if (options?.servername !== undefined && isIP(options.servername) !== 0) delete options.servername;
    return connector;
  };
  return credentials;
}

// Replay messages are up to 1 MiB of records; a record itself may be up to the server's record limit.
const channelOptions = (server: ServerConnection) => ({ "grpc.max_receive_message_length": 64 * 1024 * 1024, interceptors: server.interceptors });

/** A client of the learning log service. */
export function logClient(server: ServerConnection): LogClient {
  return createClient(LearningLogService, server.address, server.credentials, channelOptions(server));
}

/** A client of the trust service. */
export function trustClient(server: ServerConnection): TrustClient {
  return createClient(TrustService, server.address, server.credentials, channelOptions(server));
}

/** The seq of the first record with seq >= fromSeq (and of the given types), or 0 when there is none. */
async function firstSeqFrom(client: LogClient, fromSeq: number, eventTypes: readonly string[] = []): Promise<number> {
  for await (const m of client.readEvents({ fromSeq: BigInt(fromSeq), limit: 1n, eventTypes: [...eventTypes] })) {
    if (m.records.length > 0) return Number(m.records[0].seq);
  }
  return 0;
}

/**
 * The log's last seq, found with O(log n) one-record ReadEvents calls (seqs
 * have no gaps): exponential probing, then binary search. 0 for an empty log.
 */
export async function lastSeqOf(client: LogClient): Promise<number> {
  let lo = await firstSeqFrom(client, 1);
  if (lo === 0) return 0;
  let step = 1;
  let hi = 0; // first seq known to have no record
  while (hi === 0) {
    const found = await firstSeqFrom(client, lo + step);
    if (found === 0) hi = lo + step;
    else {
      lo = found;
      step *= 2;
    }
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const found = await firstSeqFrom(client, mid);
    if (found === 0) hi = mid;
    else lo = found;
  }
  return lo;
}
