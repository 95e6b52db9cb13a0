/**
 * How the stand-alone measurement scripts (request-path-bench.ts,
 * metrics-overhead.ts, otlp-cpu.ts) print repeated figures: min / median /
 * max of the repeats, and same-run ratios of medians, in aligned columns.
 */
import { spread } from "./scenarios.js";

/** "min / median / max" of the finite values, each to `digits` decimals; "n/a" when there is none. */
export function minMedianMax(values: readonly number[], digits = 2): string {
  const s = spread(values);
  if (!Number.isFinite(s.median)) return "n/a";
  return `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}`;
}

/** The ratio of the medians of `values` and `baseline`, as "1.23x"; "n/a" when either has no figure or the baseline is 0. */
export function ratioOfMedians(values: readonly number[], baseline: readonly number[], digits = 2): string {
  const a = spread(values).median;
  const b = spread(baseline).median;
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "n/a";
  return `${(a / b).toFixed(digits)}x`;
}

/** Rows of cells as a plain-text table: the first column left-aligned, the others right-aligned, two spaces apart. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ").trimEnd()).join("\n");
}
