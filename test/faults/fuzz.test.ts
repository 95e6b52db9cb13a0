import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { create, fromBinary, ScalarType, type DescMessage, type DescMethod, type DescService, type JsonObject } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { WireType } from "@bufbuild/protobuf/wire";
import { v4 as uuidv4 } from "uuid";
import { LearningLogService, ReadEventsRequestSchema } from "../../gen/ts/pulse/learninglog/v1/learning_log_pb.js";
import { ImportMode, TrustService } from "../../gen/ts/pulse/trust/v1/trust_pb.js";
import { createClient, type Client } from "../../src/rpc/client.js";
import { methodPath } from "../../src/rpc/grpc-adapter.js";
import { spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir, type TempDir } from "../helpers/server.js";
import { checkLog, type LoggedRecord } from "./log-file.js";
import { rawCall, type RawResult } from "./raw-call.js";
import { REFLECTION_PATH, reflectedServices } from "./reflected-services.js";
import { encode, payloadArb, type Emit } from "./wire-fuzz.js";

/** Seed of the random payloads; a failure prints it. PULSE_FUZZ_SEED replays a run, PULSE_FUZZ_RUNS runs longer. */
const SEED = Number(process.env.PULSE_FUZZ_SEED ?? 20261124);
const RUNS = Number(process.env.PULSE_FUZZ_RUNS ?? 60);
/** Calls of one fast-check run, sent at once. */
const CALLS_PER_RUN = 10;
const DEADLINE_MS = 5_000;
/** Deadline of calls that never end by design (ReadEvents with follow, HoldRun, Health.Watch). */
const ENDLESS_DEADLINE_MS = 400;
const MESSAGE_BYTES_MAX = 4 * 1024 * 1024;

/** A method to attack. */
interface Target {
  path: string;
  kind: DescMethod["methodKind"];
  /** The request type, when known. */
  input?: DescMessage;
  output?: DescMessage;
  /** The server decodes it with protobuf-es (our services): undecodable bytes must be INTERNAL, decodable ones never. */
  ours: boolean;
}

/** Statuses a decodable request may get: success, or a refusal that says why. */
const REFUSALS = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ALREADY_EXISTS,
  grpc.status.OUT_OF_RANGE,
  grpc.status.PERMISSION_DENIED,
]);

const decodes = (schema: DescMessage, bytes: Uint8Array): boolean => {
  try {
    fromBinary(schema, bytes);
    return true;
  } catch {
    return false;
  }
};

/** True for a call that streams until cancelled by design. */
function endless(t: Target, payloads: readonly Uint8Array[]): boolean {
  // Health.Watch, and HoldRun: a held run stays open until the client goes.
  if (t.path === "/grpc.health.v1.Health/Watch" || t.path === methodPath(LearningLogService.method.holdRun)) return true;
  if (t.input?.typeName === ReadEventsRequestSchema.typeName && payloads.length > 0) {
    try {
      return fromBinary(ReadEventsRequestSchema, payloads[0]).follow;
    } catch {
      return false;
    }
  }
  return false;
}

