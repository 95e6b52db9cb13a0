import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { TLSSocket } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { errnoOf } from "../errors.js";

/** TLS files of the server. */
export interface TlsFiles {
  /** PEM certificate chain of the server. */
  certPath: string;
  /** PEM private key of the server. */
  keyPath: string;
  /** PEM CA that client certificates must be signed by; mutual TLS when set. */
  clientCaPath?: string;
}

/** A TLS file that cannot be used; the message names its flag, the file and what to do. */
export class TlsFileError extends Error {
  override readonly name = "TlsFileError";
}

async function readTlsFile(flag: string, what: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = errnoOf(err);
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied (the server's user must be able to read it)" : (err as Error).message;
    throw new TlsFileError(`--${flag} ${path}: ${why}; give the ${what} (PEM)`, { cause: err });
  }
}

/** Server credentials: TLS from files (mutual when a client CA is given), or plaintext. */
export async function serverCredentials(tls: TlsFiles | undefined): Promise<grpc.ServerCredentials> {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const [cert, key, ca] = await Promise.all([
    readTlsFile("tls-cert", "server's certificate chain", tls.certPath),
    readTlsFile("tls-key", "server's private key", tls.keyPath),
    tls.clientCaPath ? readTlsFile("tls-client-ca", "CA that signs client certificates", tls.clientCaPath) : Promise.resolve(null),
  ]);
  // grpc-js reads the PEM only when it binds, after the log is open: check it here, so a bad file stops the start first.
  checkPem("tls-cert", tls.certPath, "a PEM certificate", () => new X509Certificate(cert));
  checkPem("tls-key", tls.keyPath, "a PEM private key", () => createPrivateKey(key));
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
    throw new TlsFileError(`--tls-key ${tls.keyPath} does not match the certificate of --tls-cert ${tls.certPath}: give the private key the certificate was made for`);
  }
  if (ca !== null) checkPem("tls-client-ca", tls.clientCaPath!, "a PEM CA certificate", () => new X509Certificate(ca));
  // Without an explicit client CA grpc-js would trust the public CA bundle for client certs: only verify clients when we have ours.
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
}

function checkPem(flag: string, path: string, what: string, parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    throw new TlsFileError(`--${flag} ${path} is not ${what} (${(err as Error).message})`, { cause: err });
  }
}

/** What {@link logTlsClientErrors} writes to: the server's pino logger. */
interface TlsErrorLog {
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/** The part of grpc-js's Server (1.14) that holds the http2 servers it listens with. */
interface Http2ServerHolder {
  http2Servers?: Map<{ on(event: "tlsClientError", listener: (err: Error, socket: TLSSocket) => void): unknown }, unknown>;
}

/**
 * Logs the TLS handshakes clients fail, which grpc-js only traces: a client
 * that gave no certificate to a mutual-TLS server at warn (it says so, naming
 * the peer), any other failure (plaintext to this TLS port, an untrusted
 * certificate) at debug. Call after the server is bound.
 */
export function logTlsClientErrors(server: grpc.Server, log: TlsErrorLog): void {
  for (const http2 of (server as unknown as Http2ServerHolder).http2Servers?.keys() ?? []) {
    http2.on("tlsClientError", (err, socket) => {
      const peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
      if (/peer did not return a certificate|certificate required/i.test(err.message)) {
        log.warn({ peer }, "a client connected without a client certificate; this server asks for one (mutual TLS, --tls-client-ca): the client must give --cert and --key (or its SDK's equivalent)");
      } else {
        log.debug({ peer, reason: err.message }, "TLS handshake with a client failed");
      }
    });
  }
}
