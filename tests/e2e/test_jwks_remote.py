"""Remote JWKS through an Envoy cluster, served by a test server: the first request waits for
the fetch, one fetch serves every worker, rotation is picked up, and a failing server never
costs the last good keys."""

import time

import pytest

from common import assert_problem
from conftest import close_stack, make_stack
from harness import ARTIFACT, JwksServer
from jwtkit import Keys, claims

A = Keys(prefix="a-")
B = Keys(prefix="b-")


def config(timeout_ms=3000, cache=600):
    return {"realm": "api", "providers": {"idp": {
        "type": "jwt", "issuer": "https://idp.test",
        "remote_jwks": {"uri": "http://idp.test/.well-known/jwks.json", "cluster": "jwks",
                        "timeout_ms": timeout_ms, "cache_duration_seconds": cache,
                        "min_refetch_interval_seconds": 1},
        "claim_to_headers": [{"claim_name": "sub", "header_name": "x-auth-sub"}]}}}


def bearer(keys, alg="ES256", **kw):
    return [("authorization", "Bearer " + keys.token(alg, claims(**kw)))]


def wait_for(fn, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def jwks():
    servers = []

    def make(*a, **kw):
        s = JwksServer(*a, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def stack_for(server, concurrency=1, **kw):
    return make_stack(config(**kw), concurrency=concurrency, extra={"clusters": {"jwks": server.port}})


def test_first_request_waits_and_one_fetch_serves_all_workers(jwks):
    server = jwks(A.jwks(), delay=1.0).start()
    gw = stack_for(server, concurrency=2)
    try:
        r = gw.get("/x", bearer(A))
        assert r.status == 200, r.body
        assert gw.upstream.seen[-1].header("x-auth-sub") == "alice"
        for alg in ("RS256", "EdDSA", "ES384", "HS512"):
            assert gw.get("/x", bearer(A, alg)).status == 200, alg
        time.sleep(0.5)
        assert len(server.hits) == 1, f"expected one fetch for all workers, got {server.hits}"
        assert server.hits[0] == ("/.well-known/jwks.json", "idp.test")
        assert "authgate: provider idp: fetched 6 keys from http://idp.test/.well-known/jwks.json" in gw.envoy.log()
    finally:
        close_stack(gw)


def test_key_rotation_is_picked_up_and_old_keys_leave(jwks):
    server = jwks(A.jwks()).start()
    gw = stack_for(server)
    try:
        old = bearer(A)
        assert gw.get("/x", old).status == 200
        server.jwks = B.jwks()
        # A token with an unknown kid makes the filter refetch (at most once a second here).
        assert wait_for(lambda: gw.get("/x", bearer(B)).status == 200), "new key never picked up"
        r = gw.get("/x", old)
        assert_problem(r, 401, "invalid_credentials")
        assert "unknown key id" in r.json()["detail"]
    finally:
        close_stack(gw)


@pytest.mark.parametrize("failure,logged", [("500", "HTTP status 500"), ("garbage", "not JSON")])
def test_failing_server_keeps_the_last_good_keys(jwks, failure, logged):
    server = jwks(A.jwks()).start()
    gw = stack_for(server, cache=1)
    try:
        assert gw.get("/x", bearer(A)).status == 200
        server.mode = failure
        hits = len(server.hits)
        assert wait_for(lambda: len(server.hits) >= hits + 2), "no refetch after the cache duration"
        assert gw.get("/x", bearer(A, "RS256")).status == 200
        assert wait_for(lambda: logged in gw.envoy.log())
        assert "authgate: provider idp: fetching the JWKS from http://idp.test/.well-known/jwks.json (cluster jwks) failed" in gw.envoy.log()
        assert "keeping the last good key set" in gw.envoy.log()
    finally:
        close_stack(gw)


def test_server_down_at_start_then_recovers(jwks):
    server = jwks(A.jwks())  # not started: nothing listens on its port
    gw = stack_for(server, timeout_ms=500)
    try:
        before = len(gw.upstream.seen)
        r = gw.get("/x", bearer(A))
        body = assert_problem(r, 401, "invalid_credentials")
        assert "the signing keys could not be fetched in time" in body["detail"]
        assert len(gw.upstream.seen) == before
        server.start()
        assert wait_for(lambda: gw.get("/x", bearer(A)).status == 200), "did not recover"
    finally:
        close_stack(gw)


def test_slow_server_times_out_then_recovers(jwks):
    server = jwks(A.jwks(), delay=3.0).start()
    gw = stack_for(server, timeout_ms=500)
    try:
        r = gw.get("/x", bearer(A))
        assert_problem(r, 401, "invalid_credentials")
        # Envoy answers a timed-out call itself, with a 504; the service, which makes the call
        # itself, has no answer.
        said = {"service": "failed: no response (timeout or connection failure); keeping the last good key set"}
        said = said.get(ARTIFACT, "failed: HTTP status 504; keeping the last good key set")
        assert wait_for(lambda: said in gw.envoy.log())
        server.delay = 0
        assert wait_for(lambda: gw.get("/x", bearer(A)).status == 200), "did not recover"
    finally:
        close_stack(gw)


def test_a_flood_of_unknown_kids_is_not_a_flood_of_fetches(jwks):
    server = jwks(A.jwks()).start()
    gw = stack_for(server)
    try:
        assert gw.get("/x", bearer(A)).status == 200
        before = len(server.hits)
        started = time.time()
        for i in range(60):
            r = gw.get("/x", [("authorization", "Bearer " + A.token("ES256", claims(), header={"kid": f"random-{i}"}))])
            assert r.status == 401
        elapsed = time.time() - started
        time.sleep(1.2)
        fetches = len(server.hits) - before
        # At most one refetch per min_refetch_interval_seconds (1 s here), plus the one in flight.
        assert fetches <= int(elapsed) + 2, (fetches, elapsed)
    finally:
        close_stack(gw)