/** What is wrong with how a call ended, or undefined when the status is one it may get. */
function judge(t: Target, payloads: readonly Uint8Array[], r: RawResult): string | undefined {
  const status = `${grpc.status[r.code]} (${JSON.stringify(r.details)})`;
  if (r.code === grpc.status.DEADLINE_EXCEEDED) {
    // The reflection service's streams hang now and then on a late undecodable
    // message (a grpc-js defect): the dedicated test below pins that down
    // deterministically, so random runs do not fail on it at random.
    if (endless(t, payloads) || (!t.ours && t.kind === "bidi_streaming")) return undefined;
    return `hung until the deadline: ${status}`;
  }
  if (!t.ours || t.input === undefined) {
    // Decoded by another library (health, reflection): no oracle for the bytes, but never a crash-like status.
    return REFUSALS.has(r.code) || r.code === grpc.status.INTERNAL ? undefined : `unexpected ${status}`;
  }
  const firstBad = payloads.findIndex((p) => !decodes(t.input!, p));
  const allowed = firstBad === 0 ? new Set([grpc.status.INTERNAL]) : firstBad > 0 ? new Set([...REFUSALS, grpc.status.INTERNAL]) : REFUSALS;
  if (!allowed.has(r.code)) {
    return firstBad === 0 ? `undecodable request answered ${status}, not INTERNAL` : `decodable request answered ${status}`;
  }
  if (r.code === grpc.status.OK && t.output !== undefined) {
    const bad = r.responses.findIndex((b) => !decodes(t.output!, b));
    if (bad >= 0) return `response ${bad} does not decode as ${t.output.typeName}`;
  }
  return undefined;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function targetsOf(services: readonly DescService[]): Target[] {
  return services.flatMap((s) =>
    s.methods.map((m) => ({ path: methodPath(m), kind: m.methodKind, input: m.input, output: m.output, ours: s.typeName.startsWith("pulse.") })),
  );
}

// ---- hand-built encodings the typed client cannot produce ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/**
 * A google.protobuf.Struct `{"a": {"a": ... {}}}` nested `depth` deep, built
 * from the outside in without recursion (an encoder would overflow the stack).
 */
function deepStruct(depth: number): Buffer {
  // Per level: Struct { fields(1): entry { key(1) "a", value(2): Value { struct_value(5): <inner Struct> } } }
  const lengths = [0];
  for (let i = 1; i <= depth; i++) {
    const value = 1 + varint(lengths[i - 1]).length + lengths[i - 1];
    const entry = 3 + 1 + varint(value).length + value;
    lengths.push(1 + varint(entry).length + entry);
  }
  const out: number[] = [];
  for (let i = depth; i >= 1; i--) {
    const value = 1 + varint(lengths[i - 1]).length + lengths[i - 1];
    const entry = 3 + 1 + varint(value).length + value;
    out.push(0x0a, ...varint(entry), 0x0a, 0x01, 0x61, 0x12, ...varint(value), 0x2a, ...varint(lengths[i - 1]));
  }
  return Buffer.from(out);
}

/** A google.protobuf.Value `[[[...]]]` nested `depth` deep (list_value(6) { values(1): Value }). */
function deepValue(depth: number): Buffer {
  const lengths = [0];
  for (let i = 1; i <= depth; i++) {
    const list = 1 + varint(lengths[i - 1]).length + lengths[i - 1];
    lengths.push(1 + varint(list).length + list);
  }
  const out: number[] = [];
  for (let i = depth; i >= 1; i--) {
    const list = 1 + varint(lengths[i - 1]).length + lengths[i - 1];
    out.push(0x32, ...varint(list), 0x0a, ...varint(lengths[i - 1]));
  }
  return Buffer.from(out);
}

const field = (no: number, bytes: Uint8Array): Buffer => Buffer.concat([Buffer.from([(no << 3) | 2, ...varint(bytes.length)]), bytes]);
const text = (no: number, s: string) => field(no, Buffer.from(s, "utf8"));

const INVALID_UTF8 = Uint8Array.from([0x61, 0xff, 0xfe, 0x80]);

/**
 * Every place a string can sit in `message` (down to `depth` message
 * levels): the request with invalid UTF-8 there and nothing else set.
 */
function invalidUtf8Payloads(message: DescMessage, depth: number): Array<{ where: string; emit: Emit }> {
  const bad: Emit = (w) => w.bytes(INVALID_UTF8);
  const good: Emit = (w) => w.string("a");
  const nested = (no: number, inner: Emit): Emit => (w) => {
    w.tag(no, WireType.LengthDelimited).fork();
    inner(w);
    w.join();
  };
  const out: Array<{ where: string; emit: Emit }> = [];
  for (const f of message.fields) {
    const no = f.number;
    const str = (at: Emit, n = no): Emit => (w) => at(w.tag(n, WireType.LengthDelimited));
    if ((f.fieldKind === "scalar" || f.fieldKind === "list") && f.scalar === ScalarType.STRING) {
      out.push({ where: f.name, emit: str(bad) });
    } else if (f.fieldKind === "map") {
      const value: Emit = f.mapKind === "scalar" && f.scalar === ScalarType.STRING ? str(good, 2) : () => undefined;
      if (f.mapKey === ScalarType.STRING) out.push({ where: `${f.name}{key}`, emit: nested(no, (w) => (str(bad, 1)(w), value(w))) });
      if (f.mapKind === "scalar" && f.scalar === ScalarType.STRING) out.push({ where: `${f.name}{value}`, emit: nested(no, (w) => (str(good, 1)(w), str(bad, 2)(w))) });
      if (f.mapKind === "message" && depth > 1) {
        for (const inner of invalidUtf8Payloads(f.message, depth - 1)) {
          out.push({ where: `${f.name}{value}.${inner.where}`, emit: nested(no, (w) => (str(good, 1)(w), nested(2, inner.emit)(w))) });
        }
      }
    } else if ((f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message")) && depth > 1) {
      for (const inner of invalidUtf8Payloads(f.message, depth - 1)) out.push({ where: `${f.name}.${inner.where}`, emit: nested(no, inner.emit) });
    }
  }
  return out;
}

describe("hostile input against the real server process", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let server: ChildServer;
  let exited = false;
  let logPath: string;
  let raw: grpc.Client;
  let log: Client<typeof LearningLogService.method>;
  let trust: Client<typeof TrustService.method>;
  let targets: Target[];

  before(async () => {
    dir = await tempDir("pulse-fuzz-");
    logPath = join(dir.path, "pulse_learning_log.jsonl");
    server = await spawnServer({ logPath });
    void server.stopped.then(() => (exited = true));
    raw = new grpc.Client(server.address, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": -1 });
    log = createClient(LearningLogService, server.address);
    trust = createClient(TrustService, server.address);
    // Every service the server registers, as its reflection lists them, plus ours in any case.
    const reflected = (await reflectedServices(server.address)) ?? [];
    const services = new Map<string, DescService>(reflected.map((s) => [s.typeName, s]));
    for (const s of [LearningLogService, TrustService]) services.set(s.typeName, s);
    targets = targetsOf([...services.values()]);
    if (reflected.length > 0) {
      // The reflection services do not list themselves; their bytes are decoded by another library.
      targets.push({ path: REFLECTION_PATH, kind: "bidi_streaming", ours: false });
      targets.push({ path: REFLECTION_PATH.replace(".v1.", ".v1alpha."), kind: "bidi_streaming", ours: false });
    }
  });

  after(async () => {
    raw?.close();
    log?.close();
    trust?.close();
    try {
      if (server !== undefined) assert.equal(await server.stop(), 0, `the server shuts down cleanly after the barrage\n${server.output()}`);
    } finally {
      await dir?.remove();
    }
  });

  afterEach(async function () {
    // After every test: the server is still up and answers a normal call, and its log is valid JSONL.
    assert.ok(!exited, `the server exited during "${this.currentTest?.title}":\n${server.output()}`);
    const { ack } = await log.logRevisionTrigger({ reason: "still alive" }, { deadline: DEADLINE_MS });
    assert.ok(ack !== undefined && ack.seq > 0n);
    await checkLog(logPath);
  });

  it("answers undecodable and empty requests on every method of every registered service, without hanging", async () => {
    assert.ok(targets.length >= LearningLogService.methods.length + TrustService.methods.length);
    const problems: string[] = [];
    await Promise.all(
      targets.flatMap((t) =>
        [Uint8Array.of(0xff), new Uint8Array(0)].map(async (p) => {
          const payloads = [p];
          const r = await rawCall(raw, t.path, t.kind, payloads, endless(t, payloads) ? ENDLESS_DEADLINE_MS : DEADLINE_MS);
          if (r.code === grpc.status.UNIMPLEMENTED) problems.push(`${t.path}: UNIMPLEMENTED, yet the server lists it`);
          const why = judge(t, payloads, r);
          if (why) problems.push(`${t.path} [${hex(p)}]: ${why}`);
        }),
      ),
    );
    assert.deepEqual(problems, []);
  });

  it(`answers random and mutated requests on every method with an expected status (fast-check seed ${SEED}, ${RUNS} runs)`, async () => {
    const caseArb = fc.oneof(
      ...targets.map((t) =>
        fc.record({
          target: fc.constant(t),
          payloads: fc.array(payloadArb(t.input), t.kind === "client_streaming" || t.kind === "bidi_streaming" ? { minLength: 0, maxLength: 3 } : { minLength: 1, maxLength: 1 }),
        }),
      ),
    );
    const property = fc.asyncProperty(fc.array(caseArb, { minLength: CALLS_PER_RUN, maxLength: CALLS_PER_RUN }), async (cases) => {
      const problems: string[] = [];
      await Promise.all(
        cases.map(async ({ target, payloads }) => {
          const r = await rawCall(raw, target.path, target.kind, payloads, endless(target, payloads) ? ENDLESS_DEADLINE_MS : DEADLINE_MS);
          const why = judge(target, payloads, r);
          if (why) problems.push(`${target.path} [${payloads.map(hex).join(", ")}]: ${why}`);
        }),
      );
      if (exited) problems.push(`the server exited:\n${server.output()}`);
      if (problems.length > 0) throw new Error(problems.join("\n"));
    });
    try {
      await fc.assert(property, { seed: SEED, numRuns: RUNS, endOnFailure: true });
    } catch (err) {
      const cause = (err as Error).cause;
      throw new Error(`fuzzing failed; replay with PULSE_FUZZ_SEED=${SEED} (PULSE_FUZZ_RUNS=${RUNS}):\n${cause instanceof Error ? cause.message : ""}\n${(err as Error).message}`, { cause: err });
    }
  });

  it("refuses a message over the 4 MiB receive limit with RESOURCE_EXHAUSTED, on unary and streaming calls", async () => {
    const huge = Buffer.concat([text(1, "big"), field(2, field(1, Buffer.concat([text(1, "k"), field(2, text(3, "x".repeat(MESSAGE_BYTES_MAX)))])))]);
    assert.ok(huge.length > MESSAGE_BYTES_MAX);
    assert.ok(decodes(LearningLogService.method.logEvent.input, huge), "the oversized request is otherwise well-formed");
    const unary = await rawCall(raw, methodPath(LearningLogService.method.logEvent), "unary", [huge], DEADLINE_MS);
    assert.equal(unary.code, grpc.status.RESOURCE_EXHAUSTED, unary.details);
    // The same event inside a stream batch: LearningEvent.generic(1) in IngestEventsRequest.events(2).
    const batch = Buffer.concat([field(2, field(1, huge))]);
    const bidi = await rawCall(raw, methodPath(LearningLogService.method.ingestEvents), "bidi_streaming", [batch], DEADLINE_MS);
    assert.equal(bidi.code, grpc.status.RESOURCE_EXHAUSTED, bidi.details);
    const clientStream = await rawCall(raw, methodPath(LearningLogService.method.streamEvents), "client_streaming", [field(1, field(1, huge))], DEADLINE_MS);
    assert.equal(clientStream.code, grpc.status.RESOURCE_EXHAUSTED, clientStream.details);
    // Just under the limit the message is decoded, and the record limit (1 MiB) refuses it.
    const under = Buffer.concat([text(1, "big"), field(2, field(1, Buffer.concat([text(1, "k"), field(2, text(3, "x".repeat(MESSAGE_BYTES_MAX - 100)))])))]);
    const refused = await rawCall(raw, methodPath(LearningLogService.method.logEvent), "unary", [under], DEADLINE_MS);
    assert.equal(refused.code, grpc.status.INVALID_ARGUMENT, refused.details);
  });

  it("rejects a Struct or Value nested 10,000 deep with INVALID_ARGUMENT, not a crash", async () => {
    const before = (await checkLog(logPath)).records.length;
    const struct = deepStruct(10_000);
    const cases: Array<{ what: string; method: DescMethod; payload: Buffer }> = [
      { what: "LogEvent.data", method: LearningLogService.method.logEvent, payload: Buffer.concat([text(1, "deep"), field(2, struct)]) },
      { what: "LogEvent.context", method: LearningLogService.method.logEvent, payload: Buffer.concat([text(1, "deep"), field(3, struct)]) },
      { what: "LogLearningSummary.summary", method: LearningLogService.method.logLearningSummary, payload: field(1, struct) },
      { what: "LogSymbolicUpgrade.plan", method: LearningLogService.method.logSymbolicUpgrade, payload: field(1, struct) },
      { what: "LogRuleActivation.outcome", method: LearningLogService.method.logRuleActivation, payload: Buffer.concat([text(1, "r"), text(2, "v"), field(3, deepValue(10_000))]) },
    ];
    const problems: string[] = [];
    for (const c of cases) {
      const r = await rawCall(raw, methodPath(c.method), "unary", [c.payload], DEADLINE_MS);
      if (r.code !== grpc.status.INVALID_ARGUMENT) problems.push(`${c.what} nested 10,000 deep: ${grpc.status[r.code]} ${JSON.stringify(r.details)}`);
    }
    // In a stream batch the event is refused (alone or with its call).
    const batch = field(2, field(1, Buffer.concat([text(1, "deep"), field(2, struct)])));
    const r = await rawCall(raw, methodPath(LearningLogService.method.ingestEvents), "bidi_streaming", [batch], DEADLINE_MS);
    if (r.code === grpc.status.OK) {
      const answer = fromBinary(LearningLogService.method.ingestEvents.output, r.responses[0]);
      if (answer.count !== 0 || answer.errors.length !== 1 || answer.errors[0].code !== grpc.status.INVALID_ARGUMENT) problems.push(`IngestEvents answered ${JSON.stringify(answer.errors)}`);
    } else if (r.code !== grpc.status.INVALID_ARGUMENT) problems.push(`IngestEvents with the event nested 10,000 deep: ${grpc.status[r.code]} ${JSON.stringify(r.details)}`);
    assert.deepEqual(problems, [], "a Struct or Value nested too deep is INVALID_ARGUMENT");
    assert.equal((await checkLog(logPath)).records.length, before, "nothing was written");
  });

  it("rejects huge strings with INVALID_ARGUMENT and writes nothing", async () => {
    const before = (await checkLog(logPath)).records.length;
    const big = "y".repeat(3 * 1024 * 1024);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ["event_type of 1 MiB", () => log.logEvent({ eventType: "t".repeat(1024 * 1024), data: {} })],
      ["data string of 3 MiB", () => log.logEvent({ eventType: "huge", data: { big } })],
      ["data key of 3 MiB", () => log.logEvent({ eventType: "huge", data: { [big]: 1 } })],
      ["context string of 3 MiB", () => log.logEvent({ eventType: "huge", data: {}, context: { big } })],
      ["reason of 3 MiB", () => log.logRevisionTrigger({ reason: big })],
      ["variable of 3 MiB", () => log.logVariableWeightChange({ variable: big, oldWeight: 0, newWeight: 1 })],
      ["arc regret key of 3 MiB", () => log.logArcRegret({ scores: { [big]: 1 } })],
      ["event_id of 3 MiB", () => log.logRevisionTrigger({ reason: "r", eventId: big })],
    ];
    for (const [what, call] of calls) {
      await assert.rejects(call(), (err: grpc.ServiceError) => {
        assert.equal(grpc.status[err.code], "INVALID_ARGUMENT", `${what}: ${err.details}`);
        return true;
      });
    }
    const batch = await log.logBatch({ events: [{ event: { case: "revisionTrigger", value: { reason: big } } }] });
    assert.deepEqual([batch.acks.length, batch.errors.map((e) => e.code)], [0, [grpc.status.INVALID_ARGUMENT]]);
    assert.equal((await checkLog(logPath)).records.length, before, "nothing was written");
  });

  it("answers INTERNAL (undecodable, by gRPC's rules) for invalid UTF-8 in any string field of any request", async () => {
    const before = (await checkLog(logPath)).records.length;
    const problems: string[] = [];
    const cases = targets.filter((t) => t.ours && t.input).flatMap((t) => invalidUtf8Payloads(t.input!, 4).map((c) => ({ t, ...c })));
    assert.ok(cases.length > 50, `only ${cases.length} string fields found`);
    for (let i = 0; i < cases.length; i += 16) {
      await Promise.all(
        cases.slice(i, i + 16).map(async ({ t, where, emit }) => {
          const payload = encode(emit);
          assert.ok(!decodes(t.input!, payload), `${t.path} ${where}: the payload must be undecodable`);
          const r = await rawCall(raw, t.path, t.kind, [payload], DEADLINE_MS);
          if (r.code !== grpc.status.INTERNAL) problems.push(`${t.path} ${where}: ${grpc.status[r.code]} ${r.details}`);
        }),
      );
    }
    assert.deepEqual(problems, []);
    assert.equal((await checkLog(logPath)).records.length, before, "nothing was written");
  });

  it("refuses control characters in event types, and keeps them escaped on one line in values", async () => {
    const controls = ["\n", "\r", "\t", "\u0000", "\u001b", "\u001f", "\u007f", "\u0085", "\u2028", "\u2029"];
    const before = (await checkLog(logPath)).records.length;
    for (const c of controls) {
      const eventType = `bad${c}type`;
      await assert.rejects(log.logEvent({ eventType, data: {} }), (err: grpc.ServiceError) => {
        assert.equal(grpc.status[err.code], "INVALID_ARGUMENT", `event_type ${JSON.stringify(eventType)}: ${err.details}`);
        assert.match(err.details, /event_type/);
        return true;
      });
      const batch = await log.logBatch({ events: [{ event: { case: "generic", value: { eventType, data: {} } } }] });
      assert.deepEqual([batch.acks.length, batch.errors.map((e) => e.code)], [0, [grpc.status.INVALID_ARGUMENT]], JSON.stringify(eventType));
    }
    assert.equal((await checkLog(logPath)).records.length, before, "no event with a control character in its type was written");

    const nasty = controls.join("") + '"\\ {"seq":1}\n\u000b\u000c\u001c\u001d\u001e end';
    // A parsed "__proto__" is an own key, as in a client's JSON; it must be written as a key, not change a prototype.
    const data = JSON.parse(`{"__proto__":{"polluted":true},${JSON.stringify({ [`key${nasty}`]: nasty, list: [nasty, { nested: nasty }] }).slice(1)}`) as JsonObject;
    assert.ok(Object.prototype.hasOwnProperty.call(data, "__proto__"));
    const ids = { event: uuidv4(), revision: uuidv4(), weight: uuidv4() };
    await log.logEvent({ eventType: "control_values", data, context: { [nasty]: nasty }, eventId: ids.event });
    await log.logRevisionTrigger({ reason: nasty, eventId: ids.revision });
    await log.logVariableWeightChange({ variable: nasty, oldWeight: 0, newWeight: 1, eventId: ids.weight });
    const byId = new Map<string, LoggedRecord>((await checkLog(logPath)).records.map((r) => [r.event_id, r]));
    const event = byId.get(ids.event)!;
    assert.deepEqual(event.data, data, "data round-trips exactly");
    assert.ok(Object.prototype.hasOwnProperty.call(event.data, "__proto__"), "a __proto__ key is kept as a key");
    assert.deepEqual(event.context, { [nasty]: nasty });
    assert.deepEqual(byId.get(ids.revision)!.data, { reason: nasty });
    assert.deepEqual((byId.get(ids.weight)!.data as { variable: string }).variable, nasty);
  });

  it("refuses NaN and Infinity wherever a number goes, naming the field, and writes nothing", async () => {
    const before = (await checkLog(logPath)).records.length;
    const nan = create(ValueSchema, { kind: { case: "numberValue", value: Number.NaN } });
    const calls: Array<[field: string, call: () => Promise<unknown>]> = [
      ["old_weight", () => log.logVariableWeightChange({ variable: "v", oldWeight: Number.NaN, newWeight: 1 })],
      ["new_weight", () => log.logVariableWeightChange({ variable: "v", oldWeight: 1, newWeight: Number.POSITIVE_INFINITY })],
      ["scores", () => log.logArcRegret({ scores: { a: 1, b: Number.NEGATIVE_INFINITY } })],
      ["success_rate", () => log.logRuleEffectiveness({ ruleId: "r", activationCount: 1n, successRate: Number.NaN, impactScore: 0 })],
      ["impact_score", () => log.logRuleEffectiveness({ ruleId: "r", activationCount: 1n, successRate: 0.5, impactScore: Number.POSITIVE_INFINITY })],
      ["data", () => log.logEvent({ eventType: "nan", data: { x: Number.NaN } })],
      ["context", () => log.logEvent({ eventType: "nan", data: {}, context: { c: Number.NEGATIVE_INFINITY } })],
      ["summary", () => log.logLearningSummary({ summary: { deep: { list: [1, Number.POSITIVE_INFINITY] } } })],
      ["plan", () => log.logSymbolicUpgrade({ plan: { w: Number.NaN } })],
      ["outcome", () => log.logRuleActivation({ ruleId: "r", variableId: "v", outcome: nan })],
      ["high_threshold", () => log.generateTrustReport({ highThreshold: Number.NaN })],
      ["low_threshold", () => log.generateTrustReport({ lowThreshold: Number.POSITIVE_INFINITY })],
      ["weight", () => trust.update({ outcome: { key: "k", success: true, weight: Number.NaN } })],
      ["weight", () => trust.batchUpdate({ outcomes: [{ key: "k", success: true, weight: Number.POSITIVE_INFINITY }] })],
      ["factor", () => trust.applyDecay({ factor: Number.NaN })],
      ["min_count", () => trust.applyDecay({ factor: 0.5, minCount: Number.POSITIVE_INFINITY })],
      ["z", () => trust.getMetrics({ keys: ["k"], z: Number.POSITIVE_INFINITY })],
      ["high_threshold", () => trust.generateReport({ highThreshold: Number.NaN })],
      ["alpha", () => trust.importTrust([{ mode: ImportMode.MERGE, records: [{ key: "k", alpha: Number.NaN, beta: 1 }] }])],
      ["time", () => trust.importTrust([{ mode: ImportMode.MERGE, records: [{ key: "k", alpha: 2, beta: 1, history: [{ time: Number.POSITIVE_INFINITY, trust: 0.5 }] }] }])],
    ];
    const problems: string[] = [];
    for (const [name, call] of calls) {
      try {
        await call();
        problems.push(`${name}: accepted`);
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code !== grpc.status.INVALID_ARGUMENT || !e.details.includes(name)) problems.push(`${name}: ${grpc.status[e.code]} ${JSON.stringify(e.details)}`);
      }
    }
    assert.deepEqual(problems, [], "each must be INVALID_ARGUMENT naming the field");
    const batch = await log.logBatch({
      events: [
        { event: { case: "variableWeightChange", value: { variable: "ok", oldWeight: 0, newWeight: 1 } } },
        { event: { case: "variableWeightChange", value: { variable: "nan", oldWeight: Number.NaN, newWeight: 1 } } },
      ],
    });
    assert.equal(batch.acks.length, 1);
    assert.deepEqual(
      batch.errors.map((e) => [e.index, e.code]),
      [[1, grpc.status.INVALID_ARGUMENT]],
    );
    assert.match(batch.errors[0].message, /old_weight/);
    assert.equal((await checkLog(logPath)).records.length, before + 1, "only the finite event was written");
  });
  /** Sends [decodable, decodable, undecodable] 20 times; returns how the calls ended, when not all INTERNAL. */
  async function lateUndecodable(path: string, kind: DescMethod["methodKind"], first: string): Promise<string | undefined> {
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const r = await rawCall(raw, path, kind, [first, "", "ff"].map((h) => Buffer.from(h, "hex")), 1_000);
      outcomes.set(grpc.status[r.code], (outcomes.get(grpc.status[r.code]) ?? 0) + 1);
    }
    return outcomes.size === 1 && outcomes.has("INTERNAL") ? undefined : `${path}: ${JSON.stringify(Object.fromEntries(outcomes))} of 20 calls`;
  }

  it("ends our streams whose third message does not decode with INTERNAL, every time (no hang after answers were written)", async () => {
    // Two decodable messages get answers; the third does not decode. An
    // answer written after grpc-js has sent its INTERNAL status swallows
    // that status: the call stays open until its deadline (or for ever).
    const problems = [
      await lateUndecodable(methodPath(LearningLogService.method.ingestEvents), "bidi_streaming", "0801"),
      await lateUndecodable(methodPath(LearningLogService.method.streamEvents), "client_streaming", ""),
      await lateUndecodable(methodPath(TrustService.method.importTrust), "client_streaming", ""),
    ].filter((p) => p !== undefined);
    assert.deepEqual(problems, []);
  });

  it("ends a reflection stream whose third message does not decode with INTERNAL, every time", async function () {
    if (!targets.some((t) => t.path === REFLECTION_PATH)) {
      console.log("      SKIPPED: the server has no reflection service");
      this.skip();
    }
    // Same defect as above, in a handler we do not own (@grpc/reflection on grpc-js).
    assert.equal(await lateUndecodable(REFLECTION_PATH, "bidi_streaming", "3a00"), undefined);
  });

  it("answers huge strings of e-mail-, card- and regex-hostile text in bounded time while other calls keep flowing", async function () {
    // The PII guard scans strings before the record size limit applies; a
    // scan that is quadratic in the string's length blocks the event loop,
    // and with it every client and the shutdown. Runs last: a failure leaves
    // the server busy.
    this.timeout(900_000);
    const luhn = (digits: string) => [...digits].reverse().reduce((sum, c, i) => sum + (i % 2 ? [0, 2, 4, 6, 8, 1, 3, 5, 7, 9][Number(c)] : Number(c)), 0) % 10 === 0;
    const cards: string[] = [];
    for (let n = 4_000_000_000_000_000; cards.length * 17 < 900_000; n++) if (luhn(String(n))) cards.push(String(n));
    const sizes = { underRecordLimit: 900_000, overRecordLimit: 3_900_000 };
    const patterns = { emails: "a@b.c", letters: "x", digits: "1", spacedDigits: "1 ", atSigns: "a@", dots: "x@y." };
    const texts: Array<[string, string]> = [];
    for (const [name, unit] of Object.entries(patterns)) {
      for (const [size, n] of Object.entries(sizes)) texts.push([`${name} (${size})`, unit.repeat(Math.floor(n / unit.length))]);
    }
    texts.push(["distinct card numbers", cards.join(" ")]);
    // No timing bound (a busy machine makes any bound flaky): a backtracking scan
    // of these strings takes hours, so the deadlines below only catch a stuck
    // server, and small calls keep being answered meanwhile.
    const heartbeatFailures: string[] = [];
    let heartbeats = 0;
    let beating = true;
    const heartbeat = (async () => {
      while (beating) {
        await log.logRevisionTrigger({ reason: "heartbeat" }, { deadline: 30_000 }).then(
          () => heartbeats++,
          (err: grpc.ServiceError) => heartbeatFailures.push(grpc.status[err.code]),
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const stuck: string[] = [];
    try {
      for (const [name, value] of texts) {
        const outcome = await log.logEvent({ eventType: "pii_probe", data: { value } }, { deadline: 60_000 }).then(
          () => "OK",
          (err: grpc.ServiceError) => grpc.status[err.code],
        );
        if (!["OK", "INVALID_ARGUMENT"].includes(outcome)) stuck.push(`${name}: ${outcome}`);
        if (outcome === "DEADLINE_EXCEEDED") break; // the server is stuck; the rest would only wait too
      }
    } finally {
      beating = false;
      await heartbeat;
    }
    assert.deepEqual(stuck, [], "each huge string is answered (accepted or rejected), none left without an answer");
    assert.deepEqual(heartbeatFailures, [], "small calls are answered meanwhile");
    assert.ok(heartbeats > 0, "at least one small call went through meanwhile");
  });
});
