"""Opaque tokens checked through RFC 7662 introspection, against a local endpoint that counts
its calls: active, inactive, expired, wrong audience or issuer, scopes and rule conditions on
the answer; the cache (a second request makes no call, two workers make one call, a negative
answer expires); the endpoint down at start then back, slow, failing or answering garbage
(503 temporarily_unavailable with Retry-After, no challenge, never a pass); the client secret
from the VM's environment, never in a log line or a reply."""

import concurrent.futures
import time

import pytest

from common import allowed, assert_problem, refused, refused_at_load
from harness import Envoy, Upstream, bootstrap, free_port, request
from introspection_server import IntrospectionServer

NOW = int(time.time())
ISS = "https://idp.test"
SECRET = "s3cret-Ω+/="
ACTIVE = {"active": True, "iss": ISS, "aud": "orders", "sub": "alice", "scope": "orders:read",
          "exp": NOW + 3600, "groups": ["admin"], "org": {"tenant": "acme"}}
TOKENS = {
    "tok-active": ACTIVE,
    "tok-bot": {"active": True, "iss": ISS, "aud": ["orders"], "client_id": "robot", "exp": NOW + 3600},
    "tok-expired": dict(ACTIVE, exp=NOW - 600),
    "tok-other-aud": dict(ACTIVE, aud="billing"),
    "tok-other-iss": dict(ACTIVE, iss="https://evil.test"),
    "tok-no-scope": dict(ACTIVE, scope="profile"),
    "tok-umbrella": dict(ACTIVE, org={"tenant": "umbrella"}),
}


def plugin(**over):
    p = {"type": "introspection", "endpoint": "http://idp.test/oauth2/introspect", "cluster": "idp",
         "client_id": "authgate", "client_secret_env": "IDP_SECRET", "timeout_ms": 400,
         "cache_max_seconds": 300, "negative_cache_seconds": 1, "issuer": ISS, "audiences": ["orders"],
         "claim_to_headers": [{"claim_name": "sub", "header_name": "x-auth-sub"},
                              {"claim_name": "org.tenant", "header_name": "x-auth-tenant"}]}
    p.update(over)
    return {"realm": "api", "providers": {"opaque": p}, "rules": [
        {"match": {"prefix": "/orders/admin"}, "requires": "opaque",
         "claims": [{"claim": "groups", "contains": "admin"}, {"claim": "org.tenant", "equals": "acme"}],
         "identities": ["alice"]},
        {"match": {"prefix": "/reports"}, "requires": "opaque", "scopes": ["reports:read"]},
    ]}


class Gw:
    def __init__(self, as_port, concurrency=1, **over):
        self.upstream = Upstream()
        self.port = free_port()
        cfg = bootstrap(plugin(**over), self.port, free_port(), self.upstream.port,
                        clusters={"idp": as_port}, vm_env={"IDP_SECRET": SECRET})
        self.envoy = Envoy(cfg, concurrency=concurrency).start()
        assert self.envoy.proc.poll() is None, self.envoy.log()

    def get(self, path, headers=(), method="GET"):
        return request(self.port, method, path, headers)

    def close(self):
        self.envoy.stop()
        self.upstream.close()


def bearer(token):
    return [("authorization", f"Bearer {token}")]


@pytest.fixture(scope="module")
def idp():
    server = IntrospectionServer(TOKENS, client=("authgate", SECRET))
    yield server
    server.close()


@pytest.fixture(scope="module")
def gw(idp):
    g = Gw(idp.port)
    yield g
    g.close()


def test_an_active_token_passes_and_its_answer_is_kept(gw, idp):
    seen = allowed(gw, "/orders", bearer("tok-active"))
    assert seen.header("x-auth-sub") == "alice"
    assert seen.header("x-auth-tenant") == "acme"
    assert seen.header("authorization") is None, "the token is not forwarded"
    allowed(gw, "/orders", bearer("tok-active"))
    assert idp.calls_for("tok-active") == 1, "the second request made no call"
    token, authenticated, form = [c for c in idp.calls if c[0] == "tok-active"][0]
    assert authenticated and form["token_type_hint"] == "access_token"


