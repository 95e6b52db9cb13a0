import { status } from "@grpc/grpc-js";

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

/** Turns anything thrown by a command into a CliError: gRPC statuses map to exit codes here, and only here. */
export function toCliError(err: unknown, address?: string): CliError {
  if (err instanceof CliError) return err;
  if (isGrpcError(err)) {
    const name = status[err.code] ?? String(err.code);
    if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
      return new CliError(ExitCode.unreachable, `server ${address ?? ""} unreachable: ${err.details} (${name}). Is it running? Set --addr or PULSE_LEARNING_LOG_ADDR.`);
    }
    if (err.code === status.INVALID_ARGUMENT) return new CliError(ExitCode.usage, `rejected by the server: ${err.details}`);
    if (err.code === status.NOT_FOUND) return new CliError(ExitCode.notFound, `${err.details} (${name})`);
    return new CliError(ExitCode.failure, `server error ${name}: ${err.details}`);
  }
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === "ENOENT") return new CliError(ExitCode.notFound, (err as Error).message);
  return new CliError(ExitCode.failure, err instanceof Error ? err.message : String(err));
}
