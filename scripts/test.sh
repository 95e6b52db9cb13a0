#!/bin/sh
# `npm test`: sets up what the tests need (system packages, the built code the
# CLI tests run), type-checks, then runs both suites, the TypeScript one
# (mocha) and the Python client's, each even when the other failed. Exits 1
# when any step failed. Extra arguments go to mocha (e.g. a test file).
#
# The steps are independent enough to share the machine: the type-check runs
# beside the build, and the Python suite beside mocha (whose files run in two
# worker processes); each step's output is printed whole, in the order above.
# Most of the suites' time is child processes starting (servers, pulse-log,
# npm): side by side they use both cores of a small machine, and their share
# of a busy one. MOCHA_JOBS sets mocha's workers (1 runs the files in one
# process, in order).
cd "$(dirname "$0")/.."

sh scripts/system-packages.sh || exit 1

failed=""
step() {
  name=$1
  shift
  "$@" || failed="$failed $name"
}
outputs=$(mktemp -d)
trap 'rm -rf "$outputs"' EXIT

npx tsc --noEmit -p . >"$outputs/typecheck" 2>&1 &
typecheck=$!
# dist/ is what `pulse-log` and the child servers of the tests run.
step build npx tsc -b tsconfig.build.json
wait $typecheck || failed="$failed typecheck"
cat "$outputs/typecheck"

"${PYTHON:-/usr/bin/python3}" clients/python/run_tests.py >"$outputs/python" 2>&1 &
python=$!
jobs=${MOCHA_JOBS:-2}
parallel=""
[ "$jobs" -gt 1 ] && parallel="--parallel --jobs $jobs"
if [ $# -gt 0 ]; then
  step mocha npx mocha $parallel "$@"
else
  step mocha npx mocha $parallel 'test/**/*.test.ts'
fi
wait $python || failed="$failed python"
cat "$outputs/python"

if [ -n "$failed" ]; then
  echo "npm test: failed:$failed" >&2
  exit 1
fi
