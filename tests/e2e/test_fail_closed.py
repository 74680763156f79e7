"""Fail closed: a crash inside the filter (a test-only build that traps on one path) gives the
client an error and never forwards the request, with `fail_open: false` as Envoy's default."""

import os

from conftest import close_stack, make_stack
from harness import ROOT

TRAP_WASM = os.path.join(ROOT, "dist", "authgate-trap.wasm")
CONFIG = {"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k-1"}]}},
          "rules": [{"match": {"prefix": "/open"}, "requires": "none"}]}
STACK_OPTIONS = {"extra": {"wasm": TRAP_WASM}}


def test_the_trap_build_exists():
    assert os.path.exists(TRAP_WASM), "dist/authgate-trap.wasm is built by ./build.sh test"


def test_a_crash_never_forwards_the_request(fresh_gw):
    assert fresh_gw.get("/x", [("x-api-key", "k-1")]).status == 200
    before = len(fresh_gw.upstream.seen)
    r = fresh_gw.get("/__authgate_trap", [("x-api-key", "k-1")])
    assert r.status == 503, (r.status, r.body)
    assert len(fresh_gw.upstream.seen) == before, "the request that crashed the filter went upstream"
    assert "proxy_on_request_headers failed: Uncaught RuntimeError: unreachable" in fresh_gw.envoy.log()
    # The VM is gone and Envoy fails closed: everything is refused, nothing goes upstream.
    for path, headers in (("/x", []), ("/open", []), ("/x", [("x-api-key", "k-1")])):
        assert fresh_gw.get(path, headers).status == 503
    assert len(fresh_gw.upstream.seen) == before


def test_fail_reload_recovers_and_still_never_forwards_the_crash():
    stack = make_stack(CONFIG, extra={"wasm": TRAP_WASM, "failure_policy": "FAIL_RELOAD"})
    try:
        before = len(stack.upstream.seen)
        assert stack.get("/__authgate_trap").status == 503
        assert len(stack.upstream.seen) == before
        # A new VM takes over and checks requests again.
        import time
        deadline = time.time() + 10
        while time.time() < deadline and stack.get("/x", [("x-api-key", "k-1")]).status != 200:
            time.sleep(0.2)
        assert stack.get("/x", [("x-api-key", "k-1")]).status == 200
        assert stack.get("/x").status == 401
    finally:
        close_stack(stack)
