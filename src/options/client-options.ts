import type { OptionSpec } from "./option-table.js";
import { nonEmpty } from "./parsers.js";
import { serverOptions } from "./server-options.js";

/**
 * How `pulse-log` reaches a server: its address (the server's own `--addr`
 * row: same flag, variable and default), TLS with the CA that signed the
 * server's certificate, a client certificate for mutual TLS, and a bearer
 * token read from a file (never from the command line, where `ps` shows it).
 */
export const clientOptions = Object.freeze({
  address: serverOptions.address,
  ca: Object.freeze({ flag: "ca", value: "FILE", env: "PULSE_LEARNING_LOG_CA", parse: nonEmpty, help: "reach the server over TLS, trusting this CA (PEM) for its certificate" }) satisfies OptionSpec<string>,
  cert: Object.freeze({ flag: "cert", value: "FILE", env: "PULSE_LEARNING_LOG_CERT", parse: nonEmpty, help: "client certificate (PEM) for mutual TLS; needs --key and --ca" }) satisfies OptionSpec<string>,
  key: Object.freeze({ flag: "key", value: "FILE", env: "PULSE_LEARNING_LOG_KEY", parse: nonEmpty, help: "client private key (PEM) for mutual TLS" }) satisfies OptionSpec<string>,
  tokenFile: Object.freeze({ flag: "token-file", value: "FILE", env: "PULSE_LEARNING_LOG_TOKEN_FILE", parse: nonEmpty, help: "file holding the bearer token the server requires (--tokens-file on the server)" }) satisfies OptionSpec<string>,
});
