import assert from "node:assert/strict";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { context, diag, DiagLogLevel, trace, TraceFlags, type DiagLogger } from "@opentelemetry/api";
import type { Logger as OtelLogger } from "@opentelemetry/api-logs";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type ReadableLogRecord } from "@opentelemetry/sdk-logs";
import { pino } from "pino";
import { LogsService } from "../../gen/ts/opentelemetry/proto/collector/logs/v1/logs_service_pb.js";
import { resolveConfig } from "../../src/config.js";
import { healthDefinition } from "../../src/ops/health.js";
import { createClient } from "../../src/rpc/client.js";
import { PulseServer } from "../../src/server.js";
import { reflectedServices } from "../faults/reflected-services.js";
import { makeCertificates } from "../helpers/certificates.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

type LogLine = { event_id: string; timestamp: string; event_type: string; data: Record<string, unknown>; context?: Record<string, unknown>; seq: number };

async function readLog(path: string): Promise<LogLine[]> {
  const text = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? "" : Promise.reject(err)));
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as LogLine);
}

/** Collects what the OpenTelemetry SDK says through its diagnostic logger (partial success arrives as a warning). */
function captureDiagnostics(): { warnings: string[]; stop(): void } {
  const warnings: string[] = [];
  const text = (args: unknown[]) => args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ");
  const logger: DiagLogger = {
    error: (...args) => warnings.push(text(args)),
    warn: (...args) => warnings.push(text(args)),
    info: () => undefined,
    debug: () => undefined,
    verbose: () => undefined,
  };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  return { warnings, stop: () => diag.disable() };
}

/** The records the real SDK makes of what `emit` logs, ready for an exporter. */
async function sdkRecords(emit: (logger: OtelLogger) => void): Promise<ReadableLogRecord[]> {
  const memory = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource: resourceFromAttributes({ "service.name": "trainer" }), processors: [new SimpleLogRecordProcessor({ exporter: memory })] });
  emit(provider.getLogger("pulse.trainer", "1.0.0"));
  await provider.forceFlush();
  const records = memory.getFinishedLogRecords();
  await provider.shutdown();
  return records;
}

/** Exports records with the real OTLP/gRPC exporter; resolves with the SDK's result (error included). */
function exportWith(exporter: OTLPLogExporter, records: ReadableLogRecord[]): Promise<{ ok: boolean; code?: number; message?: string }> {
  return new Promise((resolve) =>
    exporter.export(records, (result) => {
      const error = result.error as (Error & { code?: number }) | undefined;
      resolve({ ok: result.code === 0, code: error?.code, message: error?.message });
    }),
  );
}

/** The exporter's options (its compression enum is not exported by the exporter package itself). */
type ExporterConfig = NonNullable<ConstructorParameters<typeof OTLPLogExporter>[0]>;

const insecureExporter = (address: string) => new OTLPLogExporter({ url: `http://${address}`, credentials: grpc.credentials.createInsecure() });

