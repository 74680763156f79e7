"""Token exchange (RFC 8693) through a real Envoy: the upstream receives a token the
authorization server issued for it, never the caller's. The server is panva's oidc-provider
with the token-exchange grant registered through its extension point (exchange_as.mjs); the
callers' tokens are its own client-credentials tokens; the upstream checks what it got with
PyJWT against the server's published keys. One call per (token, audience) across workers, a
refusal is a 403, a server that is down a 503 with nothing upstream, and an issued token is not
used past its expiry."""

import concurrent.futures
import json
import os
import time
import urllib.parse
import urllib.request

import re

import jwt
import pytest

from common import allowed, refused, refused_at_load
from harness import ROOT, Envoy, NodeServer, Upstream, bootstrap, free_port, request

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "..", ".tools", "node_modules")
OIDC_PROVIDER = os.path.join(TOOLS, "oidc-provider", "lib", "index.js")
JOSE = os.path.join(TOOLS, "jose", "dist", "webapi", "index.js")
CALLERS = "https://gw.test/"
AUDIENCES = {"orders": ["orders:read"], "https://gw.test/mcp/a": ["tools:a"], "https://gw.test/mcp/b": ["tools:b"]}
EXCHANGE_GRANT = "grant=urn:ietf:params:oauth:grant-type:token-exchange"


class ExchangeServer(NodeServer):
    """oidc-provider with the token-exchange grant, issuing tokens that live `ttl` seconds."""

    def __init__(self, ttl=300):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        super().__init__("the authorization server", os.path.join(HERE, "exchange_as.mjs"), OIDC_PROVIDER, JOSE,
                         self.port, ttl, json.dumps(AUDIENCES))
        with urllib.request.urlopen(f"{self.issuer}/jwks", timeout=10) as r:
            self.jwks = json.load(r)

    def caller_token(self):
        """A caller's own token: client credentials, for the gateway (aud https://gw.test/)."""
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "orders:read"}).encode()
        req = urllib.request.Request(f"{self.issuer}/token", data=form, headers={
            "authorization": "Basic Y2FsbGVyOmNhbGxlci1zZWNyZXQ=",  # caller:caller-secret
            "content-type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)["access_token"]

    def exchanges(self):
        return self.log().count(EXCHANGE_GRANT)

    def verify(self, token, audience):
        """What an upstream does: the token's signature, issuer and audience, by PyJWT."""
        key = jwt.PyJWKSet.from_dict(self.jwks)[jwt.get_unverified_header(token)["kid"]]
        return jwt.decode(token, key.key, algorithms=["ES256"], audience=audience, issuer=self.issuer)


def exchange(server, **over):
    section = {"token_endpoint": f"{server.issuer}/token", "cluster": "as", "client_id": "gateway",
               "client_secret_env": "EXCHANGE_SECRET", "timeout_ms": 1000}
    section.update(over)
    return section


def plugin(server):
    return {
        "realm": "api",
        "providers": {"idp": {"type": "jwt", "issuer": server.issuer, "audiences": [CALLERS],
                              "local_jwks": server.jwks}},
        "rules": [
            {"match": {"prefix": "/orders"}, "requires": "idp", "token_exchange": exchange(server, audience="orders")},
            {"match": {"prefix": "/payroll"}, "requires": "idp", "token_exchange": exchange(server, audience="payroll")},
        ],
        "resources": [
            {"id": "https://gw.test/mcp/a", "authorization_servers": [server.issuer],
             "token_exchange": exchange(server, client_id="gateway-post", auth_method="client_secret_post",
                                        client_secret_env="EXCHANGE_POST_SECRET")},
            {"id": "https://gw.test/mcp/b", "authorization_servers": [server.issuer],
             "token_exchange": exchange(server)},
        ],
    }


class Gw:
    def __init__(self, server, concurrency=1, config=None):
        self.upstream = Upstream()
        self.port = free_port()
        cfg = bootstrap(config or plugin(server), self.port, free_port(), self.upstream.port,
                        clusters={"as": server.port},
                        vm_env={"EXCHANGE_SECRET": "gateway-secret", "EXCHANGE_POST_SECRET": "gateway-post-secret"})
        self.envoy = Envoy(cfg, concurrency=concurrency).start()
        assert self.envoy.proc.poll() is None, self.envoy.log()

    def get(self, path, headers=(), method="GET"):
        return request(self.port, method, path, headers)

    def close(self):
        self.envoy.stop()
        self.upstream.close()


def bearer(token, host=None):
    return [("authorization", f"Bearer {token}")] + ([("host", host)] if host else [])


@pytest.fixture(scope="module")
def server():
    s = ExchangeServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def gw(server):
    g = Gw(server, concurrency=2)
    yield g
    g.close()


def issued(seen):
    scheme, _, token = (seen.header("authorization") or "").partition(" ")
    assert scheme == "Bearer" and token, seen.headers
    return token


def test_the_upstream_gets_a_token_issued_for_it_never_the_callers(gw, server):
    caller = server.caller_token()
    before = server.exchanges()
    token = issued(allowed(gw, "/orders/7", bearer(caller)))
    assert token != caller
    claims = server.verify(token, "orders")
    assert claims["aud"] == "orders"
    assert claims["sub"] == jwt.decode(caller, options={"verify_signature": False})["sub"]
    assert claims["act"] == {"sub": "gateway"}, "RFC 8693 §4.1: who exchanged it"
    assert server.exchanges() == before + 1
    # Kept: the next request with the caller's token makes no call and gets the same token.
    assert issued(allowed(gw, "/orders/8", bearer(caller))) == token
    assert server.exchanges() == before + 1
    assert "client=gateway" in server.log()


def test_each_resource_gets_its_own_token(gw, server):
    caller = server.caller_token()
    a = issued(allowed(gw, "/mcp/a", bearer(caller, "gw.test")))
    b = issued(allowed(gw, "/mcp/b", bearer(caller, "gw.test")))
    assert server.verify(a, "https://gw.test/mcp/a")["scope"] == "tools:a"
    assert server.verify(b, "https://gw.test/mcp/b")["scope"] == "tools:b"
    with pytest.raises(jwt.InvalidAudienceError):
        server.verify(a, "https://gw.test/mcp/b")
    # The first resource's exchange authenticates in the form (client_secret_post).
    assert "client=gateway-post audience=undefined resource=https://gw.test/mcp/a -> 200" in server.log()


def test_one_call_per_token_across_workers(server):
    g = Gw(server, concurrency=4)
    try:
        caller = server.caller_token()
        before = server.exchanges()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: g.get("/orders", bearer(caller)), range(48)))
        assert [r.status for r in answers] == [200] * 48
        tokens = {issued(s) for s in g.upstream.seen}
        assert len(tokens) == 1 and caller not in tokens
        assert server.exchanges() == before + 1, server.log()[-2000:]
    finally:
        g.close()