@pytest.mark.parametrize("token,error,says", [
    ("tok-unknown", "invalid_credentials", "the token is not active"),
    ("tok-expired", "token_expired", "expired"),
    ("tok-other-aud", "invalid_credentials", "audience not accepted"),
    ("tok-other-iss", "invalid_credentials", "issuer not accepted"),
])
def test_a_bad_token_is_401_invalid_token(gw, token, error, says):
    r = refused(gw, "/orders", bearer(token))
    body = assert_problem(r, 401, error)
    assert says in body["detail"]
    assert r.all("www-authenticate")[0].startswith('Bearer realm="api", error="invalid_token"')


def test_scopes_claims_and_identities_apply_to_the_answer(gw):
    r = refused(gw, "/reports", bearer("tok-no-scope"))
    assert_problem(r, 403, "insufficient_scope")
    allowed(gw, "/orders/admin", bearer("tok-active"))
    r = refused(gw, "/orders/admin", bearer("tok-umbrella"))
    body = assert_problem(r, 403, "access_denied")
    assert "org.tenant" in body["detail"] and "umbrella" not in body["detail"]
    r = refused(gw, "/orders/admin", bearer("tok-bot"))
    assert "identity" in assert_problem(r, 403, "access_denied")["detail"]
    assert allowed(gw, "/orders", bearer("tok-bot")).header("x-auth-sub") is None


def test_a_negative_answer_is_kept_then_asked_again(gw, idp):
    token = "tok-revoked-soon"
    refused(gw, "/orders", bearer(token))
    refused(gw, "/orders", bearer(token))
    assert idp.calls_for(token) == 1
    time.sleep(2.1)  # negative_cache_seconds: 1, kept through the end of that second
    refused(gw, "/orders", bearer(token))
    assert idp.calls_for(token) == 2


def test_the_secret_and_tokens_never_reach_the_log_or_a_reply(gw, idp):
    r = refused(gw, "/orders", bearer("tok-never-logged"))
    log = gw.envoy.log()
    assert "tok-never-logged" not in log and "tok-active" not in log
    assert SECRET not in log and "s3cret" not in log
    assert b"tok-never-logged" not in r.body and b"s3cret" not in r.body


def test_two_workers_make_one_call(idp):
    g = Gw(idp.port, concurrency=2)
    try:
        idp.tokens["tok-burst"] = dict(ACTIVE)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: g.get("/orders", bearer("tok-burst")).status, range(16)))
        assert statuses == [200] * 16
        assert idp.calls_for("tok-burst") == 1, idp.calls_for("tok-burst")
        time.sleep(0.3)  # counters reach Envoy on the tick
        stats = g.envoy.stats("wasmcustom.authgate.introspection.opaque")
        assert stats.get("wasmcustom.authgate.introspection.opaque.calls") == 1, stats
    finally:
        g.close()


def assert_unavailable(r):
    """503 with Retry-After, a problem body saying temporarily_unavailable, no challenge."""
    assert r.status == 503, (r.status, r.body)
    assert r.header("retry-after") == "2"
    assert r.all("www-authenticate") == []
    body = r.json()
    assert body["error"] == "temporarily_unavailable" and body["status"] == 503
    assert "not a problem with the credentials" in body["detail"]


def test_an_endpoint_down_at_start_then_back():
    port = free_port()
    g = Gw(port)
    try:
        r = refused(g, "/orders", bearer("tok-active"))
        assert_unavailable(r)
        assert "introspection at http://idp.test/oauth2/introspect (cluster idp) failed" in g.envoy.log()
        server = IntrospectionServer(TOKENS, client=("authgate", SECRET), port=port)
        try:
            assert_unavailable(refused(g, "/orders", bearer("tok-other")))  # still backing off
            time.sleep(2.1)
            allowed(g, "/orders", bearer("tok-active"))
        finally:
            server.close()
        time.sleep(0.3)  # counters reach Envoy on the tick
        stats = g.envoy.stats("wasmcustom.authgate.")
        assert stats["wasmcustom.authgate.introspection.opaque.failed"] >= 1
        assert stats["wasmcustom.authgate.denied.temporarily_unavailable"] == 2
    finally:
        g.close()


