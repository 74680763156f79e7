"""DPoP (RFC 9449) through Envoy: tokens bound to a client's key (`cnf.jkt`), JWTs and
introspected tokens alike, each request with a fresh proof made by `cryptography`. Every way a
proof can be wrong is a 401 `invalid_dpop_proof` with a `DPoP` challenge naming the accepted
algorithms and nothing reaching upstream; a bound token sent as Bearer is refused; a replayed
proof is refused on any worker; `required` takes no bearer tokens at all."""

import concurrent.futures
import time

import pytest

from common import allowed, refused, refused_at_load
from dpop_client import DpopClient
from harness import Envoy, Upstream, bootstrap, free_port, request
from introspection_server import IntrospectionServer
from jwtkit import Keys, claims

ISSUER = Keys()
CLIENT = DpopClient()
ALGS = 'algs="ES256 EdDSA Ed25519 RS256 PS256"'


def token(bound=True, **extra):
    c = claims(**extra)
    if bound:
        c["cnf"] = {"jkt": CLIENT.jkt}
    return ISSUER.token("ES256", c)


def plugin(opaque_port):
    jwks = ISSUER.jwks(["p256"])
    return {"realm": "api", "providers": {
        "idp": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": jwks, "dpop": "allowed",
                "claim_to_headers": [{"claim_name": "sub", "header_name": "x-auth-sub"}]},
        "strict": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": jwks, "dpop": "required"},
        "opaque": {"type": "introspection", "endpoint": "http://idp.test/introspect", "cluster": "idp",
                   "client_id": "authgate", "client_secret": "s", "dpop": "allowed"},
    }, "rules": [
        {"match": {"prefix": "/strict"}, "requires": "strict"},
        {"match": {"prefix": "/opaque"}, "requires": "opaque"},
        {"match": {"prefix": "/scoped"}, "requires": "idp", "scopes": ["admin"]},
        {"match": {"prefix": "/"}, "requires": "idp"},
    ]}


class Gw:
    def __init__(self, concurrency=1):
        self.idp = IntrospectionServer({"opaque-bound": {"active": True, "sub": "olga", "cnf": {"jkt": CLIENT.jkt}}},
                                       client=("authgate", "s"))
        self.upstream = Upstream()
        self.port = free_port()
        cfg = bootstrap(plugin(self.idp.port), self.port, free_port(), self.upstream.port,
                        clusters={"idp": self.idp.port})
        self.envoy = Envoy(cfg, concurrency=concurrency).start()
        assert self.envoy.proc.poll() is None, self.envoy.log()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, headers=(), method="GET"):
        return request(self.port, method, path, headers)

    def dpop(self, path, tok, method="GET", **over):
        return [("authorization", f"DPoP {tok}"), ("dpop", CLIENT.proof(method, self.url(path), tok, **over))]

    def close(self):
        self.envoy.stop()
        self.upstream.close()
        self.idp.close()


@pytest.fixture(scope="module")
def gw():
    g = Gw()
    yield g
    g.close()


def assert_proof_refused(r, says):
    assert r.status == 401, (r.status, r.body)
    body = r.json()
    assert body["error"] == "invalid_dpop_proof", body
    challenges = r.all("www-authenticate")
    dpop = [c for c in challenges if c.startswith("DPoP ")]
    assert dpop and dpop[0].startswith(f'DPoP {ALGS}, realm="api", error="invalid_dpop_proof"'), challenges
    assert says in dpop[0], dpop[0]
    assert [c for c in challenges if c.startswith("Bearer")] == ['Bearer realm="api"'], challenges


def test_a_bound_token_with_a_fresh_proof_passes_and_neither_goes_upstream(gw):
    tok = token()
    seen = allowed(gw, "/orders?id=7", gw.dpop("/orders", tok))
    assert seen.header("x-auth-sub") == "alice"
    assert seen.header("authorization") is None and seen.header("dpop") is None
    # A fresh proof each time; the verified token itself is cached.
    allowed(gw, "/orders", gw.dpop("/orders", tok))
    allowed(gw, "/orders", gw.dpop("/orders", tok, method="POST"), method="POST")


def test_an_introspected_token_is_bound_by_the_answers_cnf(gw):
    allowed(gw, "/opaque", gw.dpop("/opaque", "opaque-bound"))
    r = refused(gw, "/opaque", [("authorization", "Bearer opaque-bound")])
    assert r.status == 401 and "sent as a bearer token" in r.json()["detail"]


