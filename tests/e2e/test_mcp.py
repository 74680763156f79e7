"""authgate in front of an MCP server, with a client nobody here wrote: the official `mcp`
Python SDK on both ends. The server (streamable HTTP, no auth of its own) sits behind Envoy +
authgate (`resource`, a `jwt` provider with the authorization server's remote JWKS, a scoped
rule); a small authorization server (oauth_server.py) issues ES256 tokens for the `resource`
the client asks for. The SDK's own OAuth client (client credentials) must get the 401, follow
`resource_metadata`, fetch the authorization server's metadata, get a token, list the tools
and call one — and still work after the authorization server rotates its key."""

import threading
import time

import pytest

from harness import Envoy, bootstrap, free_port, request
from oauth_server import AuthorizationServer

pytest.importorskip("mcp")

import anyio  # noqa: E402
import httpx2  # noqa: E402
import uvicorn  # noqa: E402
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider  # noqa: E402
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.server.transport_security import TransportSecuritySettings  # noqa: E402

CLIENT, SECRET = "reporting-bot", "s3cret-bot"


class Storage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self):
        self.tokens, self.client_info = None, None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, info):
        self.client_info = info


def start_mcp_server(port, seen):
    server = MCPServer("orders")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Adds two numbers."""
        return a + b

    app = server.streamable_http_app(
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))

    async def logged(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            seen.append((scope["method"], scope["path"], headers.get(b"authorization", b"")[:7].decode()))
        await app(scope, receive, send)

    srv = uvicorn.Server(uvicorn.Config(logged, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    return srv


@pytest.fixture(scope="module")
def world():
    auth_server = AuthorizationServer({CLIENT: SECRET})
    mcp_port, envoy_port, admin = free_port(), free_port(), free_port()
    seen = []
    srv = start_mcp_server(mcp_port, seen)
    url = f"http://127.0.0.1:{envoy_port}/mcp"
    plugin = {
        "realm": "mcp",
        "providers": {"as": {"type": "jwt", "issuer": auth_server.issuer,
                             "remote_jwks": {"uri": f"{auth_server.issuer}/jwks", "cluster": "auth_server",
                                             "timeout_ms": 2000, "min_refetch_interval_seconds": 1}}},
        "rules": [{"match": {"prefix": "/mcp"}, "requires": "as", "scopes": ["mcp:tools"]}],
        "resource": {"id": url, "authorization_servers": [auth_server.issuer],
                     "scopes_supported": ["mcp:tools"], "resource_name": "Orders MCP"},
    }
    envoy = Envoy(bootstrap(plugin, envoy_port, admin, mcp_port,
                            clusters={"auth_server": auth_server.port})).start()
    yield {"as": auth_server, "url": url, "port": envoy_port, "seen": seen, "envoy": envoy}
    envoy.stop()
    srv.should_exit = True
    auth_server.close()


def run_client(world):
    """The SDK's whole flow; returns (tool names, result, every request the client made)."""
    requests = []

    async def log(response):
        requests.append((response.request.method, response.request.url.path, response.status_code))

    async def main():
        auth = ClientCredentialsOAuthProvider(server_url=world["url"], storage=Storage(), client_id=CLIENT,
                                              client_secret=SECRET, issuer=world["as"].issuer)
        async with httpx2.AsyncClient(auth=auth, event_hooks={"response": [log]}) as http:
            async with streamable_http_client(world["url"], http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = [t.name for t in (await session.list_tools()).tools]
                    result = await session.call_tool("add", {"a": 2, "b": 3})
                    return tools, result

    tools, result = anyio.run(main)
    return tools, result, requests


def test_the_sdk_client_finds_its_way_to_a_token_and_calls_a_tool(world):
    tools, result, requests = run_client(world)
    assert tools == ["add"]
    assert result.structured_content == {"result": 5} and not result.is_error
    # The flow, in order: refused, metadata (answered by authgate), the authorization server's
    # metadata, the token, then the MCP request again.
    flow = [(m, p, s) for m, p, s in requests]
    assert flow[0] == ("POST", "/mcp", 401), flow
    assert flow[1] == ("GET", "/.well-known/oauth-protected-resource/mcp", 200), flow
    assert flow[2] == ("GET", "/.well-known/oauth-authorization-server", 200), flow
    assert flow[3] == ("POST", "/token", 200), flow
    assert flow[4][:2] == ("POST", "/mcp") and flow[4][2] in (200, 202), flow
    issued = world["as"].issued[-1]
    assert issued["aud"] == world["url"] and issued["scope"] == "mcp:tools", issued
    # Only the requests authgate let through reached the server, and without the token
    # (`forward` is false by default: the credential is for authgate, not for the service).
    passed = [r for r in requests if r[1] == "/mcp" and r[2] != 401]
    assert len(world["seen"]) == len(passed), (world["seen"], requests)
    assert all(auth == "" for _, _, auth in world["seen"]), world["seen"]


def test_the_authorization_code_flow_with_pkce(world):
    """The SDK's authorization-code + PKCE client, with programmatic redirect and callback
    handlers: registers itself (RFC 7591), is sent to /authorize, redeems the code with its
    verifier, and calls the tool."""
    from urllib.parse import parse_qs, urlparse
    from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    redirect = "http://127.0.0.1:1/callback"  # never contacted: the handlers play the browser
    got = {}

    async def redirect_handler(url):
        async with httpx2.AsyncClient(follow_redirects=False) as c:
            r = await c.get(url)
        assert r.status_code == 302, r.text
        q = parse_qs(urlparse(r.headers["location"]).query)
        got["code"], got["state"] = q["code"][0], q["state"][0]
        got["authorize"] = parse_qs(urlparse(url).query)

    async def callback_handler():
        return AuthorizationCodeResult(code=got["code"], state=got["state"])

    async def main():
        meta = OAuthClientMetadata(client_name="authgate-test", redirect_uris=[redirect],
                                   grant_types=["authorization_code", "refresh_token"],
                                   response_types=["code"], token_endpoint_auth_method="none")
        auth = OAuthClientProvider(server_url=world["url"], client_metadata=meta, storage=Storage(),
                                   redirect_handler=redirect_handler, callback_handler=callback_handler)
        async with httpx2.AsyncClient(auth=auth) as http:
            async with streamable_http_client(world["url"], http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await session.call_tool("add", {"a": 40, "b": 2})

    before = len(world["as"].log)
    result = anyio.run(main)
    assert result.structured_content == {"result": 42}
    assert got["authorize"]["code_challenge_method"] == ["S256"]
    assert got["authorize"]["resource"] == [world["url"]] and got["authorize"]["scope"] == ["mcp:tools"]
    paths = [p.split("?")[0] for _, p in world["as"].log[before:]]
    assert paths == ["/.well-known/oauth-authorization-server", "/register", "/authorize", "/token"], paths
    assert world["as"].issued[-1]["aud"] == world["url"]


def test_a_token_for_another_audience_or_without_the_scope_is_refused(world):
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    headers = [("content-type", "application/json"), ("accept", "application/json, text/event-stream")]
    other = world["as"].token_for("https://other.example.com/mcp", "mcp:tools")
    r = request(world["port"], "POST", "/mcp", headers + [("authorization", f"Bearer {other}")], body=body)
    assert r.status == 401 and r.json()["error"] == "invalid_credentials"
    no_scope = world["as"].token_for(world["url"], "profile")
    r = request(world["port"], "POST", "/mcp", headers + [("authorization", f"Bearer {no_scope}")], body=body)
    assert r.status == 403
    meta = world["url"].replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    assert r.all("www-authenticate") == [
        f'Bearer realm="mcp", resource_metadata="{meta}", error="insufficient_scope", scope="mcp:tools"']


def test_calls_keep_working_after_the_authorization_server_rotates_its_key(world):
    world["as"].rotate(drop_old=True)
    time.sleep(1.1)  # min_refetch_interval_seconds
    tools, result, requests = run_client(world)
    assert tools == ["add"] and result.structured_content == {"result": 5}
    assert world["as"].issued[-1]["iat"] >= int(time.time()) - 30
