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
swift test --skip-build --parallel --num-workers 2 "$@"