describe("OTLP logs in, from the OpenTelemetry JS SDK and its OTLP/gRPC exporter", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let t: TestServer;
  let diagnostics: ReturnType<typeof captureDiagnostics>;
  beforeEach(async () => {
    dir = await tempDir();
    t = await startServer(dir.path);
    diagnostics = captureDiagnostics();
  });
  afterEach(async () => {
    diagnostics.stop();
    await t.stop();
    await dir.remove();
  });

  it("writes each event the SDK emits as one record: name, map body, attributes, resource, trace context", async () => {
    const exporter = insecureExporter(t.address);
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ "service.name": "trainer", "service.version": "2.1" }),
      processors: [new BatchLogRecordProcessor({ exporter })],
    });
    const logger = provider.getLogger("pulse.trainer", "1.0.0");
    const span = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: TraceFlags.SAMPLED };
    logger.emit({
      eventName: "variable_weight_update",
      body: { variable: "temperature", from: 0.5, to: 0.75, steps: 3 },
      attributes: { run: "r1", "epoch.count": 12 },
      context: trace.setSpanContext(context.active(), span),
    });
    logger.emit({ body: "a plain log line, not an event", severityText: "INFO" });
    // Older SDKs name events by attribute; a body that is not a map is data.body.
    logger.emit({ attributes: { "event.name": "symbolic_revision_triggered" }, body: "drift detected" });
    logger.emit({ eventName: "blob_seen", body: { blob: new Uint8Array([1, 2, 3, 250]) } });
    await provider.forceFlush();
    await provider.shutdown();

    const records = await readLog(t.logPath);
    assert.deepEqual(records.map((r) => r.event_type), ["variable_weight_update", "symbolic_revision_triggered", "blob_seen"]);
    const [weight, revision, blob] = records;
    assert.deepEqual(weight.data, { variable: "temperature", from: 0.5, to: 0.75, steps: 3 });
    assert.equal(weight.context!.run, "r1");
    assert.equal(weight.context!["epoch.count"], 12);
    assert.equal(weight.context!.trace_id, span.traceId);
    assert.equal(weight.context!.span_id, span.spanId);
    const resource = weight.context!.resource as Record<string, unknown>;
    assert.equal(resource["service.name"], "trainer");
    assert.equal(resource["service.version"], "2.1");
    assert.deepEqual(revision.data, { body: "drift detected" });
    assert.equal(revision.context!["event.name"], "symbolic_revision_triggered");
    assert.equal(revision.context!.trace_id, undefined);
    assert.deepEqual(blob.data, { blob: Buffer.from([1, 2, 3, 250]).toString("base64") });
    assert.deepEqual(records.map((r) => r.seq), [1, 2, 3]);

    // The plain log line was counted in partial_success, which the SDK reports as a warning.
    const partial = diagnostics.warnings.filter((w) => w.includes("Partial Success"));
    assert.equal(partial.length, 1, diagnostics.warnings.join("\n"));
    assert.match(partial[0], /1 of 4 log records rejected; first: resource_logs\[0\]\.scope_logs\[0\]\.log_records\[1\]: no event name/);
  });

  it("rejects a NaN in the body, naming the field, and writes the rest of the export", async () => {
    const records = await sdkRecords((logger) => {
      logger.emit({ eventName: "rule_effectiveness", body: { rule_id: "R1", success_rate: 0.75 } });
      logger.emit({ eventName: "rule_effectiveness", body: { rule_id: "R2", success_rate: Number.NaN } });
      logger.emit({ eventName: "arc_regret", attributes: { latency: Number.POSITIVE_INFINITY } });
    });
    const result = await exportWith(insecureExporter(t.address), records);
    assert.ok(result.ok, result.message);
    const lines = await readLog(t.logPath);
    assert.deepEqual(lines.map((r) => r.data.rule_id), ["R1"]);
    const partial = diagnostics.warnings.find((w) => w.includes("Partial Success"));
    assert.ok(partial, diagnostics.warnings.join("\n"));
    assert.match(partial, /2 of 3 log records rejected; first: resource_logs\[0\]\.scope_logs\[0\]\.log_records\[1\]\.body\.success_rate: NaN is not a finite number/);
  });

  it("writes the run from the resource's pulse.run.id (a record's own overrides it), not into context; refuses an invalid one by name", async () => {
    const exporter = insecureExporter(t.address);
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ "service.name": "trainer", "pulse.run.id": "exp-42" }),
      processors: [new BatchLogRecordProcessor({ exporter })],
    });
    const logger = provider.getLogger("pulse.trainer");
    logger.emit({ eventName: "variable_weight_update", body: { variable: "t", from: 0.5, to: 0.75 } });
    logger.emit({ eventName: "variable_weight_update", body: { variable: "p", from: 1, to: 0.5 }, attributes: { "pulse.run.id": "exp-42-ablation", k: 1 } });
    logger.emit({ eventName: "rule_activation", attributes: { "pulse.run.id": 'has "quotes"' } });
    await provider.forceFlush();
    await provider.shutdown();

    const text = await readFile(t.logPath, "utf8");
    const lines = (await readLog(t.logPath)) as Array<LogLine & { run?: string }>;
    assert.deepEqual(
      lines.map((l) => [l.data.variable, l.run]),
      [
        ["t", "exp-42"],
        ["p", "exp-42-ablation"],
      ],
    );
    assert.deepEqual(lines[1].context, { k: 1, resource: { "service.name": "trainer" } });
    assert.equal(text.includes("pulse.run.id"), false, "the attribute is not copied into context");
    assert.match(text.split("\n")[0], /,"context":\{"resource":\{"service\.name":"trainer"\}\},"run":"exp-42","seq":1[,}]/);
    const partial = diagnostics.warnings.find((w) => w.includes("Partial Success"));
    assert.ok(partial, diagnostics.warnings.join("\n"));
    assert.match(partial, /1 of 3 log records rejected; first: resource_logs\[0\]\.scope_logs\[0\]\.log_records\[2\]\.attributes\.pulse\.run\.id: run must not contain/);
  });

  it("writes identical events emitted in the same millisecond as separate records", async () => {
    const at = new Date("2026-11-30T10:00:00.000Z");
    const records = await sdkRecords((logger) => {
      for (let i = 0; i < 3; i++) logger.emit({ eventName: "rule_activation", body: { rule_id: "R1", outcome: "fired" }, timestamp: at, observedTimestamp: at });
    });
    const exporter = insecureExporter(t.address);
    const result = await exportWith(exporter, records);
    await exporter.shutdown();
    assert.ok(result.ok, result.message);
    const lines = await readLog(t.logPath);
    assert.equal(lines.length, 3);
    assert.equal(new Set(lines.map((l) => l.event_id)).size, 3);
  });

  it("takes gzip-compressed exports (a Collector's otlp exporter compresses by default)", async () => {
    const records = await sdkRecords((logger) => logger.emit({ eventName: "meta_learning_summary", body: { epochs: 3, note: "x".repeat(2_000) } }));
    const exporter = new OTLPLogExporter({ url: `http://${t.address}`, credentials: grpc.credentials.createInsecure(), compression: "gzip" as ExporterConfig["compression"] });
    const result = await exportWith(exporter, records);
    await exporter.shutdown();
    assert.ok(result.ok, result.message);
    assert.deepEqual((await readLog(t.logPath)).map((r) => r.data.epochs), [3]);
  });

  it("is served on the same port with health checking and reflection (a generic tool can call Export)", async () => {
    const Health = grpc.makeGenericClientConstructor(healthDefinition, "Health");
    const client = new Health(t.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
    };
    try {
      const state = await new Promise<string>((resolve, reject) => client.check({ service: LogsService.typeName }, (err, res) => (err ? reject(err) : resolve(res!.status))));
      assert.equal(state, "SERVING");
    } finally {
      client.close();
    }
    // A client built only from the reflected descriptors writes an event.
    const reflected = (await reflectedServices(t.address))?.find((s) => s.typeName === LogsService.typeName);
    assert.ok(reflected, "LogsService listed by reflection");
    const dynamic = createClient(reflected as typeof LogsService, t.address);
    try {
      const body = { value: { case: "kvlistValue" as const, value: { values: [{ key: "reason", value: { value: { case: "stringValue" as const, value: "via reflection" } } }] } } };
      const answer = await dynamic.export({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ eventName: "symbolic_revision_triggered", body }] }] }] });
      assert.equal(answer.partialSuccess, undefined);
    } finally {
      dynamic.close();
    }
    assert.deepEqual((await readLog(t.logPath)).map((r) => r.data), [{ reason: "via reflection" }]);
  });
});

