#!/usr/bin/env bash
# The click-count demo, end to end: installs what it needs (scripts/setup.sh), builds, starts the
# embedded broker (unless KAFKA_BOOTSTRAP is set), runs the generator and the exactly-once job, kills
# the job with SIGKILL once and restarts it, and checks the committed output. Safe to run again.
# Extra arguments go to `sluice demo` (see `--help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
swift build -c release --product sluice
swift build -c release --product click-generator
swift build -c release --product click-count-job
exec "$ROOT/.build/release/sluice" demo --bin-dir "$ROOT/.build/release" "$@"
