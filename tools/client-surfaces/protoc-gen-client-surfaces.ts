// A protoc plugin (run by `buf generate --template tools/client-surfaces/buf.gen.yaml`,
// part of `npm run generate`) that writes the clients' per-event methods from the
// proto and the table of what the proto cannot say (clients/event-surfaces.json):
// the Python surfaces' mixins and module functions, and the TypeScript client's
// and BatchWriter's base classes. Option `table=<path>` reads another table.
import { fileURLToPath } from "node:url";
import { createEcmaScriptPlugin, runNodeJs } from "@bufbuild/protoplugin";
import { EVENTS_FILE, eventSurfaces, readTable } from "./event-model.js";
import { PYTHON_SURFACES_PATH, pythonSurfaces } from "./python-surfaces.js";
import { TS_SURFACES_PATH, tsSurfaces } from "./ts-surfaces.js";

const DEFAULT_TABLE = fileURLToPath(new URL("../../clients/event-surfaces.json", import.meta.url));

interface Options {
  table: string;
}

runNodeJs(
  createEcmaScriptPlugin<Options>({
    name: "protoc-gen-client-surfaces",
    version: "v1",
    parseOptions(raw) {
      const options: Options = { table: DEFAULT_TABLE };
      for (const { key, value } of raw) {
        if (key === "table") options.table = value;
        else throw new Error(`unknown option "${key}"`);
      }
      return options;
    },
    generateTs(schema) {
      const file = schema.files.find((f) => f.proto.name === EVENTS_FILE);
      if (file === undefined) return; // another input: nothing to generate
      const events = eventSurfaces(file, readTable(schema.options.table));
      schema.generateFile(PYTHON_SURFACES_PATH).print(pythonSurfaces(events, EVENTS_FILE).replace(/\n$/, ""));
      schema.generateFile(TS_SURFACES_PATH).print(tsSurfaces(events, EVENTS_FILE).replace(/\n$/, ""));
    },
  }),
);