def test_a_refusal_is_403_access_denied_naming_the_audience(gw, server):
    r = refused(gw, "/payroll", bearer(server.caller_token()))
    assert r.status == 403, r.body
    body = r.json()
    assert body["error"] == "access_denied"
    assert "payroll" in body["detail"] and "invalid_target" in body["detail"], body
    assert r.all("www-authenticate") == []


def test_a_bad_caller_token_never_reaches_the_authorization_server(gw, server):
    before = server.exchanges()
    r = refused(gw, "/orders", bearer("not-a-token"))
    assert r.status == 401
    assert server.exchanges() == before


def test_the_authorization_server_down_is_503_and_nothing_goes_upstream():
    s = ExchangeServer()
    g = Gw(s)
    try:
        caller = s.caller_token()
        s.stop()
        r = refused(g, "/orders", bearer(caller))
        assert r.status == 503, r.body
        assert r.json()["error"] == "temporarily_unavailable"
        assert "could not be obtained from the authorization server" in r.json()["detail"]
        assert int(r.header("retry-after")) >= 1
        assert r.all("www-authenticate") == []
    finally:
        g.close()


def test_an_issued_token_is_not_used_past_its_expiry():
    s = ExchangeServer(ttl=2)
    g = Gw(s)
    try:
        caller = s.caller_token()
        first = issued(allowed(g, "/orders", bearer(caller)))
        assert issued(allowed(g, "/orders", bearer(caller))) == first
        time.sleep(2.2)
        second = issued(allowed(g, "/orders", bearer(caller)))
        assert second != first
        assert s.exchanges() == 2
        s.verify(second, "orders")
    finally:
        g.close()
        s.stop()


def test_a_section_without_a_target_is_refused_at_load(server):
    cfg = plugin(server)
    section = cfg["rules"][0]["token_exchange"]
    del section["audience"], section["client_secret_env"]
    section["client_secret"] = "gateway-secret"
    line = refused_at_load(cfg)
    assert "rules[0].token_exchange: needs `audience` or `resource`" in line, line


def test_the_documented_configuration_runs(server):
    """docs/upstream.md's first example, its origins moved to the test's server."""
    text = open(os.path.join(ROOT, "docs", "upstream.md")).read()
    example = re.search(r"```json\n(.*?)```", text, re.S).group(1)
    example = example.replace("https://as.example.com", server.issuer).replace("https://gw.example.com/", CALLERS)
    g = Gw(server, config=json.loads(example))
    try:
        caller = server.caller_token()
        assert server.verify(issued(allowed(g, "/orders", bearer(caller))), "orders")["act"] == {"sub": "gateway"}
        assert refused(g, "/orders", bearer(caller[:-4] + "AAAA")).status == 401
    finally:
        g.close()


def test_the_token_endpoint_is_found_from_the_issuers_metadata(server):
    cfg = plugin(server)
    section = cfg["rules"][0]["token_exchange"]
    del section["token_endpoint"]
    section["issuer"] = server.issuer
    g = Gw(server, concurrency=2, config=cfg)
    try:
        caller = server.caller_token()
        token = issued(allowed(g, "/orders", bearer(caller)))
        assert server.verify(token, "orders")["sub"]
        assert "discovered token_endpoint " + server.issuer + "/token" in g.envoy.log()
    finally:
        g.close()
