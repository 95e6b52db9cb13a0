import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
import { tempDir, type TempDir } from "../../helpers/server.js";

// The client surfaces generator (tools/client-surfaces), run by buf as
// `npm run generate` runs it: the committed output is fresh, and a new event
// in the proto and the table gives a method on each of the six surfaces.

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const bin = join(repoRoot, "node_modules", ".bin");
const plugin = join(repoRoot, "tools", "client-surfaces", "protoc-gen-client-surfaces.ts");
const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";
const PY_OUT = join("python", "pulse_learning_log", "_surfaces.py");
const TS_OUT = join("ts", "src", "generated", "event-methods.ts");

/** Runs the plugin through buf on `protoDir`'s learning_log.proto with `table`, into `out`. */
async function generate(work: string, protoDir: string, table: string, out: string): Promise<void> {
  const template = join(work, "buf.gen.yaml");
  await writeFile(
    template,
    JSON.stringify({
      version: "v2",
      inputs: [{ directory: protoDir, paths: [join(protoDir, "pulse/learninglog/v1/learning_log.proto")] }],
      plugins: [{ local: ["node", "--import", "tsx", plugin], out, strategy: "all", opt: ["target=ts", `table=${table}`] }],
    }),
  );
  // From the repository root: `--import tsx` resolves there.
  await run(join(bin, "buf"), ["generate", "--template", template], { cwd: repoRoot, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
}

interface PyMethod {
  async: boolean;
  params: string[];
  kwonly: string[];
  returns: string;
  body: string;
  doc: string | null;
}

/** The log_* functions of a generated Python module, by class ("<module>" for module functions), read with Python's ast. */
async function pythonSurfaces(file: string): Promise<{ surfaces: Record<string, Record<string, PyMethod>>; all: string[]; events: unknown[] }> {
  const script = `
import ast, json, sys
tree = ast.parse(open(sys.argv[1]).read())
def method(f):
    return {"async": isinstance(f, ast.AsyncFunctionDef), "params": [a.arg for a in f.args.args], "kwonly": [a.arg for a in f.args.kwonlyargs],
            "returns": ast.unparse(f.returns), "body": ast.unparse(f.body[-1]), "doc": ast.get_docstring(f)}
out, all_, events = {}, [], []
for node in tree.body:
    if isinstance(node, ast.ClassDef):
        out[node.name] = {f.name: method(f) for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name.startswith("log_")}
    elif isinstance(node, ast.FunctionDef) and node.name.startswith("log_"):
        out.setdefault("<module>", {})[node.name] = method(node)
    elif isinstance(node, ast.Assign) and node.targets[0].id == "__all__":
        all_ = ast.literal_eval(node.value)
    elif isinstance(node, ast.AnnAssign) and node.target.id == "EVENTS":
        events = ast.literal_eval(node.value)
print(json.dumps({"surfaces": out, "all": all_, "events": events}))
`;
  const { stdout } = await run(PYTHON, ["-c", script, file]);
  return JSON.parse(stdout) as { surfaces: Record<string, Record<string, PyMethod>>; all: string[]; events: unknown[] };
}

interface TsMethod {
  params: string[];
  returns: string;
  doc: string;
}

/** The public methods of each class of a generated TypeScript module, read with the TypeScript compiler's parser. */
function tsSurfaces(source: string): Record<string, Record<string, TsMethod>> {
  const file = ts.createSourceFile("event-methods.ts", source, ts.ScriptTarget.ES2022, true);
  const out: Record<string, Record<string, TsMethod>> = {};
  for (const statement of file.statements) {
    if (!ts.isClassDeclaration(statement) || statement.name === undefined) continue;
    const methods: Record<string, TsMethod> = {};
    for (const member of statement.members) {
      if (!ts.isMethodDeclaration(member) || member.body === undefined) continue;
      const docs = ts.getJSDocCommentsAndTags(member).map((d) => d.getText());
      methods[member.name.getText()] = { params: member.parameters.map((p) => p.getText()), returns: member.type?.getText() ?? "", doc: docs.join("\n") };
    }
    out[statement.name.text] = methods;
  }
  return out;
}

const EXTRA_MESSAGES = `
// LogModelRetrainedRequest is a model retrained on new data.
message LogModelRetrainedRequest {
  // The model's name.
  string model = 1;
  // The validation score after retraining.
  double score = 2;
  // Why it was retrained; written as null when absent.
  optional string reason = 3;
  // Client-chosen UUID for idempotent retries; a new one when absent.
  optional string event_id = 4;
}

// LogModelRetrainedResponse acknowledges a LogModelRetrained.
message LogModelRetrainedResponse {
  // The durable record's identity.
  EventAck ack = 1;
}
`;

describe("client surfaces generator (protoc-gen-client-surfaces)", function () {
  // buf starts the plugin under tsx: seconds on a loaded machine.
  this.timeout(180_000);
  let dir: TempDir;

  before(async () => {
    dir = await tempDir("pulse-client-surfaces-");
  });
  after(async () => {
    await dir?.remove();
  });

  it("has its committed output fresh from the proto and clients/event-surfaces.json", async () => {
    const out = join(dir.path, "fresh");
    await generate(dir.path, join(repoRoot, "proto"), join(repoRoot, "clients", "event-surfaces.json"), out);
    for (const f of [PY_OUT, TS_OUT]) {
      assert.equal(await readFile(join(repoRoot, "clients", f), "utf8"), await readFile(join(out, f), "utf8"), `clients/${f} is stale: run npm run generate`);
    }
  });

  describe("with an event added to the proto and the table", () => {
    let py: Awaited<ReturnType<typeof pythonSurfaces>>;
    let tsClasses: Record<string, Record<string, TsMethod>>;

    before(async () => {
      const protoDir = join(dir.path, "proto");
      await cp(join(repoRoot, "proto"), protoDir, { recursive: true });
      const protoFile = join(protoDir, "pulse/learninglog/v1/learning_log.proto");
      let proto = await readFile(protoFile, "utf8");
      const rpc = "  rpc LogRuleEffectiveness(LogRuleEffectivenessRequest) returns (LogRuleEffectivenessResponse);\n";
      const lastCase = "    LogRuleEffectivenessRequest rule_effectiveness = 9;\n";
      assert.ok(proto.includes(rpc) && proto.includes(lastCase), "the proto still has the anchors this test edits at");
      proto = proto
        .replace(rpc, `${rpc}  // LogModelRetrained writes a "model_retrained" event.\n  rpc LogModelRetrained(LogModelRetrainedRequest) returns (LogModelRetrainedResponse);\n`)
        .replace(lastCase, `${lastCase}    // A model retrained.\n    LogModelRetrainedRequest model_retrained = 10;\n`);
      await writeFile(protoFile, proto + EXTRA_MESSAGES);
      const table = JSON.parse(await readFile(join(repoRoot, "clients", "event-surfaces.json"), "utf8")) as { events: Record<string, unknown> };
      table.events.model_retrained = { eventType: "model_retrained", data: "{model, score, reason}", python: { names: { model: "model_name" } } };
      const tablePath = join(dir.path, "table.json");
      await writeFile(tablePath, JSON.stringify(table));
      const out = join(dir.path, "extra");
      await generate(dir.path, protoDir, tablePath, out);
      py = await pythonSurfaces(join(out, PY_OUT));
      tsClasses = tsSurfaces(await readFile(join(out, TS_OUT), "utf8"));
    });

    it("gives the four Python classes and the module functions a method with the event's signature", () => {
      const surfaces = { ClientEvents: false, AsyncClientEvents: true, WriterEvents: false, AsyncWriterEvents: true, "<module>": false };
      for (const [surface, isAsync] of Object.entries(surfaces)) {
        const method = py.surfaces[surface]?.log_model_retrained;
        assert.ok(method !== undefined, `${surface} has log_model_retrained`);
        const self = surface === "<module>" ? [] : ["self"];
        assert.deepEqual(method.params, [...self, "model_name", "score", "reason"], surface);
        assert.deepEqual(method.kwonly, ["event_id"], surface);
        assert.equal(method.async, isAsync, surface);
        assert.equal(method.returns, surface.includes("Writer") ? "str" : "Optional[Ack]", surface);
        assert.match(method.body, /["']log_model_retrained["'], \(model_name, score, reason\), event_id\)/, surface);
        assert.match(method.doc ?? "", /``model_retrained``/, `${surface}'s docstring names the event type`);
        assert.match(method.doc ?? "", /:param model_name: The model's name\./, `${surface}'s docstring has the field's comment`);
        // The existing events are all still there.
        assert.deepEqual(Object.keys(py.surfaces[surface]).sort(), [...Object.keys(py.surfaces.ClientEvents)].sort(), surface);
      }
      assert.ok(py.all.includes("log_model_retrained"), "the module function is in __all__");
      assert.deepEqual(py.events.at(-1), ["log_model_retrained", "model_retrained", "model_retrained"]);
    });

    it("gives the TypeScript client and BatchWriter a method, the optional field in the options", () => {
      const client = tsClasses.ClientEventMethods?.logModelRetrained;
      const writer = tsClasses.WriterEventMethods?.logModelRetrained;
      assert.ok(client !== undefined && writer !== undefined, "both classes have logModelRetrained");
      assert.deepEqual(client.params, ["model: string", "score: number", "options: ModelRetrainedOptions = {}"]);
      assert.equal(client.returns, "Promise<Ack>");
      assert.deepEqual(writer.params, ["model: string", "score: number", "options: ModelRetrainedFields & EventOptions = {}"]);
      assert.equal(writer.returns, "Promise<string>");
      for (const m of [client, writer]) {
        assert.match(m.doc, /`model_retrained`/);
        assert.match(m.doc, /`reason`: Why it was retrained/);
      }
      assert.deepEqual(Object.keys(tsClasses.ClientEventMethods).sort(), Object.keys(tsClasses.WriterEventMethods).sort());
    });
  });

  it("refuses a proto event without a row in the table, naming it", async () => {
    const table = JSON.parse(await readFile(join(repoRoot, "clients", "event-surfaces.json"), "utf8")) as { events: Record<string, unknown> };
    delete table.events.arc_regret;
    const tablePath = join(dir.path, "short-table.json");
    await writeFile(tablePath, JSON.stringify(table));
    await assert.rejects(generate(dir.path, join(repoRoot, "proto"), tablePath, join(dir.path, "short")), (err: { stderr?: string }) => {
      assert.match(err.stderr ?? "", /case "arc_regret" has no row in the table/);
      return true;
    });
  });
});
