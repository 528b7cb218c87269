# Sourced by the project's scripts: points pkg-config and the tools at the project-local copies.
SLUICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLUICE_ROOT
if [ -f "$SLUICE_ROOT/.tools/librdkafka/.installed" ]; then
  export PKG_CONFIG_PATH="$SLUICE_ROOT/.tools/librdkafka/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
fi
export SLUICE_TANSU="$SLUICE_ROOT/.tools/tansu/bin/tansu"
