#!/usr/bin/env bash
# The whole test suite: installs what it needs (scripts/setup.sh), builds, and runs unit and
# integration tests. Integration tests start their own embedded brokers (Tansu) on free loopback
# ports, or use KAFKA_BOOTSTRAP=host:port when it is set. Safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# Brokers and jobs the tests started die with them; this catches what a crashed test run left behind.
cleanup() { pkill -KILL -f "$ROOT/.tools/tansu/bin/tansu broker" 2>/dev/null || true; }
trap cleanup EXIT
swift build --build-tests
swift test --skip-build --parallel --num-workers 2 "$@"
