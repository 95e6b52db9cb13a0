import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The product's version, from its package.json (found above this module,
 * whether it runs from src/ or from the build in dist/src/).
 */
export function productVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "pulse-learning-log" && pkg.version) return pkg.version;
    } catch {
      // Not here: look one folder up.
    }
    if (dirname(dir) === dir) return "unknown";
  }
}