@pytest.mark.parametrize("mode", ["slow", "500", "garbage", "echo", "wrong-secret"])
def test_an_endpoint_that_cannot_answer_is_503_never_a_pass(mode):
    server = IntrospectionServer(TOKENS, client=("authgate", SECRET if mode != "wrong-secret" else "other"))
    server.mode, server.delay = ("ok" if mode == "wrong-secret" else mode), 1.5
    g = Gw(server.port)
    try:
        assert_unavailable(refused(g, "/orders", bearer("tok-active")))
        assert server.calls_for("tok-active") == 1
        log = g.envoy.log()
        assert "tok-active" not in log and "s3cret" not in log
        if mode == "wrong-secret":
            assert "failed: HTTP status 401" in log
    finally:
        g.close()
        server.close()


def test_client_secret_post():
    server = IntrospectionServer(TOKENS, client=("authgate", SECRET))
    g = Gw(server.port, auth_method="client_secret_post")
    try:
        allowed(g, "/orders", bearer("tok-active"))
        _, authenticated, form = server.calls[0]
        assert authenticated and form["client_secret"] == SECRET
    finally:
        g.close()
        server.close()


LITERAL = {"client_secret": "x", "client_secret_env": None}


@pytest.mark.parametrize("over,field", [
    ({"client_secret_env": "NOT_SET"}, "providers.opaque.client_secret_env: the Wasm VM's environment has no"),
    ({"client_secret": "x"}, "providers.opaque.client_secret_env: cannot stand beside `client_secret`"),
    ({"auth_method": "tls_client_auth", **LITERAL}, "providers.opaque.auth_method"),
    ({"endpoint": "idp.test/introspect", **LITERAL}, "providers.opaque.endpoint"),
    ({"negative_cache_seconds": -1, **LITERAL}, "providers.opaque.negative_cache_seconds"),
])
def test_bad_configurations_are_refused_at_load(over, field):
    line = refused_at_load(plugin(**over))
    assert field in line, line
    assert SECRET not in line


def test_the_endpoint_is_discovered_from_the_issuer_and_revocation_shows_after_the_cache():
    from oauth_server import AuthorizationServer
    server = AuthorizationServer({"authgate": SECRET, "app": "app-secret"})
    upstream = Upstream()
    port = free_port()
    provider = {"type": "introspection", "issuer": server.issuer, "cluster": "issuer",
                "discovery": {"timeout_ms": 500}, "client_id": "authgate", "client_secret_env": "IDP_SECRET",
                "cache_max_seconds": 1}
    cfg = bootstrap({"realm": "api", "providers": {"opaque": provider}}, port, free_port(), upstream.port,
                    clusters={"issuer": server.port}, vm_env={"IDP_SECRET": SECRET})
    envoy = Envoy(cfg).start()
    try:
        token = server.token_for(None, "orders:read")
        r = request(port, "GET", "/orders", bearer(token))
        assert r.status == 200, (r.status, r.body)
        assert f"discovered introspection_endpoint {server.issuer}/introspect" in envoy.log()
        assert ("POST", "/introspect") in server.log
        server.revoke(token)
        assert request(port, "GET", "/orders", bearer(token)).status == 200, "kept up to cache_max_seconds"
        time.sleep(2.1)
        r = request(port, "GET", "/orders", bearer(token))
        assert r.status == 401 and r.json()["error"] == "invalid_credentials", (r.status, r.body)
    finally:
        envoy.stop()
        upstream.close()
        server.close()
