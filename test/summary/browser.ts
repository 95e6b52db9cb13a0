import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts", import.meta.url));

/** Headless Debian chromium. CI installs it; without it the page tests must fail, never skip. */
export async function launchBrowser(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (the visual summary test needs a headless browser)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A chart as the page's script reports it, with the canvas pixels it inked. */
export interface DrawnChart {
  id: string;
  type: string;
  title: string;
  series: Array<{ label: string; points: number; color: string; values?: Array<number | null> }>;
  /** Category labels (bar charts). */
  labels: string[];
  /** Axis id -> its title and the tick labels drawn. */
  axes: Record<string, { title: string; ticks: string[] }>;
  /** Revision and upgrade marks drawn inside the chart area, or null for a chart without marks. */
  marks: { revision: number; upgrade: number } | null;
  /** Canvas pixels that are not transparent. */
  inked: number;
}

/** What a page drew and showed. */
export interface RenderedPage {
  view: string;
  mode: string;
  charts: DrawnChart[];
  /** Console errors, page errors and any fetch beyond the file itself. */
  errors: string[];
  instances: number;
  /** textContent of the elements asked for by id ("" when absent). */
  texts: Record<string, string>;
  /** Cell texts of the tables asked for by id, row by row (header rows included). */
  tables: Record<string, string[][]>;
  /** The differences list's items. */
  differences: Array<{ kind: string; only: string; text: string }>;
}

/**
 * Opens the page with no network, waits for the charts, optionally switches
 * the x axis, and reports what was drawn, the texts and tables asked for, and
 * any console error. A full-page screenshot lands in test-artifacts/.
 */
export async function renderPage(browser: Browser, dir: string, html: string, name: string, options: { xMode?: string; texts?: string[]; tables?: string[] } = {}): Promise<RenderedPage> {
  const file = join(dir, `${name}.html`);
  await writeFile(file, html);
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, offline: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("request", (r) => {
    if (!r.url().startsWith("file:")) errors.push(`fetched ${r.url()}`);
  });
  await page.goto(pathToFileURL(file).href);
  await page.waitForFunction(() => (window as unknown as { __summary?: { ready: boolean } }).__summary?.ready === true);
  if (options.xMode !== undefined) {
    await page.check(`input[name=xmode][value=${options.xMode}]`);
    await page.waitForFunction((m) => (window as unknown as { __summary: { mode: string } }).__summary.mode === m, options.xMode);
  }
  const result = await page.evaluate(
    ({ texts, tables }) => {
      // (No named helpers here: the test runner's transform would wrap them in a function the page lacks.)
      const w = window as unknown as { __summary: { view: string; mode: string; charts: Array<Omit<DrawnChart, "inked">> }; Chart: { instances: Record<string, unknown> } };
      const charts = w.__summary.charts.map((c) => {
        const canvas = document.getElementById(c.id) as HTMLCanvasElement;
        const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) inked++;
        return { ...c, inked };
      });
      return {
        view: w.__summary.view,
        mode: w.__summary.mode,
        charts,
        instances: Object.keys(w.Chart.instances).length,
        texts: Object.fromEntries(texts.map((id) => [id, document.getElementById(id)?.textContent ?? ""])),
        tables: Object.fromEntries(tables.map((id) => [id, [...document.querySelectorAll(`#${id} tr`)].map((tr) => [...tr.children].map((td) => td.textContent ?? ""))])),
        differences: [...document.querySelectorAll("#differences li")].map((li) => ({ kind: li.getAttribute("data-kind") ?? "", only: li.getAttribute("data-only") ?? "", text: li.textContent ?? "" })),
      };
    },
    { texts: options.texts ?? [], tables: options.tables ?? [] },
  );
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  await context.close();
  return { ...result, errors };
}

/** Every axis has a title, and no two ticks drawn next to each other on an axis read the same. */
export function assertReadableAxes(charts: DrawnChart[]): void {
  for (const c of charts) {
    for (const [id, axis] of Object.entries(c.axes)) {
      assert.ok(axis.title.length > 0, `${c.id} axis ${id} has a title`);
      const shown = axis.ticks.filter((t) => t !== "");
      assert.ok(shown.length >= 2, `${c.id} axis ${id} has tick labels: ${JSON.stringify(axis.ticks)}`);
      assert.equal(new Set(shown).size, shown.length, `${c.id} axis ${id} repeats a tick label: ${JSON.stringify(axis.ticks)}`);
    }
  }
}
