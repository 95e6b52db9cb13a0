import type { EventParameter, EventSurface, ValueKind } from "./event-model.js";

/** Where the Python surfaces go, relative to the plugin's out directory (clients/). */
export const PYTHON_SURFACES_PATH = "python/pulse_learning_log/_surfaces.py";

const PY_TYPES: Record<ValueKind["kind"], string> = {
  string: "str",
  number: "float",
  integer: "int",
  bool: "bool",
  object: "Dict[str, Any]",
  json: "Any",
  numberMap: "Dict[str, float]",
};

function literal(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "True" : "False";
  return JSON.stringify(value); // a JSON string or number is a Python literal too
}

function parameter(p: EventParameter): string {
  const type = PY_TYPES[p.value.kind];
  if (p.presence === "required") return `${p.pyName}: ${type}`;
  if (p.pyDefault !== undefined) return `${p.pyName}: ${type} = ${literal(p.pyDefault)}`;
  return `${p.pyName}: ${type === "Any" ? type : `Optional[${type}]`} = None`;
}

/** `def name(params, *, event_id=None) -> returns:`, on one line when short, else one parameter a line. */
function def(prefix: string, name: string, params: string[], returns: string): string[] {
  const all = [...params, "*", "event_id: Optional[str] = None"];
  const one = `    ${prefix}def ${name}(${all.join(", ")}) -> ${returns}:`;
  if (one.length <= 150) return [one];
  return [`    ${prefix}def ${name}(`, ...all.map((p) => `        ${p},`), `    ) -> ${returns}:`];
}

function wrap(text: string, indent: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines.map((l) => indent + l);
}

function what(e: EventSurface): string {
  const record = e.eventType === null ? "a record of the given event_type" : `a \`\`${e.eventType}\`\` record`;
  return `${record} (${e.summary}), data ${e.data}`;
}

function docstring(e: EventSurface, lead: string, indent: string): string[] {
  const paragraphs = [lead, ...(e.note === undefined ? [] : [e.note])];
  const params = [
    ...e.parameters.map((p) => `:param ${p.pyName}: ${p.doc}`),
    ":param event_id: the event's UUID, the same across retries (default: a new one); the server writes an event_id once.",
  ];
  const out: string[] = [];
  for (const paragraph of paragraphs) out.push(...wrap(paragraph, indent), "");
  out[0] = `${indent}"""${out[0].slice(indent.length)}`;
  for (const p of params) {
    const [first, ...rest] = wrap(p, "");
    out.push(indent + first, ...rest.map((l) => `${indent}    ${l}`));
  }
  out.push(`${indent}"""`);
  return out;
}

function clientReturn(e: EventSurface): string {
  return e.withMetrics ? "Optional[TrustMetricsAck]" : "Optional[Ack]";
}

function argsTuple(e: EventSurface): string {
  const names = e.parameters.map((p) => p.pyName);
  return names.length === 1 ? `(${names[0]},)` : `(${names.join(", ")})`;
}

type Surface = "client" | "writer";

function method(e: EventSurface, surface: Surface, asynchronous: boolean): string[] {
  const params = ["self", ...e.parameters.map(parameter)];
  const aw = asynchronous ? "await " : "";
  if (surface === "client") {
    const ack = e.withMetrics ? ":class:`TrustMetricsAck` (the ack and the metrics logged)" : ":class:`Ack`";
    const lead = `Logs ${what(e)}. Returns its ${ack} once the record is durable; None when the client is quiet and the call failed.`;
    return [
      ...def(asynchronous ? "async " : "", e.pyMethod, params, clientReturn(e)),
      ...docstring(e, lead, "        "),
      `        return cast("${clientReturn(e)}", ${aw}self._ack("${e.pyMethod}", ${argsTuple(e)}, event_id))`,
    ];
  }
  const lead = `Buffers ${what(e)}. Returns its event_id at once; the record is durable when a flush returns.`;
  return [...def(asynchronous ? "async " : "", e.pyMethod, params, "str"), ...docstring(e, lead, "        "), `        return ${aw}self._add("${e.pyMethod}", ${argsTuple(e)}, event_id)`];
}

