#!/bin/sh
# The set-up step of `npm test` and .ci/run: makes sure the system packages
# listed in scripts/system-packages.txt are installed. As root on Debian it
# installs the missing ones (one `apt-get update`, then one `apt-get install`);
# otherwise it stops at once, naming the one command to run.
# PULSE_SKIP_SYSTEM_PACKAGES=1 skips the step (a machine set up another way).
set -eu
cd "$(dirname "$0")/.."

[ "${PULSE_SKIP_SYSTEM_PACKAGES:-}" = 1 ] && exit 0

packages=$(sed -e 's/#.*//' scripts/system-packages.txt | tr -s ' \t' '\n\n' | grep -v '^$')

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "set-up: this machine has no apt (not Debian): install the equivalents of these Debian packages," >&2
  echo "  $(echo $packages)" >&2
  echo "then run the tests with PULSE_SKIP_SYSTEM_PACKAGES=1 npm test" >&2
  exit 1
fi

missing=""
for p in $packages; do
  # "install ok installed" only: a removed package leaves "deinstall ok config-files".
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "set-up: missing system packages:$missing" >&2
  echo "run this once, then npm test again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi

echo "set-up: installing the missing system packages:$missing"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq || ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
  echo "set-up: apt-get could not install:$missing (see the messages above)" >&2
  exit 1
fi
