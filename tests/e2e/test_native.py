"""The native module (dist/libauthgate.so, an Envoy dynamic module) answers exactly as the wasm
filter does: test_cli.py's table of requests (every reply of the contract and some passes)
goes through two real Envoys with the same configuration, one per artifact; statuses, every
reply header but the date, the bodies (request ids aside) and what the upstream got must be
identical. Also: the module checks the ABI of the Envoy that loads it, and its counters reach
Envoy's stats. The rest of the
suite runs through the native module with AUTHGATE_ARTIFACT=native (./build.sh test does both)."""

import os

import pytest

from harness import NATIVE, Stack, request
from test_cli import CASES, CONFIG, body

pytestmark = pytest.mark.skipif(not os.path.exists(NATIVE), reason="dist/libauthgate.so is built by ./build.sh test")

SKIPPED = {"date", "x-envoy-upstream-service-time", "server"}


@pytest.fixture(scope="module")
def pair():
    wasm, native = Stack(CONFIG), Stack(CONFIG, extra={"native": True})
    for s in (wasm, native):
        assert s.envoy.proc.poll() is None, s.envoy.log()
    yield wasm, native
    wasm.close()
    native.close()


def seen_headers(stack, before):
    if len(stack.upstream.seen) == before:
        return None
    return sorted((k, v) for k, v in stack.upstream.seen[before].headers
                  if k not in {"host", "x-forwarded-proto", "x-envoy-expected-rq-timeout-ms"})


@pytest.mark.parametrize("name,method,path,headers", CASES, ids=[c[0] for c in CASES])
def test_the_native_module_answers_as_the_wasm_filter(pair, name, method, path, headers):
    headers = list(headers) + [("x-request-id", "req-1")]
    got = []
    for stack in pair:
        before = len(stack.upstream.seen)
        r = stack.get(path, headers, method=method)
        reply = [(k, v) for k, v in r.headers if k not in SKIPPED]
        got.append((r.status, reply, body(r.body.decode()), seen_headers(stack, before)))
    (ws, wh, wb, wu), (ns, nh, nb, nu) = got
    assert ns == ws, (name, got)
    assert nu == wu, (name, wu, nu)
    if wu is not None:
        return  # passed: the reply is the upstream's echo, which names each Envoy's port
    assert nh == wh, (name, wh, nh)
    assert nb == wb, (name, wb, nb)


def test_the_module_checks_the_abi_of_the_envoy_that_loads_it(pair):
    """Envoy 1.40 only warns on another ABI version; the module checks the callbacks Envoy
    exports itself (a refusal is tested natively: abi_check.rs), and says so at start."""
    log = pair[1].envoy.log()
    assert "authgate: native module built for the dynamic-module ABI v0.2.0 (Envoy 1.40), whose callbacks it calls this Envoy exports" in log, log[-3000:]
    assert "Dynamic module ABI version v0.2.0 matched" in log


def test_counters_reach_envoy(pair):
    native = pair[1]
    native.get("/orders", [("x-api-key", "k-1")])
    native.get("/orders", [("x-api-key", "nope")])
    stats = request(native.envoy.admin_port, "GET", "/stats?filter=authgate").body.decode()
    assert "authgate.allowed" in stats and "authgate.denied.invalid_credentials" in stats, stats
    line = next(l for l in stats.splitlines() if l.endswith("authgate.denied.invalid_credentials") or "authgate.denied.invalid_credentials:" in l)
    assert int(line.rsplit(":", 1)[1]) >= 1, line