describe("OTLP logs in over mutual TLS with bearer tokens (the writer role)", function () {
  this.timeout(60_000);
  const TOKENS = { writer: "writer-token-0123456789abcdef", reader: "reader-token-0123456789abcdef" };
  let dir: TempDir;
  let server: PulseServer;
  let logPath: string;
  let tls: () => grpc.ChannelCredentials;

  before(async () => {
    dir = await tempDir();
    makeCertificates(dir.path);
    const tokensPath = join(dir.path, "tokens.json");
    await writeFile(tokensPath, JSON.stringify(Object.entries(TOKENS).map(([role, token]) => ({ name: `${role}-1`, role, token }))));
    await chmod(tokensPath, 0o600);
    logPath = join(dir.path, "log", "pulse_learning_log.jsonl");
    const config = resolveConfig(
      ["--addr", "127.0.0.1:0", "--log-path", logPath, "--tls-cert", join(dir.path, "server.pem"), "--tls-key", join(dir.path, "server.key"), "--tls-client-ca", join(dir.path, "ca.pem"), "--tokens-file", tokensPath],
      {},
    );
    server = await PulseServer.start(config, { logger: pino({ level: "silent" }) });
    const [ca, key, cert] = await Promise.all(["ca.pem", "client.key", "client.pem"].map((f) => readFile(join(dir.path, f))));
    tls = () => grpc.credentials.createSsl(ca, key, cert);
  });
  after(async () => {
    await server.shutdown();
    await dir.remove();
  });

  const exporterWith = (token?: string) => {
    const metadata = new grpc.Metadata();
    if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
    return new OTLPLogExporter({ url: `https://localhost:${server.port}`, credentials: tls(), metadata });
  };

  it("takes events from a writer token, refuses a reader token and no token, writing nothing for them", async () => {
    const records = await sdkRecords((logger) => logger.emit({ eventName: "variable_weight_update", body: { variable: "v", from: 0, to: 1 } }));
    const none = await exportWith(exporterWith(), records);
    assert.equal(none.code, grpc.status.UNAUTHENTICATED, none.message);
    const reader = await exportWith(exporterWith(TOKENS.reader), records);
    assert.equal(reader.code, grpc.status.PERMISSION_DENIED, reader.message);
    assert.deepEqual(await readLog(logPath), []);
    const writer = await exportWith(exporterWith(TOKENS.writer), records);
    assert.ok(writer.ok, writer.message);
    assert.deepEqual((await readLog(logPath)).map((r) => r.event_type), ["variable_weight_update"]);
  });
});
