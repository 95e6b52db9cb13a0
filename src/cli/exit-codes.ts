import { errnoOf } from "../errors.js";
// gRPC's status codes (fixed by the protocol), spelled out rather than imported from
// @grpc/grpc-js: loading grpc-js costs most of a second on a busy machine, and
// `pulse-log --help` or a usage error must not wait for it.
const STATUS_NAMES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"] as const;
const status = Object.fromEntries(STATUS_NAMES.map((name, code) => [name, code])) as Record<(typeof STATUS_NAMES)[number], number>;

/** The exit codes of `pulse-log`, documented in docs/operations.md. */
export const ExitCode = {
  /** The command did what was asked. */
  ok: 0,
  /** It failed: the server answered with an error, a file could not be read or written. */
  failure: 1,
  /** The command line was wrong (unknown flag, bad value), or the server rejected the request as invalid. */
  usage: 2,
  /** The server could not be reached (not running, wrong --addr, connection lost). */
  unreachable: 3,
  /** What the command reads does not exist (no log file, no trust file). */
  notFound: 4,
  /** `verify` found the log altered: the hash chain or the seq order breaks. */
  broken: 5,
} as const;

/** What each exit code means, for `pulse-log --help` (docs/operations.md lists the same). */
const EXIT_CODE_MEANINGS: Record<ExitCodeValue, string> = {
  0: "ok",
  1: "failure (the server answered an error, a file could not be read or written)",
  2: "usage error (bad flag or value, or a request the server rejected as invalid)",
  3: "server unreachable (not running, wrong --addr, connection lost)",
  4: "not found (no log file, no trust file)",
  5: "the log is altered (verify: the hash chain or the seq order breaks)",
};

/** The "Exit codes:" block of `pulse-log --help`: every code of {@link ExitCode}, one a line. */
export function exitCodesHelp(): string {
  return ["Exit codes:", ...Object.values(ExitCode).map((code) => `  ${code}  ${EXIT_CODE_MEANINGS[code]}`)].join("\n");
}

/** One of {@link ExitCode}'s values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure with the exit code it means and a message for people. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
  ) {
    super(message);
  }
}

/** A gRPC error as grpc-js reports it. */
interface GrpcError {
  code: number;
  details: string;
}

function isGrpcError(err: unknown): err is GrpcError {
  return typeof err === "object" && err !== null && typeof (err as GrpcError).code === "number" && typeof (err as GrpcError).details === "string";
}

// What grpc-js and OpenSSL say when the two ends disagree on TLS, or a certificate is not trusted.
const TLS_FAILURE = /SSL|TLS|certificate|wrong version number|packet length too long|handshake/i;

/** The one phrase of a TLS failure, without grpc-js's and OpenSSL's framing: "wrong version number", "self-signed certificate"... */
function tlsReason(details: string): string {
  const openssl = /SSL routines:[^:]*:([^:\n]+)/.exec(details);
  if (openssl) return openssl[1].trim();
  return details.replace(/^No connection established\. Last error: (Error: )?/, "").replace(/\s*\.?\s*Resolution note:.*$/s, "").split("\n")[0].trim();
}

/** Who was called: the address, and whether over TLS (--ca), for messages that say what to change. */
export interface CalledServer {
  address: string;
  tls: boolean;
}

/** The message when a plaintext call found a TLS server at the address (see remote.ts probeTls). */
export function plaintextToTlsError(address: string): CliError {
  return new CliError(ExitCode.unreachable, `server ${address} serves TLS and this call was plaintext: add --ca with the CA that signed its certificate (and --cert/--key if it asks for client certificates)`);
}

/** Turns anything thrown by a command into a CliError: gRPC statuses map to exit codes here, and only here. */
export function toCliError(err: unknown, server?: CalledServer): CliError {
  if (err instanceof CliError) return err;
  if (isGrpcError(err)) {
    const name = STATUS_NAMES[err.code] ?? String(err.code);
    const address = server?.address ?? "";
    // TLS 1.3's alert when the server asks for a client certificate and got none.
    if (err.code === status.UNAVAILABLE && server?.tls && /certificate required/i.test(err.details)) {
      return new CliError(ExitCode.unreachable, `server ${address} asks for a client certificate (mutual TLS) and this call gave none: add --cert and --key (a certificate signed by the CA the server trusts)`);
    }
    if (err.code === status.UNAVAILABLE && server?.tls && TLS_FAILURE.test(err.details)) {
      return new CliError(
        ExitCode.unreachable,
        `TLS handshake with ${address} failed (${tlsReason(err.details)}): is the server serving TLS (--tls-cert), and did the CA given with --ca sign its certificate for this host name?`,
      );
    }
    if (err.code === status.UNAUTHENTICATED) return new CliError(ExitCode.failure, `the server asks for a token: ${err.details} (give it with --token-file or PULSE_LEARNING_LOG_TOKEN_FILE)`);
    if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
      return new CliError(ExitCode.unreachable, `server ${address} unreachable: ${err.details} (${name}). Is it running? Set --addr or PULSE_LEARNING_LOG_ADDR.`);
    }
    if (err.code === status.INVALID_ARGUMENT) return new CliError(ExitCode.usage, `rejected by the server: ${err.details}`);
    if (err.code === status.NOT_FOUND) return new CliError(ExitCode.notFound, `${err.details} (${name})`);
    return new CliError(ExitCode.failure, `server error ${name}: ${err.details}`);
  }
  const errno = errnoOf(err);
  if (errno === "ENOENT") return new CliError(ExitCode.notFound, (err as Error).message);
  return new CliError(ExitCode.failure, err instanceof Error ? err.message : String(err));
}
