import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { v4 as uuidv4 } from "uuid";
import { formatTimestamp } from "../../src/clock.js";
import { LogReader } from "../../src/store/reader.js";
import { SummaryBuilder, type SummaryData } from "../../src/summary/aggregate.js";
import { summaryHtml } from "../../src/summary/html.js";
import { tempDir, type TempDir } from "../helpers/server.js";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
const T0 = Date.UTC(2026, 10, 24, 12, 0, 0) * 1000;

/** A log of three hours of learning: weight changes, trust metrics, rule effectiveness and other events. */
function learningLog(): string {
  let text = "";
  let seq = 0;
  const line = (minute: number, type: string, data: unknown) =>
    (text += `{"event_id":"${uuidv4()}","timestamp":"${formatTimestamp(T0 + minute * 60_000_000 + seq)}","event_type":"${type}","data":${JSON.stringify(data)},"seq":${++seq}}\n`);
  const weights = new Map<string, number>();
  for (let minute = 0; minute < 180; minute++) {
    for (let v = 0; v < 10; v++) {
      if ((minute + v) % (v + 1) !== 0) continue;
      const variable = `var_${v}`;
      const from = weights.get(variable) ?? 1;
      const to = from + Math.sin(minute / 10 + v) * (v + 1) * 0.05;
      weights.set(variable, to);
      line(minute, "variable_weight_update", { variable, from, to });
    }
    for (const [k, key] of ["rule_a", "rule_b", "var_x"].entries()) {
      if (minute % (k + 2) !== 0) continue;
      const n = minute / (k + 2) + 2;
      const trust = 0.5 + 0.4 * Math.sin(minute / 40 + k);
      const half = 1.96 * Math.sqrt((trust * (1 - trust)) / n);
      line(minute, "bayesian_trust_metrics", { key, kind: "rule", trust, confidence_interval: [Math.max(0, trust - half), Math.min(1, trust + half)], confidence_strength: 0.5, sample_size: n });
    }
    if (minute % 15 === 0) for (let r = 0; r < 5; r++) line(minute, "rule_effectiveness", { rule_id: `rule_${r}`, activation_count: minute + r, success_rate: (r + 1) / 6, impact_score: 1 - r / 10 + minute / 1000, timestamp: "x" });
    if (minute % 7 === 0) line(minute, "symbolic_revision_triggered", { reason: `drift ${minute}` });
  }
  return text;
}

async function summarize(logPath: string, sinceMicros?: number, untilMicros?: number): Promise<SummaryData> {
  const builder = new SummaryBuilder();
  for await (const batch of new LogReader(logPath).batches({ sinceMicros, untilMicros })) for (const r of batch) builder.add(r);
  return builder.build();
}

interface DrawnChart {
  id: string;
  type: string;
  series: Array<{ label: string; points: number }>;
  /** Canvas pixels that are not transparent. */
  inked: number;
}

