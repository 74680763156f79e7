"""Brute-force throttling: refused credentials per client address, counted across Envoy's
workers through shared data; beyond the limit a 429 with Retry-After; the count decays."""

import time

from common import assert_problem
from conftest import close_stack, make_stack

CONFIG = {"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k-1"}]}},
          "throttle": {"max_failures": 4, "window_seconds": 2}}


def test_throttle_blocks_then_decays():
    gw = make_stack(CONFIG, concurrency=2)
    try:
        for _ in range(5):
            assert gw.get("/x").status == 401  # missing credentials do not count
        assert gw.get("/x", [("x-api-key", "k-1")]).status == 200
        # Each request on a new connection: Envoy spreads them over both workers.
        for _ in range(4):
            assert gw.get("/x", [("x-api-key", "guess")]).status == 401
        before = len(gw.upstream.seen)
        r = gw.get("/x", [("x-api-key", "k-1")])
        body = assert_problem(r, 429, "too_many_failures") if r.status == 429 else None
        assert r.status == 429, "the limit is shared by the workers"
        assert 1 <= int(r.header("retry-after")) <= 2
        assert "Try again in" in body["detail"]
        assert r.all("www-authenticate") == []
        assert len(gw.upstream.seen) == before, "a throttled request reached upstream"
        assert "error=too_many_failures rule=throttle" in gw.envoy.log()
        deadline = time.time() + 8
        while time.time() < deadline and gw.get("/x", [("x-api-key", "k-1")]).status != 200:
            time.sleep(0.25)
        assert gw.get("/x", [("x-api-key", "k-1")]).status == 200, "the count did not decay"
        stats = gw.envoy.stats("wasmcustom.authgate.denied.too_many_failures")
        time.sleep(0.5)
        stats = gw.envoy.stats("wasmcustom.authgate.denied.too_many_failures")
        assert sum(stats.values()) >= 1
    finally:
        close_stack(gw)
