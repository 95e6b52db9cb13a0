import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, resolveConfig, usage } from "../../src/config.js";
import { flagText, markdownTable, parseOptions, OptionError, type OptionSpec } from "../../src/options/option-table.js";
import { commaList, hostPort, nonEmpty, onOff, positiveInt } from "../../src/options/parsers.js";
import { serverOptions } from "../../src/options/server-options.js";
import { cli } from "../helpers/cli.js";

const rows = Object.entries(serverOptions) as Array<[string, OptionSpec]>;

/** A value each parser refuses, or undefined for parsers that take any text. */
function badValueFor(spec: OptionSpec): string | undefined {
  if (spec.value === undefined) return undefined; // a switch takes no value
  if (spec.parse === positiveInt) return "0";
  if (spec.parse === hostPort) return "no-port";
  if (spec.parse === onOff) return "maybe";
  if (spec.parse === nonEmpty) return "";
  if (spec.parse === commaList) return undefined;
  return "surely-not-a-valid-value";
}

describe("the option table", () => {
  it("is the README's configuration table, row for row", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const m = /<!-- options:start[^>]*-->\n([\s\S]*?)<!-- options:end -->/.exec(readme);
    assert.ok(m, "README.md has the options:start/options:end markers");
    const expected = markdownTable(serverOptions) + "\n";
    assert.equal(m[1], expected, `README.md's table is stale; replace it with:\n${expected}`);
  });

  it("is the --help text: every flag with its environment variable and default", () => {
    for (const [, spec] of rows) {
      const line = usage.split("\n").findIndex((l) => l.trimStart().startsWith(flagText(spec)));
      assert.ok(line >= 0, `--help lists ${flagText(spec)}`);
      // A long flag puts its help on the next line.
      const text = usage.split("\n").slice(line, line + 2).join(" ");
      assert.ok(text.includes(spec.help), `--help says what ${flagText(spec)} does`);
      if (spec.env) assert.ok(text.includes(`env ${spec.env}`), `--help names ${spec.env}`);
    }
  });

  it("refuses a bad value of every option, naming the flag and the value, or the environment variable", () => {
    let checked = 0;
    for (const [, spec] of rows) {
      const bad = badValueFor(spec);
      if (bad === undefined) continue;
      checked++;
      assert.throws(
        () => resolveConfig([`--${spec.flag}=${bad}`], {}),
        (err: unknown) => err instanceof ConfigError && err.message.startsWith(`--${spec.flag} must`) && err.message.includes(`got "${bad}"`),
        `--${spec.flag}=${bad}`,
      );
      if (spec.env !== undefined && bad !== "") {
        assert.throws(
          () => resolveConfig([], { [spec.env!]: bad }),
          (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${spec.env} (environment) must`),
          `${spec.env}=${bad}`,
        );
      }
    }
    assert.ok(checked >= 25, `only ${checked} options were checked`);
  });

  it("takes the flag over the environment, the environment over the default", () => {
    const { address } = serverOptions;
    const variable = address.env!;
    assert.equal(resolveConfig([], {}).address, address.default);
    assert.equal(resolveConfig([], { [variable]: "127.0.0.1:7000" }).address, "127.0.0.1:7000");
    assert.equal(resolveConfig(["--addr", "127.0.0.1:8000"], { [variable]: "127.0.0.1:7000" }).address, "127.0.0.1:8000");
    // An empty variable is unset, as in a shell's `VAR= cmd`.
    assert.equal(resolveConfig([], { [variable]: "" }).address, address.default);
  });

  it("fills every default from the table", () => {
    const config = resolveConfig([], {});
    assert.equal(config.logPath, serverOptions.logPath.default);
    assert.equal(config.queueBytesMax, serverOptions.queueBytesMax.default);
    assert.equal(config.dedupWindowRecords, serverOptions.dedupWindowRecords.default);
    assert.equal(config.limits.recordBytesMax, serverOptions.recordBytesMax.default);
    assert.equal(config.hashChain, true);
    assert.equal(config.pii.mode, serverOptions.piiMode.default);
    assert.deepEqual(config.store, { kind: "file" });
    assert.equal(config.retentionAgeMs, undefined);
    assert.equal(resolveConfig(["--retention-days", "2"], {}).retentionAgeMs, 2 * 86_400_000);
  });

  it("refuses unknown flags, missing values and stray arguments, naming them", () => {
    assert.throws(() => resolveConfig(["--adress", "127.0.0.1:1"], {}), /unknown option '--adress'/);
    assert.throws(() => resolveConfig(["--addr"], {}), /'--addr <HOST:PORT>' argument missing/);
    assert.throws(() => resolveConfig(["serve"], {}), /too many arguments/);
  });

  it("says a port beyond 65535 is out of range, for the server and for pulse-log", async () => {
    assert.throws(() => resolveConfig(["--addr", "127.0.0.1:99999"], {}), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^--addr must be HOST:PORT with a port from 0 to 65535; port 99999 is out of range/);
      return true;
    });
    assert.throws(() => resolveConfig([], { PULSE_LEARNING_LOG_ADDR: "[::1]:70000" }), /PULSE_LEARNING_LOG_ADDR \(environment\) must be HOST:PORT with a port from 0 to 65535; port 70000 is out of range/);
    assert.equal(hostPort("[::1]:65535"), "[::1]:65535");
    assert.throws(() => hostPort("127.0.0.1"), /^OptionValueError: must be HOST:PORT$|must be HOST:PORT$/);
    const dir = mkdtempSync(join(tmpdir(), "pulse-port-"));
    try {
      const r = await cli(["tail", "--addr", "127.0.0.1:99999"], dir);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^error: option '--addr <HOST:PORT>' argument '127\.0\.0\.1:99999' is invalid\. --addr must be HOST:PORT with a port from 0 to 65535; port 99999 is out of range\n/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("reads switches from flags and from the environment", () => {
    const table = { on: { flag: "on", env: "ON", default: false, help: "a switch" } } as const;
    assert.equal(parseOptions(table, ["--on"], {}).values.on, true);
    assert.equal(parseOptions(table, [], { ON: "true" }).values.on, true);
    assert.equal(parseOptions(table, [], { ON: "0" }).values.on, false);
    assert.throws(() => parseOptions(table, [], { ON: "perhaps" }), (err: unknown) => err instanceof OptionError && /ON \(environment\) must be true or false/.test(err.message));
  });

  it("gives the Python client the server's default address and variable", function () {
    const python = process.env.PYTHON ?? "/usr/bin/python3";
    let out: string;
    try {
      const env = { ...process.env, PYTHONPATH: [fileURLToPath(new URL("../../gen/python", import.meta.url)), fileURLToPath(new URL("../../clients/python", import.meta.url))].join(delimiter) };
      out = execFileSync(python, ["-c", "import os, sys; os.environ.pop(sys.argv[1], None); from pulse_learning_log.connection import default_target; print(default_target()); os.environ[sys.argv[1]] = 'h:1'; print(default_target())", serverOptions.address.env!], { env, encoding: "utf8" });
    } catch (err) {
      // The Python suite needs the same interpreter and packages; CI installs them.
      throw new Error(`the Python client could not be imported with ${python}: ${(err as Error).message}`, { cause: err });
    }
    assert.deepEqual(out.trim().split("\n"), [serverOptions.address.default, "h:1"]);
  });
});