describe("visual summary page (headless Chromium)", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let browser: Browser;
  let logPath: string;

  before(async function () {
    // CI installs Debian's chromium; without it this test must fail, never skip.
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (the visual summary test needs a headless browser)`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    dir = await tempDir();
    logPath = join(dir.path, "pulse_learning_log.jsonl");
    await writeFile(logPath, learningLog());
  });
  after(async () => {
    await browser?.close();
    await dir?.remove();
  });

  /** Opens the page with no network, waits for the charts, and reports what was drawn and any console error. */
  async function render(html: string, name: string): Promise<{ charts: DrawnChart[]; errors: string[]; instances: number }> {
    const file = join(dir.path, `${name}.html`);
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
    const result = await page.evaluate(() => {
      const w = window as unknown as { __summary: { charts: Array<{ id: string; type: string; series: Array<{ label: string; points: number }> }> }; Chart: { instances: Record<string, unknown> } };
      const charts = w.__summary.charts.map((c) => {
        const canvas = document.getElementById(c.id) as HTMLCanvasElement;
        const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) inked++;
        return { ...c, inked };
      });
      return { charts, instances: Object.keys(w.Chart.instances).length };
    });
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    await context.close();
    return { ...result, errors };
  }

  it("draws every chart with all its series, offline, without console errors", async () => {
    const data = await summarize(logPath);
    const { charts, errors, instances } = await render(summaryHtml(data, { source: logPath, generatedAt: new Date().toISOString() }), "summary");
    assert.deepEqual(errors, []);
    const byId = new Map(charts.map((c) => [c.id, c]));
    assert.deepEqual([...byId.keys()], ["chart-timeline", "chart-weights", "chart-trust-0", "chart-trust-1", "chart-trust-2", "chart-rules"]);
    assert.equal(instances, charts.length);
    for (const c of charts) {
      assert.ok(c.series.length > 0, `${c.id} has series`);
      for (const s of c.series) assert.ok(s.points > 0, `${c.id} series ${s.label} has points`);
      // A drawn chart inks a good part of its canvas (axes alone are a few thousand pixels).
      assert.ok(c.inked > 5000, `${c.id} drew only ${c.inked} pixels`);
    }
    // Each chart shows what the data holds.
    assert.deepEqual(byId.get("chart-timeline")!.series.map((s) => s.label).sort(), Object.keys(data.countsByType).sort());
    assert.ok(byId.get("chart-timeline")!.series.every((s) => s.points === data.timeline.starts.length));
    assert.deepEqual(
      byId.get("chart-weights")!.series.map((s) => [s.label, s.points]),
      data.variables.map((v) => [v.variable, v.points.length]),
    );
    assert.equal(data.variables.length, 8, "the 8 most changed of 10 variables");
    for (const [i, k] of data.trust.entries()) {
      // Lower bound, upper bound (the band) and the trust line, one point per measurement.
      assert.deepEqual(byId.get(`chart-trust-${i}`)!.series.map((s) => s.points), [k.points.length, k.points.length, k.points.length]);
    }
    assert.deepEqual(data.rules.map((r) => r.ruleId), ["rule_4", "rule_3", "rule_2", "rule_1", "rule_0"]);
    assert.ok(byId.get("chart-rules")!.series.every((s) => s.points === 5));
  });

  it("limits the page to a time range", async () => {
    const since = T0 + 60 * 60_000_000;
    const until = T0 + 90 * 60_000_000;
    const data = await summarize(logPath, since, until);
    const all = await summarize(logPath);
    assert.ok(data.records > 0 && data.records < all.records / 3);
    assert.ok(data.firstTime! >= formatTimestamp(since) && data.lastTime! < formatTimestamp(until));
    const { charts, errors } = await render(summaryHtml(data, { source: logPath, since: formatTimestamp(since), until: formatTimestamp(until), generatedAt: new Date().toISOString() }), "summary-range");
    assert.deepEqual(errors, []);
    assert.ok(charts.every((c) => c.inked > 5000 && c.series.every((s) => s.points > 0)));
  });

  it("says so instead of drawing an empty chart when a kind of record is absent", async () => {
    const only = join(dir.path, "only-revisions.jsonl");
    await writeFile(only, `{"event_id":"${uuidv4()}","timestamp":"${formatTimestamp(T0)}","event_type":"symbolic_revision_triggered","data":{"reason":"x"},"seq":1}\n`);
    const data = await summarize(only);
    const html = summaryHtml(data, { source: only, generatedAt: new Date().toISOString() });
    const { charts, errors } = await render(html, "summary-sparse");
    assert.deepEqual(errors, []);
    assert.deepEqual(charts.map((c) => c.id), ["chart-timeline"]);
    assert.match(html, /No variable_weight_update records in this range/);
    assert.match(html, /No bayesian_trust_metrics records in this range/);
    assert.match(html, /No rule_effectiveness records in this range/);
  });
});
