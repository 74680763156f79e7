"""Keys found from the issuer (`discovery`) through Envoy: OpenID Connect Discovery, the RFC
8414 form when that is not there, an issuer mismatch refused with a line naming both issuers,
and an issuer that is down at start and comes back."""

import time

import pytest

from common import allowed, assert_problem, refused
from harness import Envoy, Upstream, bootstrap, free_port
from oauth_server import AuthorizationServer


def start(issuer, as_port, issuer_suffix=""):
    upstream = Upstream()
    port = free_port()
    plugin = {"realm": "api", "providers": {"idp": {
        "type": "jwt", "issuer": issuer + issuer_suffix,
        "discovery": {"cluster": "issuer", "timeout_ms": 500, "cache_duration_seconds": 600}}}}
    envoy = Envoy(bootstrap(plugin, port, free_port(), upstream.port, clusters={"issuer": as_port})).start()

    class Gw:
        def get(self, path, headers=(), method="GET"):
            from harness import request
            return request(port, method, path, headers)

    gw = Gw()
    gw.upstream, gw.envoy = upstream, envoy
    return gw


def stop(gw):
    gw.envoy.stop()
    gw.upstream.close()


@pytest.mark.parametrize("oidc", [True, False], ids=["openid-configuration", "rfc8414"])
def test_discovery_finds_the_keys(oidc):
    server = AuthorizationServer({}, oidc=oidc)
    gw = start(server.issuer, server.port)
    try:
        token = server.token_for(None, "read")
        allowed(gw, "/x", [("authorization", f"Bearer {token}")])
        paths = [p for _, p in server.log]
        assert "/jwks" in paths
        if not oidc:
            assert paths.index("/.well-known/openid-configuration") < paths.index("/.well-known/oauth-authorization-server")
        assert "discovered jwks_uri " + server.issuer + "/jwks" in gw.envoy.log()
    finally:
        stop(gw)
        server.close()


def test_an_issuer_mismatch_is_named_and_refused():
    server = AuthorizationServer({})
    gw = start(server.issuer, server.port, issuer_suffix="/")
    try:
        from jwtkit import claims
        token = server.keys[0].token("ES256", claims(iss=server.issuer + "/", aud=None))
        r = refused(gw, "/x", [("authorization", f"Bearer {token}")])
        assert_problem(r, 401, "invalid_credentials")
        assert "could not be fetched in time" in r.json()["detail"]
        deadline = time.time() + 5
        while "discovery from" not in gw.envoy.log() and time.time() < deadline:
            time.sleep(0.1)
        line = [l for l in gw.envoy.log().splitlines() if "discovery from" in l][0]
        assert f'"{server.issuer}"' in line and f'"{server.issuer}/"' in line, line
    finally:
        stop(gw)
        server.close()


def test_an_issuer_down_at_start_and_back_later():
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    gw = start(issuer, port)
    server = None
    try:
        from jwtkit import Keys, claims
        r = refused(gw, "/x", [("authorization", "Bearer " + Keys().token("ES256", claims(iss=issuer, aud=None)))])
        assert_problem(r, 401, "invalid_credentials")
        server = AuthorizationServer({}, port=port)
        deadline, status = time.time() + 15, None
        while time.time() < deadline and status != 200:
            time.sleep(0.5)
            status = gw.get("/x", [("authorization", "Bearer " + server.token_for(None, "read"))]).status
        assert status == 200, gw.envoy.log()[-2000:]
    finally:
        stop(gw)
        if server:
            server.close()
