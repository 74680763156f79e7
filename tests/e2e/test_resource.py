"""OAuth 2.0 Protected Resource Metadata (RFC 9728) through Envoy: authgate serves the metadata
document itself at the well-known URL (§3.1), before any rule and without credentials; every
Bearer challenge, 401 and 403, of a request inside the resource (its host, port and path) carries
`resource_metadata` (§5.1), and no request outside it does (§3.3: a client rejects a document
for another resource); a scoped route's 401 names its scope (as MCP asks); problem bodies carry
the URL; a token must be issued for the resource (RFC 8707) when the provider names no audience;
bad `resource` settings are refused at load."""

import json

import pytest

from common import allowed, assert_problem, refused, refused_at_load
from jwtkit import Keys, claims

KEYS = Keys()
ID = "https://api.example.com/mcp"
META = "/.well-known/oauth-protected-resource/mcp"
URL = "https://api.example.com" + META
HOST = [("host", "api.example.com")]
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
    r = refused(gw, "/mcp", HOST)
    body = assert_problem(r, 401, "missing_credentials")
    assert r.all("www-authenticate") == [f'Bearer realm="api", resource_metadata="{URL}", scope="mcp:tools"']
    assert body["resource_metadata"] == URL
    r = refused(gw, "/mcp/tools/call", HOST)
    assert r.all("www-authenticate") == [f'Bearer realm="api", resource_metadata="{URL}", scope="mcp:tools"']
    r = refused(gw, "/mcp", HOST + [("authorization", token(scope="other"))])
    assert_problem(r, 403, "insufficient_scope")
    assert r.all("www-authenticate") == [
        f'Bearer realm="api", resource_metadata="{URL}", error="insufficient_scope", scope="mcp:tools"']
    page = refused(gw, "/mcp", HOST + [("accept", "text/html")])
    assert URL in page.body.decode()


@pytest.mark.parametrize("name,path,headers", [
    ("another path", "/other", HOST),
    ("a longer first segment", "/mcpx", HOST),
    ("another host", "/mcp", [("host", "internal.example.com")]),
    ("another port", "/mcp", [("host", "api.example.com:8443")]),
    ("the proxy's own address", "/mcp", []),
])
def test_requests_outside_the_resource_are_not_pointed_at_its_document(gw, name, path, headers):
    """Issue 21: a 401 for /stock carried the /mcp document's URL, which a strict client fetches
    and rejects. Outside the resource the challenge and body name no document."""
    r = refused(gw, path, headers)
    assert r.status == 401, r.body
    assert not any("resource_metadata" in c for c in r.all("www-authenticate")), r.all("www-authenticate")
    assert "resource_metadata" not in r.json()
    page = refused(gw, path, headers + [("accept", "text/html")])
    assert META not in page.body.decode()


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
