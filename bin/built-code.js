// Whether the built JavaScript in dist/ can run the `pulse-log` command: it
// exists and no TypeScript source under src/ or gen/ts/ is newer than the last
// build. Plain JavaScript (no TypeScript, no dependency) so the launcher can ask
// before anything is compiled or loaded; the tests ask too.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository (or installed package) root: the folder holding bin/. */
export const packageRoot = fileURLToPath(new URL("../", import.meta.url));

/** The CLI's entry point in the built code. */
export const builtCliEntry = join(packageRoot, "dist", "src", "cli", "main.js");

// `tsc -b` writes this file at the end of every build that finds work (and
// refreshes its time when the sources changed without changing the output), so
// its time is when dist/ last matched the sources.
const BUILD_INFO = join(packageRoot, "dist", "tsconfig.build.tsbuildinfo");
const SOURCE_DIRS = [join(packageRoot, "src"), join(packageRoot, "gen", "ts")];

/**
 * Why dist/ must not run the command, or undefined when it may: "dist/ is
 * missing" or "src/x.ts changed after the last build". A source tree that is
 * not there (a package installed without its sources) never makes dist stale.
 */
export function builtCodeProblem() {
  let builtAt;
  try {
    statSync(builtCliEntry);
    builtAt = statSync(BUILD_INFO).mtimeMs;
  } catch {
    return "dist/ is missing (it is built by `npm run build`)";
  }
  for (const dir of SOURCE_DIRS) {
    const newer = newerSource(dir, builtAt);
    if (newer !== undefined) return `${newer.slice(packageRoot.length)} changed after the last build of dist/`;
  }
  return undefined;
}

/** The first .ts file under `dir` modified after `time`, or undefined. */
function newerSource(dir, time) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = newerSource(path, time);
      if (found !== undefined) return found;
    } else if (entry.name.endsWith(".ts") && statSync(path).mtimeMs > time) {
      return path;
    }
  }
  return undefined;
}
