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
# Quix Streams goes into a venv of its own: Debian's python3 refuses system-wide pip installs (PEP 668).
QUIX_VENV="$ROOT/.tools/quix-venv"
QUIX_REQUIREMENTS="$ROOT/scripts/requirements/quixstreams.txt"
if [ "${SLUICE_BENCH_NO_PIP:-0}" != 1 ] && ! cmp -s "$QUIX_REQUIREMENTS" "$QUIX_VENV/.requirements"; then
  echo "[bench] installing Quix Streams (PyPI quixstreams, pinned by hash) into $QUIX_VENV for contender (d)" >&2
  rm -rf "$QUIX_VENV"
  if python3 -m venv "$QUIX_VENV" && "$QUIX_VENV/bin/pip" install --quiet --require-hashes -r "$QUIX_REQUIREMENTS"; then
    cp "$QUIX_REQUIREMENTS" "$QUIX_VENV/.requirements"
  else
    echo "[bench] installing Quix Streams from scripts/requirements/quixstreams.txt failed: contender (d) is skipped" >&2
  fi
fi
PYTHON=python3
[ -x "$QUIX_VENV/bin/python" ] && PYTHON="$QUIX_VENV/bin/python"
swift build -c release --product click-count-job
swift build -c release --product pass-through-job
swift build -c release --product sluice-bench
exec "$ROOT/.build/release/sluice-bench" run --bin-dir "$ROOT/.build/release" --python "$PYTHON" "$@"
