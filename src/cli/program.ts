import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { commanderOption, OptionValueError, type OptionSpec } from "../options/option-table.js";
import { serverOptions } from "../options/server-options.js";
import { productVersion } from "../version.js";
import { usage as serverUsage } from "../config.js";
import { CliError, ExitCode, exitCodesHelp, plaintextToTlsError, toCliError, type CalledServer, type ExitCodeValue } from "./exit-codes.js";
import { clientOptions } from "../options/client-options.js";
import type { ServerConnection } from "./remote.js";

import { Output } from "./output.js";
import { parseCliTime } from "./time.js";

// The commands and the gRPC client are loaded when a command runs, not here: grpc-js,
// the server and the readers take seconds to load on a busy machine, and `--help`,
// `--version` or a usage error must answer at once.
const commands = {
  read: () => import("./commands/read.js"),
  runs: () => import("./commands/runs.js"),
  serve: () => import("./commands/serve.js"),
  fileReport: () => import("./commands/file-report.js"),
  trust: () => import("./commands/trust.js"),
  verify: () => import("./commands/verify.js"),
  remote: () => import("./remote.js"),
};

/** `npm start`'s usage as `pulse-log serve` prints it (the same text as serve.ts's serveUsage, without loading the server). */
const serveUsage = serverUsage.replace("Usage: npm start -- [options]", "Usage: pulse-log serve [options]");

/** Where commands print; tests pass their own streams. */
export interface ProgramIo {
  out: (options: { json: boolean; progress: boolean }) => Output;
  /** Messages for people (errors, usage). */
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

// The server's own rows of the option table (flag, environment, default, parser): the
// address and the log path mean the same to every tool. Read without the server's
// checks (a client may well reach a non-loopback server).
const { address: addressSpec, logPath: logPathSpec } = serverOptions;

/** A commander option for one row of the option table, its default taken from the environment the program was given. */
function tableOption(spec: OptionSpec<string> & { default: string }, env: NodeJS.ProcessEnv, help: string): Option {
  const option = commanderOption(spec).argParser((text: string) => {
    try {
      return spec.parse === undefined ? text : spec.parse(text);
    } catch (err) {
      if (err instanceof OptionValueError) throw new InvalidArgumentError(`--${spec.flag} ${err.message}`);
      throw err;
    }
  });
  option.description = help;
  const fromEnv = spec.env === undefined ? undefined : env[spec.env];
  return option.default(fromEnv !== undefined && fromEnv !== "" ? fromEnv : spec.default, `env ${spec.env} or ${spec.default}`);
}

function positiveInt(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function nonNegativeInt(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be an integer >= 0`);
    return n;
  };
}

function fraction(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a number between 0 and 1`);
    return n;
  };
}