@pytest.mark.parametrize("name,make,says", [
    ("wrong htm", lambda g, t: g.dpop("/orders", t, method="POST"), "htm"),
    ("wrong htu", lambda g, t: [("authorization", f"DPoP {t}"), ("dpop", CLIENT.proof("GET", g.url("/other"), t))], "htu"),
    ("another host in htu", lambda g, t: [("authorization", f"DPoP {t}"),
                                          ("dpop", CLIENT.proof("GET", "http://evil.test/orders", t))], "htu"),
    ("stale iat", lambda g, t: g.dpop("/orders", t, iat=int(time.time()) - 120), "too old"),
    ("iat in the future", lambda g, t: g.dpop("/orders", t, iat=int(time.time()) + 120), "future"),
    ("ath of another token", lambda g, t: [("authorization", f"DPoP {t}"),
                                           ("dpop", CLIENT.proof("GET", g.url("/orders"), token(sub="bob")))], "ath"),
    ("thumbprint mismatch", lambda g, t: [("authorization", f"DPoP {t}"),
                                          ("dpop", DpopClient().proof("GET", g.url("/orders"), t))], "bound to"),
    ("alg none", lambda g, t: [("authorization", f"DPoP {t}"),
                               ("dpop", CLIENT.proof("GET", g.url("/orders"), t).rsplit(".", 1)[0].replace(
                                   CLIENT.proof("GET", g.url("/orders"), t).split(".")[0],
                                   __import__("jwtkit").b64('{"typ":"dpop+jwt","alg":"none"}')) + ".")], "algorithm"),
    ("HS256", lambda g, t: [("authorization", f"DPoP {t}"),
                            ("dpop", CLIENT.proof("GET", g.url("/orders"), t, alg="HS256"))], "algorithm"),
    ("private key in the header", lambda g, t: [("authorization", f"DPoP {t}"),
                                                ("dpop", CLIENT.proof("GET", g.url("/orders"), t,
                                                                      header={"jwk": dict(CLIENT.jwk, d="AAAA")}))], "private"),
    ("two DPoP headers", lambda g, t: g.dpop("/orders", t) + [("dpop", CLIENT.proof("GET", g.url("/orders"), t))], "more than one"),
    ("no proof", lambda g, t: [("authorization", f"DPoP {t}")], "no DPoP proof"),
])
def test_every_way_a_proof_can_be_wrong_is_refused(gw, name, make, says):
    r = refused(gw, "/orders", make(gw, token()))
    assert_proof_refused(r, says)


def test_a_403_names_the_scope_on_the_scheme_the_token_came_with_only(gw):
    """Issue 21: a DPoP-bound token short of scope put `error="insufficient_scope"` on the
    DPoP challenge and on Bearer; a client could read the Bearer one as a way to fall back."""
    r = refused(gw, "/scoped", gw.dpop("/scoped", token(scope="read")))
    assert r.status == 403 and r.json()["error"] == "insufficient_scope", r.body
    assert r.all("www-authenticate") == [
        'Bearer realm="api"', f'DPoP {ALGS}, realm="api", error="insufficient_scope", scope="admin"']
    r = refused(gw, "/scoped", [("authorization", "Bearer " + token(bound=False, scope="read"))])
    assert r.status == 403
    assert r.all("www-authenticate") == [
        'Bearer realm="api", error="insufficient_scope", scope="admin"', f'DPoP {ALGS}, realm="api"']
    allowed(gw, "/scoped", gw.dpop("/scoped", token(scope="admin")))


def test_a_replayed_proof_is_refused(gw):
    tok = token()
    headers = gw.dpop("/orders", tok)
    allowed(gw, "/orders", headers)
    assert_proof_refused(refused(gw, "/orders", headers), "used before")


def test_a_bound_token_sent_as_bearer_is_refused(gw):
    r = refused(gw, "/orders", [("authorization", f"Bearer {token()}")])
    assert r.status == 401 and r.json()["error"] == "invalid_credentials"
    assert r.all("www-authenticate") == [
        'Bearer realm="api", error="invalid_token", error_description="a DPoP-bound token was sent as a bearer token"',
        f'DPoP {ALGS}, realm="api"']


