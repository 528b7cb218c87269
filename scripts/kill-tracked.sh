#!/usr/bin/env bash
# Ends the processes one test run recorded in its pid directory (scripts/test.sh sets
# SLUICE_TEST_PID_DIR; SluiceTestKit writes one file per broker or job it starts, named by pid and
# holding the process's start time), then removes the directory. A pid whose start time no longer
# matches belongs to another process now and is left alone, as is everything not recorded: a
# second test run, or a user's own broker or job.
#   scripts/kill-tracked.sh PID_DIR
set -uo pipefail
DIR="${1:?usage: kill-tracked.sh PID_DIR}"
[ -d "$DIR" ] || exit 0
for FILE in "$DIR"/*; do
  [ -f "$FILE" ] || continue
  PID="$(basename "$FILE")"
  case "$PID" in *[!0-9]*|'') continue ;; esac
  RECORDED="$(cat "$FILE")"
  # Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces).
  STAT="$(cat "/proc/$PID/stat" 2>/dev/null)" || continue
  STARTED="$(printf '%s' "${STAT##*) }" | awk '{print $20}')"
  if [ -n "$RECORDED" ] && [ "$STARTED" = "$RECORDED" ]; then
    kill -KILL "$PID" 2>/dev/null || true
  fi
done
rm -rf "$DIR"