function moduleFunction(e: EventSurface): string[] {
  const ack = e.withMetrics ? "TrustMetricsAck (the ack and the metrics logged)" : "Ack";
  const lead = `Logs ${what(e)}, on the default client. Durable mode returns its ${ack} once the record is durable; background mode buffers it and returns None.`;
  const head = def("", e.pyMethod, e.parameters.map(parameter), clientReturn(e)).map((l) => l.replace(/^ {4}/, ""));
  return [...head, ...docstring(e, lead, "    "), `    return cast("${clientReturn(e)}", sys.modules[_PACKAGE]._default.send("${e.pyMethod}", ${argsTuple(e)}, event_id))`];
}

function mixin(name: string, doc: string, events: readonly EventSurface[], surface: Surface, asynchronous: boolean): string[] {
  const generic = surface === "client" ? "_ack" : "_add";
  const returns = surface === "client" ? "Union[Ack, TrustMetricsAck, None]" : "str";
  const out = [
    `class ${name}:`,
    `    """${doc}"""`,
    "",
    "    if TYPE_CHECKING:",
    "",
    `        ${asynchronous ? "async " : ""}def ${generic}(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> ${returns}: ...`,
  ];
  for (const e of events) out.push("", ...method(e, surface, asynchronous));
  return out;
}

/** The Python module of every surface's event methods (clients/python/pulse_learning_log/_surfaces.py). */
export function pythonSurfaces(events: readonly EventSurface[], source: string): string {
  const names = events.map((e) => e.pyMethod);
  const lines = [
    `# Code generated by protoc-gen-client-surfaces from ${source} and clients/event-surfaces.json. DO NOT EDIT.`,
    '"""The ``log_*`` methods of every surface, one per event of the proto, with',
    "explicit signatures and docstrings for IDEs, ``help()`` and type checkers.",
    "",
    "Each forwards its event's name and arguments to its surface's one generic",
    "method: ``_ack`` on the clients (a durable call), ``_add`` on the BatchWriters",
    "(a buffered event), the default logger's ``send`` for the module functions.",
    "The arguments are checked by the event's fill function",
    "(:data:`pulse_learning_log.events.CATALOG`). Regenerate with ``npm run generate``.",
    '"""',
    "",
    "from __future__ import annotations",
    "",
    "import sys",
    "from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Union, cast",
    "",
    "from .results import Ack, TrustMetricsAck",
    "",
    `__all__ = [${names.map((n) => `"${n}"`).join(", ")}]`,
    "",
    "#: Each event: its method name, its ``LearningEvent`` oneof case and the event_type",
    "#: the server writes (None when the caller names it).",
    "EVENTS: Tuple[Tuple[str, str, Optional[str]], ...] = (",
    ...events.map((e) => `    ("${e.pyMethod}", "${e.caseName}", ${e.eventType === null ? "None" : `"${e.eventType}"`}),`),
    ")",
    "",
    "",
    ...mixin("ClientEvents", "The ``log_*`` methods of :class:`~pulse_learning_log.LearningLogClient`.", events, "client", false),
    "",
    "",
    ...mixin("AsyncClientEvents", "The ``log_*`` coroutines of :class:`pulse_learning_log.aio.LearningLogClient`.", events, "client", true),
    "",
    "",
    ...mixin("WriterEvents", "The ``log_*`` methods of :class:`~pulse_learning_log.BatchWriter`.", events, "writer", false),
    "",
    "",
    ...mixin("AsyncWriterEvents", "The ``log_*`` coroutines of :class:`pulse_learning_log.aio.BatchWriter`.", events, "writer", true),
    "",
    "",
    "# The module functions send through the package's default logger (a",
    "# DefaultLogger), looked up at each call: the package owns it, and a replaced",
    "# one is used at once. Inline rather than through a helper: one function call",
    "# less per event.",
    '_PACKAGE = __name__.rpartition(".")[0]',
  ];
  for (const e of events) lines.push("", "", ...moduleFunction(e));
  return lines.join("\n") + "\n";
}
