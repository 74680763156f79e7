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


def test_a_panic_in_the_native_module_answers_500_and_envoy_goes_on():
    """The native module catches a panic at every hook: the request that caused it gets a 500
    (gRPC: INTERNAL) and never goes upstream, and the same Envoy serves the next requests
    (dist/libauthgate-trap.so, a test-only build that panics on one path)."""
    from harness import Envoy, Upstream, bootstrap, free_port, request
    trap = os.path.join(ROOT, "dist", "libauthgate-trap.so")
    assert os.path.exists(trap), "dist/libauthgate-trap.so is built by ./build.sh test"
    upstream, port = Upstream(), free_port()
    envoy = Envoy(bootstrap(CONFIG, port, free_port(), upstream.port, native=True, module="authgate-trap")).start()
    try:
        assert request(port, "GET", "/x", [("x-api-key", "k-1")]).status == 200, envoy.log()[-3000:]
        before = len(upstream.seen)
        r = request(port, "GET", "/__authgate_trap", [("x-api-key", "k-1")])
        assert r.status == 500, (r.status, r.body)
        grpc = request(port, "POST", "/__authgate_trap", [("x-api-key", "k-1"), ("content-type", "application/grpc")], body=b"")
        assert grpc.header("grpc-status") == "13", grpc.headers
        assert len(upstream.seen) == before, "the request that panicked went upstream"
        assert "authgate: a panic in request_headers; failing closed" in envoy.log()
        for path, headers, status in (("/x", [("x-api-key", "k-1")], 200), ("/x", [], 401), ("/open", [], 200)):
            assert request(port, "GET", path, headers).status == status, (path, envoy.log()[-3000:])
    finally:
        envoy.stop()
        upstream.close()