const time = (flag: string) => (text: string) => {
  try {
    return parseCliTime(flag, text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

const collect = (value: string, previous: string[]) => [...previous, value];

const TIME_HELP = "ISO time with offset (2026-11-24T19:05:53Z), a UTC date (2026-11-24) or a duration ago (15m, 2h, 7d)";

const EXIT_CODES = `\n${exitCodesHelp()}`;

/** The flags of a command that calls a server, as commander parsed them. */
interface ServerFlagValues {
  addr?: string;
  server?: string;
  ca?: string;
  cert?: string;
  key?: string;
  tokenFile?: string;
}

/** Builds the `pulse-log` command line; `run` parses and executes it. */
export function buildProgram(io: ProgramIo, called: { server?: CalledServer } = {}): Command {
  const program = new Command("pulse-log");
  program
    .description("Operate a Pulse learning log: run the server, follow and replay the log, look at it, and manage trust.")
    .version(`pulse-log ${productVersion()}`, "-V, --version", "print the version and exit")
    .exitOverride()
    .configureOutput({ writeErr: (s) => io.err(s.replace(/\n$/, "")), outputError: (s, write) => write(s) })
    .showHelpAfterError("(add --help for usage and examples)")
    .addHelpText(
      "after",
      `
Examples:
  pulse-log serve --log-path logs/pulse_learning_log.jsonl --metrics-addr 127.0.0.1:9464
  pulse-log tail -f --type rule_activation
  pulse-log replay --since 2h --type variable_weight_update --json > weights.jsonl
  pulse-log stats
  pulse-log runs
  pulse-log export --run exp-42 > exp-42.jsonl
  pulse-log summary --html summary.html --since 7d
  pulse-log trust report --min-samples 10
${EXIT_CODES}

Environment: ${addressSpec.env} (server address, default ${addressSpec.default}),
${logPathSpec.env} (log file, default ${logPathSpec.default}).`,
    );

  const addrOption = () => tableOption(addressSpec, io.env, "server address (--server is the same flag)");
  const fileOption = (spec: OptionSpec<string>) => {
    const option = commanderOption(spec);
    const fromEnv = spec.env === undefined ? undefined : io.env[spec.env];
    return fromEnv !== undefined && fromEnv !== "" ? option.default(fromEnv, `env ${spec.env}`) : option;
  };
  /** The flags that say how to reach a server: address (a default one, or only when asked), TLS, mutual TLS, token. */
  const withServerFlags = (cmd: Command, address: "default" | "optional") =>
    cmd
      .addOption(address === "default" ? addrOption() : new Option(`--addr <${addressSpec.value}>`, "read through this server's ReadEvents instead of the files (any store, JetStream included; --server is the same flag)"))
      .addOption(new Option(`--server <${addressSpec.value}>`).hideHelp())
      .addOption(fileOption(clientOptions.ca))
      .addOption(fileOption(clientOptions.cert))
      .addOption(fileOption(clientOptions.key))
      .addOption(fileOption(clientOptions.tokenFile));
  /** The server a command calls, from its flags; undefined when it reads files instead. */
  const serverOf = async (cmd: Command): Promise<ServerConnection | undefined> => {
    const o = cmd.opts<ServerFlagValues>();
    const explicitAddr = o.addr !== undefined && cmd.getOptionValueSource("addr") === "cli";
    if (explicitAddr && o.server !== undefined && o.server !== o.addr) throw new CliError(ExitCode.usage, "--addr and --server are the same flag; give one");
    const address = o.server ?? o.addr;
    if (address === undefined) return undefined;
    // Kept for error messages: which server, and whether over TLS.
    called.server = { address, tls: o.ca !== undefined };
    return (await commands.remote()).connectionOf({ address, ca: o.ca, cert: o.cert, key: o.key, tokenFile: o.tokenFile });
  };
  const mustServerOf = async (cmd: Command): Promise<ServerConnection> => (await serverOf(cmd))!;
  const logPathOption = () => tableOption(logPathSpec, io.env, "log file (closed segments beside it are read too)");
  const typeOption = () => new Option("-t, --type <event_type>", "only this event type (repeatable)").argParser(collect).default([], "all types");
  const runOption = () => new Option("-r, --run <id>", "only this run's records (repeatable; read through the server's run index)").argParser(collect).default([], "all runs");
  const withOutput = (cmd: Command) =>
    cmd.option("--json", "machine output: JSON lines on stdout (records exactly as in the log)").option("--no-progress", "no progress bar (bars only ever show when stderr is a terminal)");
  const outputOf = (opts: { json?: boolean; progress?: boolean }) => io.out({ json: opts.json ?? false, progress: opts.progress ?? true });

  program
    .command("serve")
    .description("run the server (same flags and environment as `npm start`)")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[flags...]", "server flags; `pulse-log serve --help` lists them")
    .addHelpText("after", `\n${serveUsage}`)
    .action(async (flags: string[]) => (await commands.serve()).serve(flags));

  withOutput(
    withServerFlags(program.command("tail"), "default")
      .description("print the last records, and with -f every new one as it is committed")
      .option("-f, --follow", "keep printing new records until interrupted (Ctrl-C exits 0)", false)
      .addOption(typeOption())
      .option("--since <time>", `only records since then (${TIME_HELP}); prints all of them unless -n is given`, time("--since"))
      .option("-n, --lines <n>", "how many of the last records to print first (default 10)", nonNegativeInt("--lines"))
      .addOption(runOption()),
  )
    .addHelpText(
      "after",
      `
Examples:
  pulse-log tail                          the last 10 records
  pulse-log tail -n 50 --type rule_activation
  pulse-log tail -f --json | jq .data     follow, as JSON lines
  pulse-log tail --since 15m -f           everything of the last 15 minutes, then follow
  pulse-log tail -f --run exp-42          one run's records as they come`,
    )
    .action(async (o, cmd: Command) => (await commands.read()).tail({ server: await mustServerOf(cmd), follow: o.follow, types: o.type, since: o.since, lines: o.lines, runs: o.run }, outputOf(o)));

  withOutput(
    withServerFlags(program.command("replay"), "default")
      .description("stream records from a seq or a time, filtered by type and time range")
      .option("--from-seq <seq>", "first seq (inclusive)", positiveInt("--from-seq"))
      .option("--since <time>", `records at or after this time (${TIME_HELP})`, time("--since"))
      .option("--until <time>", "records before this time (same forms)", time("--until"))
      .addOption(typeOption())
      .option("--limit <n>", "at most this many records", positiveInt("--limit"))
      .addOption(runOption()),
  )
    .addHelpText(
      "after",
      `
Examples:
  pulse-log replay --from-seq 1000 --limit 20
  pulse-log replay --since 2026-11-24 --until 2026-11-25 --type bayesian_trust_metrics
  pulse-log replay --json > copy.jsonl    the log's lines, byte for byte
  pulse-log replay --run exp-42 --type variable_weight_update`,
    )
    .action(async (o, cmd: Command) => (await commands.read()).replay({ server: await mustServerOf(cmd), fromSeq: o.fromSeq, since: o.since, until: o.until, types: o.type, limit: o.limit, runs: o.run }, outputOf(o)));

  withOutput(
    withServerFlags(program.command("runs"), "default")
      .description("list the runs the log holds: status, event count, first and last seq and time, event types (from the server's run index)")
      .addOption(runOption()),
  )
    .addHelpText(
      "after",
      `
Status: finished or failed (the run's last run_finished record), still logging
(a process holds the run, or logged into it within --run-idle-seconds of the
server), ended without a finish record (the process holding it went away).

Examples:
  pulse-log runs
  pulse-log runs --run exp-42 --json`,
    )
    .action(async (o, cmd: Command) => (await commands.runs()).runs({ server: await mustServerOf(cmd), runs: o.run }, outputOf(o)));

  withOutput(
    withServerFlags(program.command("export"), "default")
      .description("write one run's records as a JSONL file, each line as in the log (what the original module wrote for a run's own log path)")
      .requiredOption("-r, --run <id>", "the run to export")
      .option("-o, --output <file>", "write to this new file (0600) instead of stdout"),
  )
    .addHelpText(
      "after",
      `
Examples:
  pulse-log export --run exp-42 > exp-42.jsonl
  pulse-log export --run exp-42 --output runs/exp-42.jsonl`,
    )
    .action(async (o, cmd: Command) => (await commands.runs()).exportRun({ server: await mustServerOf(cmd), run: o.run, output: o.output }, outputOf(o)));

  withOutput(
    withServerFlags(program.command("stats"), "optional")
      .description("counts by type, first/last seq and time, file sizes, events/s over the log's life (reads the log file, or a server with --addr)")
      .addOption(logPathOption())
      .addOption(runOption()),
  )
    .addHelpText("after", "\nExamples:\n  pulse-log stats --log-path /var/lib/pulse/pulse_learning_log.jsonl --json\n  pulse-log stats --server 127.0.0.1:50051")
    .action(async (o, cmd: Command) => (await commands.fileReport()).stats({ logPath: o.logPath, server: await serverOf(cmd), runs: o.run }, outputOf(o)));

  withOutput(
    withServerFlags(program.command("verify"), "optional")
      .description("check that no record was edited, deleted, inserted or reordered: the hash chain and seq order across all segments (reads the log files, or every record a server returns with --addr: JetStream too)")
      .addOption(logPathOption()),
  )
    .addHelpText(
      "after",
      `
Each record carries "hash": SHA-256 of the previous record's hash and its own
bytes up to its seq. Exit code 0 when intact, 5 naming the first broken line.
Anyone who can rewrite the whole file can recompute the chain: keep the printed
last hash somewhere else and compare it later to anchor the log.

Example:
  pulse-log verify --log-path /var/lib/pulse/pulse_learning_log.jsonl
  pulse-log verify --addr 127.0.0.1:50051`,
    )
    .action(async (o, cmd: Command) => (await commands.verify()).verify({ logPath: o.logPath, server: await serverOf(cmd) }, outputOf(o)));

  withOutput(
    withServerFlags(program.command("summary"), "optional")
      .description("summary of the learning: text, or with --html a self-contained page of charts (reads the log file, or a server with --addr)")
      .addOption(logPathOption())
      .option("--html <file>", "write the visual summary to this HTML file")
      .option("--since <time>", `only records since then (${TIME_HELP})`, time("--since"))
      .option("--until <time>", "only records before then (same forms)", time("--until"))
      .option("--run <id>", "only this run's records; given twice, compare the two runs", collect, []),
  )
    .addHelpText(
      "after",
      `
The page shows events over time by type, weight trajectories of the most changed
variables, each rule's activations and success rate, arc regret, revision
triggers and upgrades as marks, trust per key with its confidence band, and
rules ranked by effectiveness (success_rate x impact_score). With --run, the
run's params and status head it; with two --run, the page overlays the two runs
(x: event index within the run, or time since its start) and lists what
differs. It needs no network to open.

Examples:
  pulse-log summary
  pulse-log summary --html summary.html --since 7d
  pulse-log summary --run exp-42
  pulse-log summary --run exp-41 --run exp-42 --html compare.html`,
    )
    .action(async (o, cmd: Command) => (await commands.fileReport()).summary({ logPath: o.logPath, html: o.html, since: o.since, until: o.until, runs: o.run, server: await serverOf(cmd) }, outputOf(o)));

  const trust = program.command("trust").description("trust tracker: report, export, import (over gRPC)");
  withOutput(
    withServerFlags(trust.command("report"), "default")
      .description("the trust report: mean trust, high- and low-trust keys")
      .option("--min-samples <n>", "leave out keys with fewer samples (server default 5)", nonNegativeInt("--min-samples"))
      .option("--high <trust>", "high-trust threshold (server default 0.8)", fraction("--high"))
      .option("--low <trust>", "low-trust threshold (server default 0.2)", fraction("--low")),
  ).action(async (o, cmd: Command) => (await commands.trust()).trustReport({ server: await mustServerOf(cmd), minSamples: o.minSamples, high: o.high, low: o.low }, outputOf(o)));
  withOutput(
    withServerFlags(trust.command("export"), "default")
      .description("write every key's state in the original module's export format")
      .argument("[file]", "file to write (stdout when absent or -)"),
  )
    .addHelpText("after", "\nExample:\n  pulse-log trust export trust-backup.json")
    .action(async (file: string | undefined, o, cmd: Command) => (await commands.trust()).trustExport({ server: await mustServerOf(cmd), file }, outputOf(o)));
  withOutput(
    withServerFlags(trust.command("import"), "default")
      .description("load a file in the original module's export format (all or nothing)")
      .argument("<file>", "file to read")
      .option("--merge", "keep keys the file does not name (default: replace the whole state, like the original)", false),
  )
    .addHelpText("after", "\nExample:\n  pulse-log trust import trust-backup.json --merge")
    .action(async (file: string, o, cmd: Command) => (await commands.trust()).trustImport({ server: await mustServerOf(cmd), file, merge: o.merge }, outputOf(o)));

  return program;
}

/** Parses argv (without node and script) and runs the command; resolves with the exit code. */
export async function run(argv: readonly string[], io: ProgramIo): Promise<ExitCodeValue> {
  const called: { server?: CalledServer } = {};
  const program = buildProgram(io, called);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; every other parse error is a usage error.
      return err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help" ? ExitCode.ok : ExitCode.usage;
    }
    let e = toCliError(err, called.server);
    // A plaintext call that found no gRPC: say so when a TLS server is what answers there.
    if (e.exitCode === ExitCode.unreachable && called.server?.tls === false && (await (await commands.remote()).probeTls(called.server.address)) === "tls") e = plaintextToTlsError(called.server.address);
    io.err(`pulse-log: ${e.message}`);
    return e.exitCode;
  }
}
