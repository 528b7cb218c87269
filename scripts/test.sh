#!/usr/bin/env bash
# The whole test suite: installs what it needs (scripts/setup.sh), builds, and runs unit and
# integration tests. Integration tests start their own embedded brokers (Tansu) on free loopback
# ports, or use KAFKA_BOOTSTRAP=host:port when it is set. Safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# Brokers and jobs the tests started die with them; this catches what a crashed test run left behind,
# and only that: each is recorded by pid in this run's own folder (never a kill by name, which would
# also end a second run or a user's own broker).
export SLUICE_TEST_PID_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sluice-test-pids.XXXXXX")"
cleanup() { bash "$ROOT/scripts/kill-tracked.sh" "$SLUICE_TEST_PID_DIR"; }
trap cleanup EXIT
swift build --build-tests
# The example packages are built as a user's clone would build them (each in its own folder with its own
# build folder, without our PKG_CONFIG_PATH), as ExamplePackagesTests does; building them here, before the
# parallel run, keeps their minutes of compiling from holding a test thread while time-limited tests wait.
for example in "$ROOT"/Examples/*/; do
  dir="${example%/}"
  if ! env -u PKG_CONFIG_PATH swift build --package-path "$dir" --scratch-path "$dir/.build"; then
    # SwiftPM can miss that a path dependency's files moved ("missing inputs"): start that build afresh.
    echo "[test] building $dir again from scratch" >&2
    rm -rf "$dir/.build"
    env -u PKG_CONFIG_PATH swift build --package-path "$dir" --scratch-path "$dir/.build"
  fi
done
swift test --skip-build --parallel --num-workers 2 "$@"
