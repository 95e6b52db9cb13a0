import { verifyLog, verifyRecords, type VerifyReport } from "../../store/file/verify.js";
import { CliError, ExitCode, toCliError } from "../exit-codes.js";
import type { Output } from "../output.js";
import { logClient, type ServerConnection } from "../remote.js";

/** Options of `pulse-log verify`. */
export interface VerifyOptions {
  logPath: string;
  /** Check the records this server returns (ReadEvents from the first), not the files. */
  server?: ServerConnection;
}

/** Verifies every record a server's ReadEvents returns, in order. */
async function verifyServer(server: ServerConnection): Promise<VerifyReport> {
  const client = logClient(server);
  try {
    return await verifyRecords(
      (async function* () {
        for await (const message of client.readEvents({})) for (const r of message.records) yield r.json;
      })(),
      `server ${server.address}`,
    );
  } catch (err) {
    throw toCliError(err, server);
  } finally {
    client.close();
  }
}

/**
 * Checks the hash chain and seq order across every segment; prints the
 * outcome (the last hash anchors the chain: keep it somewhere else) and exits
 * with `broken` naming the first bad line when the log was altered.
 */
export async function verify(options: VerifyOptions, out: Output): Promise<void> {
  let bar: ReturnType<Output["progress"]> | undefined;
  const report =
    options.server !== undefined
      ? await verifyServer(options.server)
      : await verifyLog(options.logPath, (done, total) => {
          bar ??= out.progress("verify", total, "bytes");
          bar.update(done);
        });
  bar?.stop();
  if (options.server === undefined && report.files.length === 0) throw new CliError(ExitCode.notFound, `no log at ${options.logPath} (set --log-path or PULSE_LEARNING_LOG_PATH)`);
  if (out.options.json) {
    await out.json(report);
  } else if (report.ok) {
    const range = `seq ${report.firstSeq ?? "-"}..${report.lastSeq ?? "-"} ${options.server === undefined ? `in ${report.files.length} file(s)` : `read from ${options.server.address}`}`;
    const unhashed = report.records - report.hashedRecords;
    await out.write(
      (report.hashedRecords === 0
        ? // Nothing proves the records unchanged: say so rather than "intact".
          `nothing verified: none of the ${report.records} records carries a hash (written with --hash-chain off, or by the original module); only the seq order and the JSON were checked (${range})\n`
        : `intact: the hash chain holds over ${report.hashedRecords} records, ${range}\n` +
          (unhashed > 0 ? `${unhashed} record(s) before the chain carry no hash and could not be verified\n` : "") +
          `last hash: ${report.lastHash}\n`) +
        (report.nonFiniteRecords > 0 ? `${report.nonFiniteRecords} record(s) hold NaN/Infinity, as the original module wrote them (read by Python's json module, not by strict JSON parsers)\n` : ""),
    );
  }
  if (!report.ok) {
    const b = report.broken!;
    const where = options.server === undefined ? `${b.file} line ${b.line}` : `record ${b.line} from ${b.file}`;
    throw new CliError(ExitCode.broken, `chain broken at ${where}${b.seq === undefined ? "" : ` (seq ${b.seq})`}: ${b.reason}`);
  }
}
