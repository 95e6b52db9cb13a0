#!/usr/bin/env node
// Launcher of the `pulse-log` command: TypeScript runs through tsx (no build
// step), from wherever the command is invoked.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
