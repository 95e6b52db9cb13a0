import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { RunRow } from "./aggregate.js";
import { PAGE_SCRIPT } from "./page-script.js";
import { runParams, runStatus } from "./text.js";

let chartJs: string | undefined;

/** Chart.js's minified UMD build, read once from the installed package (its dist folder is not an export, so it is found beside the main entry). */
function chartLibrary(): string {
  if (chartJs === undefined) {
    const main = createRequire(import.meta.url).resolve("chart.js");
    chartJs = readFileSync(join(dirname(main), "chart.umd.min.js"), "utf8");
  }
  return chartJs;
}

/** Text made safe for HTML content and attribute values. */
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JSON safe inside a <script> element: no "</script" or "<!--" can appear. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

/** What the page says about where its data came from. */
export interface PageInfo {
  /** E.g. the log path. */
  source: string;
  /** The time range asked for, if any. */
  since?: string;
  until?: string;
  /** The run asked for (`--run`), if one was. */
  run?: string;
  /** When the page was made (ISO). */
  generatedAt: string;
}

/** A section with its heading, or the line saying which records it would need. */
export function section(title: string, body: string, empty: boolean, what: string, id?: string): string {
  return `<section${id === undefined ? "" : ` id="${id}"`}><h2>${escapeHtml(title)}</h2>${empty ? `<p class="empty">No ${escapeHtml(what)} records in this range.</p>` : body}</section>`;
}

/** "6 of 15 keys shown, the most updated", or "3 of 3 keys shown" when none is left out. */
export function shownOf(shown: number, total: number, noun: string, nouns: string, criterion: string): string {
  return `${shown} of ${total} ${total === 1 ? noun : nouns} shown${shown < total ? `, ${criterion}` : ""}`;
}

/** A definition list of label/value rows (values escaped). */
export function definitions(id: string, rows: Array<[string, string]>): string {
  return `<dl class="meta" id="${id}">${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>`;
}

/** A run's lifecycle rows: status, params, start and finish. */
export function runRows(r: RunRow): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ["Run", r.run],
    ["Status", runStatus(r)],
    ["Params", runParams(r)],
  ];
  if (r.started) rows.push(["Started", `${r.started.timestamp} (seq ${r.started.seq})`]);
  if (r.finished) rows.push(["Finished", `${r.finished.timestamp} (seq ${r.finished.seq})`]);
  return rows;
}

/** The key to the marks drawn on the timeline charts. */
export function marksKey(compare: boolean): string {
  const runs = compare ? " Solid for the first run, dashed for the second." : "";
  return `<p class="note marks-key">Vertical lines: <span style="color:#d62728">red</span> a revision triggered (symbolic_revision_triggered), <span style="color:#2ca02c">green</span> a symbolic upgrade applied (symbolic_upgrade_applied).${runs}</p>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}h3{font-size:14px;margin:12px 0 4px}
.meta{color:#444;display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}.meta dt{font-weight:600}.meta dd{margin:0;overflow-wrap:anywhere}
section{margin-bottom:16px}canvas{max-width:100%;border:1px solid #eee;margin:4px}
table{border-collapse:collapse}td,th{padding:2px 12px 2px 0;text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#888;font-style:italic}.grid{display:flex;flex-wrap:wrap}.shown,.note{color:#555;margin:4px 0}
fieldset{display:inline-block;border:1px solid #ddd;padding:4px 10px}fieldset label{margin-right:12px}
.runs{display:flex;flex-wrap:wrap;gap:0 48px}#differences li{margin:2px 0}`;

/** The whole page: head, body, the data as JSON, Chart.js and the page's script, nothing fetched. */
export function page(title: string, body: string, view: "summary" | "compare", data: unknown): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
${STYLE}
</style></head><body>
${body}
<script id="summary-data" type="application/json" data-view="${view}">${scriptJson(data)}</script>
<script>${chartLibrary().replace(/<\/script/gi, "<\\/script")}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
