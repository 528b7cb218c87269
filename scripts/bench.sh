#!/usr/bin/env bash
# The benchmark, in one invocation: installs what it needs (scripts/setup.sh, and Quix Streams with pip),
# builds in release mode, then runs `sluice-bench`, which starts ONE embedded broker, pre-generates the
# click events (>= 1,000,000 by default) and runs every contender against it in a child process:
# (a) raw librdkafka pass-through, (b) Sluice pass-through at-least-once and exactly-once,
# (c) the click-count job exactly-once, (d) the same click count in Quix Streams exactly-once;
# then a 1,000,000-key heap-state checkpoint and restart-to-first-committed-output.
# Extra arguments go to `sluice-bench run` (e.g. --events 2000000, --quick, --skip-quix, --json FILE).
# SLUICE_BENCH_NO_PIP=1 skips installing Quix Streams (the bench then skips contender d if it is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
if [ "${SLUICE_BENCH_NO_PIP:-0}" != 1 ] && ! python3 -c "import quixstreams" 2>/dev/null; then
  echo "[bench] installing Quix Streams (PyPI quixstreams) for contender (d)" >&2
  python3 -m pip install --quiet --require-hashes -r "$ROOT/scripts/requirements/quixstreams.txt" \
    || echo "[bench] installing Quix Streams from scripts/requirements/quixstreams.txt failed: contender (d) is skipped" >&2
fi
swift build -c release --product click-count-job
swift build -c release --product sluice-bench
exec "$ROOT/.build/release/sluice-bench" run --bin-dir "$ROOT/.build/release" "$@"
