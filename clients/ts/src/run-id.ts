/** The environment variable that names the run of a process that gives no `run` option. */
export const RUN_ENV = "PULSE_LEARNING_LOG_RUN";

/** The request metadata that carries a call's run: it applies to every event of the call that names no run itself. */
export const RUN_METADATA_KEY = "pulse-run";

/** Most characters of a run id. */
export const RUN_CHARS_MAX = 128;

// Printable ASCII (0x20-0x7E) other than '"' and '\': what the server takes,
// and what a record's "run" member holds without escaping.
const RUN_ID = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * A run id that breaks the rule (1 to 128 printable ASCII characters other
 * than `"` and `\`): raised before anything is sent. `option` names where
 * the id came from: the `run` option, an argument, or the
 * `PULSE_LEARNING_LOG_RUN` environment variable.
 */
export class InvalidRunId extends TypeError {
  /** The option, argument or environment variable that held the id. */
  readonly option: string;

  /** Builds the error; the message names `option` and what is wrong. */
  constructor(option: string, problem: string) {
    super(`${option}: ${problem}`);
    this.name = "InvalidRunId";
    this.option = option;
  }
}

/** Why `value` is not a run id, or undefined when it is one. */
function runIdProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return `a run id must be a string, got ${value === null ? "null" : typeof value}`;
  if (value.length === 0) return "a run id must not be empty";
  if (value.length > RUN_CHARS_MAX) return `a run id has at most ${RUN_CHARS_MAX} characters, got ${value.length}`;
  if (!RUN_ID.test(value)) return 'a run id is printable ASCII (0x20-0x7E) other than \'"\' and \'\\\'';
  return undefined;
}

/** `value` when it is a valid run id; else throws {@link InvalidRunId} naming `option`. */
export function checkRunId(value: unknown, option: string): string {
  const problem = runIdProblem(value);
  if (problem !== undefined) throw new InvalidRunId(option, problem);
  return value as string;
}

/**
 * The run of a connection: the `run` option when given (`null`: no run,
 * whatever the environment says), else `PULSE_LEARNING_LOG_RUN` when set and
 * non-empty, else none. Throws {@link InvalidRunId} naming the source.
 */
export function resolveRun(option: string | null | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (option === null) return undefined;
  if (option !== undefined) return checkRunId(option, "run");
  const fromEnv = env[RUN_ENV];
  return fromEnv === undefined || fromEnv === "" ? undefined : checkRunId(fromEnv, RUN_ENV);
}
