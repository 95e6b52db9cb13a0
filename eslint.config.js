// Lint: typescript-eslint's recommended rules, and the type-aware rules about
// promises: a promise nobody awaits or handles can end the server with an
// unhandled rejection, so it fails the build.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["gen/**", "dist/**", "node_modules/**", "clients/python/**", "clients/ts/gen/**", "clients/ts/dist/**", "**/*.mjs", "**/*.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/return-await": ["error", "in-try-catch"],
      // Unused on purpose: `for await (const _ of stream)`, `[_, value]`.
      "@typescript-eslint/no-unused-vars": ["error", { varsIgnorePattern: "^_", argsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
      // Validation matches control characters on purpose (they are refused in names and paths).
      "no-control-regex": "off",
    },
  },
);
