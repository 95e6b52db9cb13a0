import type { SummaryData } from "./aggregate.js";

const fmt = (x: number) => String(Number(x.toFixed(4)));

/** The summary as text for a terminal. */
export function summaryText(s: SummaryData): string {
  const lines: string[] = [];
  if (s.records === 0) return "no records in range\n";
  lines.push(`${s.records} records, seq ${s.firstSeq}..${s.lastSeq}, ${s.firstTime} .. ${s.lastTime}`);
  lines.push("", "Events by type:");
  const width = Math.max(...Object.keys(s.countsByType).map((t) => t.length));
  for (const [type, count] of Object.entries(s.countsByType)) lines.push(`  ${type.padEnd(width)}  ${String(count).padStart(9)}`);
  if (s.variables.length > 0) {
    lines.push("", "Most changed variables (total |change|, changes, first -> last weight):");
    for (const v of s.variables) lines.push(`  ${v.variable}  ${fmt(v.totalChange)}  ${v.changes}x  ${fmt(v.first)} -> ${fmt(v.last)}`);
  }
  if (s.trust.length > 0) {
    lines.push("", "Trust (latest, confidence interval, measurements):");
    for (const k of s.trust) {
      const p = k.points[k.points.length - 1];
      lines.push(`  ${k.key}${k.source === "trust_updated" ? " (tracker)" : ""}  ${fmt(p.trust)} [${fmt(p.lo)}, ${fmt(p.hi)}]  ${k.samples}x`);
    }
  }
  if (s.rules.length > 0) {
    lines.push("", "Rules by effectiveness (success_rate x impact_score; success rate, impact, activations):");
    s.rules.forEach((r, i) => lines.push(`  ${String(i + 1).padStart(2)}. ${r.ruleId}  ${fmt(r.effectiveness)}  (${fmt(r.successRate)}, ${fmt(r.impactScore)}, ${r.activationCount})`));
  }
  return lines.join("\n") + "\n";
}
