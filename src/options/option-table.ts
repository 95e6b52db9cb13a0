import { Command, CommanderError, Option } from "commander";

/**
 * One option, declared once: its flag, environment variable, default,
 * parser and one line of help. The table of these drives parsing (flags
 * through commander, then the environment, then the default), `--help`, the
 * README's configuration table and the error messages.
 */
export interface OptionSpec<T = unknown> {
  /** The flag without its dashes: "log-path". */
  readonly flag: string;
  /** One-letter alias: "h" for -h. */
  readonly short?: string;
  /** What the value looks like in help ("HOST:PORT", "N", "FILE"); absent for a switch (a boolean flag without value). */
  readonly value?: string;
  /** Environment variable read when the flag is absent. */
  readonly env?: string;
  /** The value when neither flag nor environment gives one; absent: unset. */
  readonly default?: T;
  /** How the default reads in help and docs, when it is not the value itself (derived defaults, "off", "keep all"). */
  readonly defaultText?: string;
  /** Turns the text into the value; throws an {@link OptionValueError} saying what it must be. Default: the text itself. */
  readonly parse?: (text: string) => T;
  /** One line: what the option does. */
  readonly help: string;
}

/**
 * A frozen option row, typed so its default and parser agree on the value's
 * type (a row with a default is never unset). Every table's rows are made
 * with it: the server's, and each store's own (its folder's store-kind.ts).
 */
export function option<T>(spec: OptionSpec<T> & { default: T }): OptionSpec<T> & { default: T };
export function option<T>(spec: OptionSpec<T>): OptionSpec<T>;
export function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return Object.freeze(spec);
}

/** A parser's complaint about a value: "must be a positive integer". The table adds the flag and the value. */
export class OptionValueError extends Error {
  override readonly name = "OptionValueError";
}

/** A bad flag or value, named in the message: `--addr must be HOST:PORT; got "x"`. */
export class OptionError extends Error {
  override readonly name = "OptionError";
}

/** A table of options, by a key of the caller's choosing. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** The values of a table after parsing: each option's parsed value, or undefined when unset and without default. */
export type OptionValues<Table extends OptionTable> = {
  -readonly [K in keyof Table]: Table[K] extends OptionSpec<infer T> ? (Table[K] extends { default: unknown } ? T : T | undefined) : never;
};

/** Where each value came from, for messages that name it (the flag, or the environment variable). */
export type OptionSources<Table extends OptionTable> = { [K in keyof Table]: "flag" | "env" | "default" };

/** The text naming where a value came from: `--addr`, or `PULSE_LEARNING_LOG_ADDR (environment)`. */
function sourceName(spec: OptionSpec, source: "flag" | "env"): string {
  return source === "flag" ? `--${spec.flag}` : `${spec.env} (environment)`;
}

function parseValue(spec: OptionSpec, text: string, source: "flag" | "env"): unknown {
  if (spec.parse === undefined) return text;
  try {
    return spec.parse(text);
  } catch (err) {
    if (err instanceof OptionValueError) throw new OptionError(`${sourceName(spec, source)} ${err.message}; got "${text}"`);
    throw err;
  }
}

/** The commander option of a spec (no commander default: the table resolves flag, environment and default itself). */
export function commanderOption(spec: OptionSpec, options: { describeDefault?: boolean } = {}): Option {
  const flags = `${spec.short ? `-${spec.short}, ` : ""}--${spec.flag}${spec.value ? ` <${spec.value}>` : ""}`;
  const option = new Option(flags, spec.help);
  if (options.describeDefault !== false) {
    const described = describeDefault(spec);
    if (described !== undefined || spec.env !== undefined) {
      option.default(undefined, [spec.env ? `env ${spec.env}` : undefined, described].filter((x) => x !== undefined).join(", or "));
    }
  }
  return option;
}

/** The default as help and docs show it, or undefined when there is none. */
export function describeDefault(spec: OptionSpec): string | undefined {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.default === undefined || spec.default === false) return undefined;
  return String(spec.default);
}

/**
 * Parses argv against a table: flags through commander (unknown flags,
 * missing values and stray arguments are errors), then each absent option
 * from its environment variable, then its default. Every value goes
 * through its spec's parser; errors name the flag or variable and the value.
 */
export function parseOptions<Table extends OptionTable>(
  table: Table,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): { values: OptionValues<Table>; sources: OptionSources<Table> } {
  const command = new Command()
    .exitOverride()
    .helpOption(false)
    .allowExcessArguments(false)
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  const keyOf = new Map<string, string>();
  for (const [key, spec] of Object.entries(table)) {
    command.addOption(commanderOption(spec, { describeDefault: false }));
    keyOf.set(camel(spec.flag), key);
  }
  try {
    command.parse([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) throw new OptionError(err.message.replace(/^error: /, ""));
    throw err;
  }
  const given = command.opts<Record<string, string | boolean | undefined>>();
  const values: Record<string, unknown> = {};
  const sources: Record<string, "flag" | "env" | "default"> = {};
  for (const [key, spec] of Object.entries(table)) {
    const flagValue = given[camel(spec.flag)];
    const envValue = spec.env === undefined ? undefined : env[spec.env];
    if (flagValue !== undefined) {
      values[key] = typeof flagValue === "boolean" ? flagValue : parseValue(spec, flagValue, "flag");
      sources[key] = "flag";
    } else if (envValue !== undefined && envValue !== "") {
      values[key] = spec.value === undefined ? parseSwitch(spec, envValue) : parseValue(spec, envValue, "env");
      sources[key] = "env";
    } else {
      values[key] = spec.default;
      sources[key] = "default";
    }
  }
  return { values: values as OptionValues<Table>, sources: sources as OptionSources<Table> };
}

function parseSwitch(spec: OptionSpec, text: string): boolean {
  if (/^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off)$/i.test(text)) return false;
  throw new OptionError(`${sourceName(spec, "env")} must be true or false; got "${text}"`);
}

/** commander's attribute name of a flag: "log-path" -> "logPath". */
function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The flag as help and docs write it: `--addr HOST:PORT`, `-h, --help`. */
export function flagText(spec: OptionSpec): string {
  return `${spec.short ? `-${spec.short}, ` : ""}--${spec.flag}${spec.value ? ` ${spec.value}` : ""}`;
}

/** Help lines for a table: flag, help, and in brackets the environment variable and default. */
export function helpLines(table: OptionTable): string {
  const rows = Object.values(table).map((spec) => {
    const notes = [spec.env ? `env ${spec.env}` : undefined, describeDefault(spec) === undefined ? undefined : `default ${describeDefault(spec)}`].filter((x) => x !== undefined);
    return { flag: flagText(spec), text: notes.length > 0 ? `${spec.help} [${notes.join(", ")}]` : spec.help };
  });
  const width = Math.min(30, Math.max(...rows.map((r) => r.flag.length)));
  return rows.map((r) => (r.flag.length > width ? `  ${r.flag}\n  ${" ".repeat(width)}  ${r.text}` : `  ${r.flag.padEnd(width)}  ${r.text}`)).join("\n");
}

/** The table as Markdown: flag, environment, default, meaning (the README's configuration table). */
export function markdownTable(table: OptionTable): string {
  const cell = (text: string) => text.replace(/\|/g, "\\|");
  const lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"];
  for (const spec of Object.values(table)) {
    const described = describeDefault(spec);
    lines.push(`| \`${cell(flagText(spec))}\` | ${spec.env ? `\`${spec.env}\`` : ""} | ${described === undefined ? "" : cell(described)} | ${cell(spec.help)} |`);
  }
  return lines.join("\n");
}
