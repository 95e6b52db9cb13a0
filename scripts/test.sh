#!/bin/sh
# `npm test`: sets up what the tests need (system packages, the built code the
# CLI tests run), type-checks, then runs both suites, the TypeScript one
# (mocha) and the Python client's, each even when the other failed. Exits 1
# when any step failed. Extra arguments go to mocha (e.g. a test file).
cd "$(dirname "$0")/.."

sh scripts/system-packages.sh || exit 1

failed=""
step() {
  name=$1
  shift
  "$@" || failed="$failed $name"
}

step typecheck npx tsc --noEmit -p .
# dist/ is what `pulse-log` and the child servers of the tests run.
step build npx tsc -b tsconfig.build.json
if [ $# -gt 0 ]; then
  step mocha npx mocha "$@"
else
  step mocha npx mocha 'test/**/*.test.ts'
fi
step python "${PYTHON:-/usr/bin/python3}" clients/python/run_tests.py

if [ -n "$failed" ]; then
  echo "npm test: failed:$failed" >&2
  exit 1
fi