def test_allowed_takes_unbound_bearer_tokens_and_required_does_not(gw):
    allowed(gw, "/orders", [("authorization", f"Bearer {token(bound=False)}")])
    r = refused(gw, "/strict", [("authorization", f"Bearer {token(bound=False)}")])
    assert r.status == 401 and r.json()["error"] == "unsupported_scheme"
    assert r.all("www-authenticate") == [f'DPoP {ALGS}, realm="api"']
    allowed(gw, "/strict", gw.dpop("/strict", token()))
    r = refused(gw, "/strict", [("authorization", f"DPoP {token(bound=False)}"),
                                ("dpop", CLIENT.proof("GET", gw.url("/strict"), token(bound=False)))])
    assert r.status == 401 and "not bound to a DPoP key" in r.json()["detail"]


def test_a_proof_replayed_on_another_worker_is_refused():
    g = Gw(concurrency=2)
    try:
        tok = token()
        headers = g.dpop("/orders", tok)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: g.get("/orders", headers).status, range(8)))
        assert sorted(statuses) == [200] + [401] * 7, statuses
    finally:
        g.close()


@pytest.mark.parametrize("over,field", [
    ({"dpop": "yes"}, "providers.idp.dpop: must be `required` or `allowed`"),
    ({"dpop": "allowed", "dpop_algs": ["HS256"]}, "providers.idp.dpop_algs"),
    ({"dpop": "required", "from_params": ["access_token"]}, "providers.idp.dpop: `required` reads tokens only"),
    ({"client_cert_from": "xfcc"}, "providers.idp.client_cert_from: needs `mtls_bound`"),
])
def test_bad_binding_configurations_are_refused_at_load(over, field):
    p = {"type": "jwt", "issuer": "https://idp.test", "local_jwks": ISSUER.jwks(["p256"]), **over}
    line = refused_at_load({"providers": {"idp": p}})
    assert field in line, line


def test_the_readme_client_gets_through(gw):
    """The documented DPoP client (docs/sender-constraints.md: PyJWT and cryptography), run as written."""
    import os
    import re
    from dpop_client import thumbprint
    from harness import ROOT
    text = open(os.path.join(ROOT, "docs", "sender-constraints.md")).read()
    code = re.search(r"A DPoP client in Python.*?```python\n(.*?)```", text, re.S).group(1)
    scope = {}
    exec(code, scope)
    tok = ISSUER.token("ES256", dict(claims(), cnf={"jkt": thumbprint(scope["jwk"])}))
    headers = scope["dpop_headers"]("GET", gw.url("/orders"), tok)
    allowed(gw, "/orders", list(headers.items()))
    assert_proof_refused(refused(gw, "/orders", list(headers.items())), "used before")


def test_the_htu_scheme_is_the_connections_not_a_clients_x_forwarded_proto(gw):
    """Issue 35: with Envoy's defaults for a proxy that is not an edge, a client's
    `x-forwarded-proto: https` becomes `:scheme`, and an `https://` htu passed over plain HTTP.
    The scheme is now the connection's: plain HTTP here, whatever the client says."""
    tok = token()
    https = gw.url("/xfp").replace("http://", "https://", 1)
    before = len(gw.upstream.seen)
    r = gw.get("/xfp", [("authorization", f"DPoP {tok}"), ("dpop", CLIENT.proof("GET", https, tok)),
                        ("x-forwarded-proto", "https")])
    assert_proof_refused(r, "htu")
    assert len(gw.upstream.seen) == before
    allowed(gw, "/xfp", [*gw.dpop("/xfp", tok), ("x-forwarded-proto", "https")])


def test_dpop_scheme_from_request_trusts_envoys_scheme():
    """Behind a TLS proxy that Envoy trusts (`xff_num_trusted_hops`), `dpop_scheme_from:
    request` takes `:scheme` as Envoy set it from `x-forwarded-proto`."""
    config = plugin(free_port())
    config["providers"]["idp"]["dpop_scheme_from"] = "request"
    upstream, port = Upstream(), free_port()
    envoy = Envoy(bootstrap(config, port, free_port(), upstream.port)).start()
    try:
        tok = token()
        https = f"https://127.0.0.1:{port}/behind-tls"
        r = request(port, "GET", "/behind-tls", [("authorization", f"DPoP {tok}"),
                                                 ("dpop", CLIENT.proof("GET", https, tok)),
                                                 ("x-forwarded-proto", "https")])
        assert r.status == 200, (r.status, r.body, envoy.log()[-3000:])
    finally:
        envoy.stop()
        upstream.close()
