"""OAuth 2.0 Protected Resource Metadata (RFC 9728) through Envoy: authgate serves the metadata
document itself at the well-known URL (§3.1), before any rule and without credentials; every
Bearer challenge, 401 and 403, carries `resource_metadata` (§5.1) and a scoped route's 401 names
its scope (as MCP asks); problem bodies carry the URL; a token must be issued for the resource
(RFC 8707) when the provider names no audience; bad `resource` settings are refused at load."""

import json

import pytest

from common import allowed, assert_problem, refused, refused_at_load
from jwtkit import Keys, claims

KEYS = Keys()
ID = "https://api.example.com/mcp"
META = "/.well-known/oauth-protected-resource/mcp"
URL = "https://api.example.com" + META
CONFIG = {
    "realm": "api",
    "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": KEYS.jwks(["p256"])},
                  "keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]}},
    "rules": [{"match": {"prefix": "/mcp"}, "requires": "idp", "scopes": ["mcp:tools"]},
              {"match": {"prefix": "/"}, "requires": {"any": ["idp", "keys"]}}],
    "resource": {"id": ID, "authorization_servers": ["https://idp.test"], "scopes_supported": ["mcp:tools"],
                 "resource_name": "Orders MCP", "resource_documentation": "https://docs.example.com/mcp"},
}


def token(**kw):
    return "Bearer " + KEYS.token("ES256", claims(**{"aud": ID, **kw}))


def test_the_metadata_document_is_served_before_any_rule(gw):
    r = refused(gw, META)
    assert r.status == 200, r.body
    assert r.header("content-type") == "application/json"
    assert r.header("access-control-allow-origin") == "*"
    assert "max-age" in r.header("cache-control")
    doc = json.loads(r.body)
    assert doc == {"resource": ID, "resource_name": "Orders MCP",
                   "resource_documentation": "https://docs.example.com/mcp",
                   "authorization_servers": ["https://idp.test"], "scopes_supported": ["mcp:tools"],
                   "bearer_methods_supported": ["header"]}
    assert refused(gw, META, method="HEAD").status == 200
    pre = refused(gw, META, [("origin", "https://app.example"), ("access-control-request-method", "GET")],
                  method="OPTIONS")
    assert pre.status == 204 and pre.header("access-control-allow-origin") == "*"
    post = refused(gw, META, method="POST")
    assert post.status == 405 and post.header("allow") == "GET, HEAD, OPTIONS"


def test_challenges_and_bodies_point_at_the_metadata(gw):
    r = refused(gw, "/mcp")
    body = assert_problem(r, 401, "missing_credentials")
    assert r.all("www-authenticate") == [f'Bearer realm="api", resource_metadata="{URL}", scope="mcp:tools"']
    assert body["resource_metadata"] == URL
    r = refused(gw, "/other")
    assert r.all("www-authenticate") == [f'Bearer realm="api", resource_metadata="{URL}"',
                                         'ApiKey realm="api", in="header", name="x-api-key"']
    r = refused(gw, "/mcp", [("authorization", token(scope="other"))])
    assert_problem(r, 403, "insufficient_scope")
    assert r.all("www-authenticate") == [
        f'Bearer realm="api", resource_metadata="{URL}", error="insufficient_scope", scope="mcp:tools"']
    page = refused(gw, "/mcp", [("accept", "text/html")])
    assert URL in page.body.decode()


def test_a_token_must_be_issued_for_the_resource(gw):
    allowed(gw, "/mcp", [("authorization", token(scope="mcp:tools"))])
    r = refused(gw, "/mcp", [("authorization", token(aud="https://other.example.com", scope="mcp:tools"))])
    assert_problem(r, 401, "invalid_credentials")
    assert "audience not accepted" in r.json()["detail"]


@pytest.mark.parametrize("name,resource,field", [
    ("http id", {"id": "http://api.example.com/mcp", "authorization_servers": ["https://idp"]}, "resource.id"),
    ("query", {"id": "https://api.example.com/mcp?a=1", "authorization_servers": ["https://idp"]}, "resource.id"),
    ("fragment", {"id": "https://api.example.com/mcp#x", "authorization_servers": ["https://idp"]}, "resource.id"),
    ("no servers", {"id": "https://api.example.com/mcp", "authorization_servers": []}, "resource.authorization_servers"),
    ("typo", {"id": "https://api.example.com/mcp", "authorization_server": ["https://idp"]}, "resource.authorization_server"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_resource_settings_are_refused_at_load(name, resource, field):
    line = refused_at_load(dict(CONFIG, resource=resource))
    assert f"{field}:" in line, line
