import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { parser } from "@prometheus-io/lezer-promql";
import { scrape } from "../helpers/metrics.js";
import { startServer, tempDir, type TempDir, type TestServer } from "../helpers/server.js";

const DASHBOARD = new URL("../../docs/grafana-dashboard.json", import.meta.url);

interface Target {
  refId: string;
  expr: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: string | { query: string } }> };
}

/**
 * Grafana's variables are not PromQL: ranges become a duration, other
 * variables a plain word (they stand inside label matcher strings).
 */
function withoutVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, "5m").replace(/\$\{?\w+\}?/g, "var");
}

/** The metric names a PromQL expression selects, read by Prometheus's own grammar; throws on a syntax error or a selector without a name. */
function metricNames(expr: string): string[] {
  const text = withoutVariables(expr);
  const names: string[] = [];
  parser.parse(text).iterate({
    enter: (node) => {
      if (node.type.isError) throw new Error(`PromQL syntax error at ${node.from} in: ${expr}`);
      if (node.name !== "VectorSelector") return;
      const id = node.node.getChild("Identifier");
      if (!id) throw new Error(`a selector without a metric name in: ${expr}`);
      names.push(text.slice(id.from, id.to));
    },
  });
  return names;
}

/** The metric families of a scrape, from its `# TYPE name type` lines. */
function families(scrapeText: string): Map<string, string> {
  return new Map([...scrapeText.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

/** The family a queried name belongs to: itself, or a histogram's (or summary's) _bucket, _sum or _count series. */
function familyOf(name: string, served: Map<string, string>): string | undefined {
  if (served.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return undefined;
  const type = served.get(m[1]);
  if (type === "histogram" || (type === "summary" && m[2] !== "bucket")) return m[1];
  return undefined;
}

describe("docs/grafana-dashboard.json", function () {
  this.timeout(60_000);
  let dashboard: Dashboard;
  let dir: TempDir;
  let ts: TestServer;
  before(async () => {
    dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as Dashboard;
    dir = await tempDir();
    ts = await startServer(dir.path, ["--metrics-addr", "127.0.0.1:0"]);
  });
  after(async () => {
    await ts?.stop();
    await dir?.remove();
  });

  const queries = () => [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr }))),
    ...dashboard.templating.list
      .filter((v) => v.type === "query")
      .map((v) => {
        const query = typeof v.query === "string" ? v.query : (v.query?.query ?? "");
        // label_values(<selector>, <label>): the selector is PromQL.
        const m = /^label_values\((.*),\s*\w+\)$/.exec(query);
        assert.ok(m, `variable ${v.name}: ${query}`);
        return { where: `variable ${v.name}`, expr: m[1] };
      }),
  ];

  it("is a dashboard Grafana imports: panels with unique ids, a data source variable, a unit on every graph", () => {
    assert.equal(dashboard.uid, "pulse-learning-log");
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    assert.ok(dashboard.templating.list.some((v) => v.name === "datasource" && v.type === "datasource"));
    const graphs = dashboard.panels.filter((p) => p.type !== "row");
    assert.ok(graphs.length >= 20);
    for (const p of graphs) {
      assert.equal(p.datasource?.uid, "${datasource}", `${p.title} uses the data source variable`);
      assert.ok(p.targets && p.targets.length > 0, `${p.title} queries something`);
      assert.ok(p.fieldConfig?.defaults?.unit, `${p.title} has a unit`);
    }
  });

  it("queries only metrics a running server serves, each as its type allows", async () => {
    // Some traffic first, though every family is served from the start.
    await ts.client.logRevisionTrigger({ reason: "traffic" });
    const served = families(await scrape(ts.server.metricsPort!));
    const missing: string[] = [];
    let names = 0;
    for (const { where, expr } of queries()) {
      for (const name of metricNames(expr)) {
        names++;
        if (familyOf(name, served) === undefined) missing.push(`${name} (${where})`);
      }
    }
    assert.ok(names >= 35, `${names} metric names read`);
    assert.deepEqual(missing, [], "every queried metric is served");
    // What would be caught: a misspelt name, and a counter queried as a histogram.
    assert.equal(familyOf("pulse_log_durable_write_seconds_bucket", served), "pulse_log_durable_write_seconds");
    assert.equal(familyOf("grpc_server_handled", served), undefined);
    assert.equal(familyOf("grpc_server_handled_total_bucket", served), undefined);
  });

  it("shows 0, not \"No data\", on a stat whose metric has no series until something happens", async () => {
    // A labelled counter (by errno, stage) has no series on a server that never failed.
    const scraped = await scrape(ts.server.metricsPort!);
    const hasSeries = (family: string) => scraped.split("\n").some((l) => l.startsWith(`${family}{`) || l.startsWith(`${family} `));
    const blank: string[] = [];
    for (const p of dashboard.panels.filter((p) => p.type === "stat")) {
      for (const t of p.targets ?? []) {
        const absent = metricNames(t.expr).filter((name) => !hasSeries(name));
        if (absent.length > 0 && !/\bor\s+vector\(0\)\s*$/.test(t.expr)) blank.push(`${p.title}: ${absent.join(", ")}`);
      }
    }
    assert.ok(!hasSeries("pulse_log_storage_failures_total"), "a fresh server has no storage failure series");
    assert.deepEqual(blank, []);
  });

  it("shows every gRPC and Pulse metric the server serves", async () => {
    const served = families(await scrape(ts.server.metricsPort!));
    const shown = new Set(queries().flatMap(({ expr }) => metricNames(expr).map((n) => familyOf(n, served))));
    const ours = [...served.keys()].filter((name) => /^(grpc_server_|pulse_)/.test(name));
    assert.ok(ours.length >= 15);
    assert.deepEqual(ours.filter((name) => !shown.has(name)), []);
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_eventloop_lag_seconds"]) assert.ok(shown.has(name), name);
  });

  it("reads metric names as PromQL does (the test's own parser)", () => {
    assert.deepEqual(metricNames('sum by (le) (rate(a_bucket{job=~"$job"}[$__rate_interval])) / on(job) group_left b offset 5m'), ["a_bucket", "b"]);
    assert.throws(() => metricNames("sum(rate(a[5m])"), /syntax error/);
    assert.throws(() => metricNames('{__name__="a"}'), /without a metric name/);
  });
});
