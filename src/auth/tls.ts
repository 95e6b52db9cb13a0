import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";

/** TLS files of the server. */
export interface TlsFiles {
  /** PEM certificate chain of the server. */
  certPath: string;
  /** PEM private key of the server. */
  keyPath: string;
  /** PEM CA that client certificates must be signed by; mutual TLS when set. */
  clientCaPath?: string;
}

/** Server credentials: TLS from files (mutual when a client CA is given), or plaintext. */
export async function serverCredentials(tls: TlsFiles | undefined): Promise<grpc.ServerCredentials> {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const [cert, key, ca] = await Promise.all([
    readFile(tls.certPath),
    readFile(tls.keyPath),
    tls.clientCaPath ? readFile(tls.clientCaPath) : Promise.resolve(null),
  ]);
  // Without an explicit client CA grpc-js would trust the public CA bundle for client certs: only verify clients when we have ours.
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
}
