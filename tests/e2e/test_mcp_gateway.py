"""authgate as an MCP gateway in front of two MCP servers, with clients and an authorization
server nobody here wrote: the official `mcp` Python SDK (its client-credentials OAuth client,
which follows `resource_metadata` and steps up on a 403) and the TypeScript SDK from npm as
clients; the Python SDK's `MCPServer` as the two servers (`/github` answers with event streams,
`/db` with JSON); panva's oidc-provider as the authorization server, issuing JWT access tokens
for the resource asked for (RFC 8707). Everything goes through a real Envoy."""

import base64
import json
import os
import subprocess
import threading
import time
import types
import urllib.parse
import urllib.request

import pytest

from conftest import _live
from harness import ARTIFACT, Envoy, NodeServer, bootstrap, free_port, request

pytest.importorskip("mcp")

import anyio  # noqa: E402
import httpx2  # noqa: E402
import uvicorn  # noqa: E402
from mcp.client import Client  # noqa: E402
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.server.transport_security import TransportSecuritySettings  # noqa: E402
from test_mcp import Storage  # noqa: E402  the SDK's token storage, in memory

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "..", ".tools", "node_modules")
OIDC_PROVIDER = os.path.join(TOOLS, "oidc-provider", "lib", "index.js")
TS_SDK = os.path.join(TOOLS, "@modelcontextprotocol", "sdk")
ACCEPT = ("accept", "application/json, text/event-stream")


class AuthorizationServer(NodeServer):
    """oidc-provider (client credentials, resource indicators, JWT access tokens) in Node.js."""

    def __init__(self, resources):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        super().__init__("the authorization server", os.path.join(HERE, "mcp_as.mjs"), OIDC_PROVIDER,
                         self.port, json.dumps(resources))

    def token(self, client, resource, scope):
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource, "scope": scope})
        basic = base64.b64encode(f"{client}:{client}-secret".encode()).decode()
        req = urllib.request.Request(f"{self.issuer}/token", data=form.encode(), headers={
            "authorization": f"Basic {basic}", "content-type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)["access_token"]


def mcp_servers(port, seen, tokens):
    """Two MCP servers on one port: /github (event streams) and /db (JSON answers). `seen`
    gets (path, JSON-RPC method, tool name) of every POST that reached them, and `tokens` the
    authorization header of each, if one came."""
    github, db = MCPServer("github"), MCPServer("db")

    @github.tool()
    def search(query: str) -> str:
        """Searches repositories."""
        return f"found {query}"

    @github.tool()
    def delete_repo(repo: str) -> str:
        """Deletes a repository."""
        return f"deleted {repo}"

    @db.tool()
    def read_rows(table: str) -> str:
        """Reads rows."""
        return f"rows of {table}"

    @db.tool()
    def execute_sql(sql: str) -> str:
        """Runs a statement."""
        return f"executed {sql}"

    open_hosts = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    apps = {"/github": github.streamable_http_app(streamable_http_path="/github", stateless_http=True,
                                                   transport_security=open_hosts),
            "/db": db.streamable_http_app(streamable_http_path="/db", stateless_http=True, json_response=True,
                                          transport_security=open_hosts)}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            async with github.session_manager.run(), db.session_manager.run():
                await receive()
                await send({"type": "lifespan.startup.complete"})
                await receive()
                await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            tokens.extend(v for k, v in scope["headers"] if k == b"authorization")
            try:
                rpc = json.loads(body)
                seen.append((scope["path"], rpc.get("method"), (rpc.get("params") or {}).get("name")))
            except ValueError:
                seen.append((scope["path"], "not json", None))
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        prefix = "/github" if scope["path"].startswith("/github") else "/db"
        await apps[prefix](scope, replay, send)

    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    threading.Thread(target=srv.run, daemon=True).start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    return srv


def documented_configuration(base, issuer):
    """The configuration of docs/mcp-gateway.md, with its origins moved to 127.0.0.1."""
    text = open(os.path.join(HERE, "..", "..", "docs", "mcp-gateway.md")).read()
    section = text.split("## A complete configuration for two servers", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    block = block.replace("https://mcp.example.com", base).replace("https://auth.example.com", issuer)
    return json.loads(block)


def listed(cut, whole):
    """What a list shows: cut to what the caller may call by the filters, whole through the
    service, which never sees the answer (docs/service.md, "What differs")."""
    return whole if ARTIFACT == "service" else cut


@pytest.fixture(scope="module")
def gw():
    for path, what in ((OIDC_PROVIDER, "oidc-provider"), (TS_SDK, "@modelcontextprotocol/sdk")):
        if not os.path.exists(path):
            pytest.fail(f"{what} is not installed in .tools (./build.sh test installs it)")
    port, admin, upstream = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    github, db = f"{base}/github", f"{base}/db"
    auth = AuthorizationServer({github: ["tools:search", "tools:admin"], db: ["db:read", "db:write"]})
    seen, tokens = [], []
    srv = mcp_servers(upstream, seen, tokens)
    plugin = documented_configuration(base, auth.issuer)
    if ARTIFACT == "service":
        # A check never sees the answer: the service cannot cut lists (docs/service.md).
        plugin["mcp"] = {**plugin.get("mcp", {}), "filter_lists": False}
    envoy = Envoy(bootstrap(plugin, port, admin, upstream, clusters={"auth": auth.port}, stop_iteration=True)).start()
    shown = types.SimpleNamespace(envoy=envoy)  # Envoy's log goes with any failure (conftest)
    _live.append(shown)
    try:
        yield {"port": port, "as": auth, "seen": seen, "tokens": tokens, "envoy": envoy, "github": github, "db": db}
    finally:
        _live.remove(shown)
        envoy.stop()
        srv.should_exit = True
        auth.stop()


def sdk_session(gw, url, client, steps):
    """Runs `steps(session)` in the Python SDK's client with its own OAuth client for `client`;
    returns what it returned and every (method, path, status, WWW-Authenticate) it saw."""
    exchanges = []

    async def log(response):
        exchanges.append((response.request.method, response.request.url.path, response.status_code,
                          response.headers.get("www-authenticate")))

    async def main():
        with anyio.fail_after(60):
            return await session()

    async def session():
        auth = ClientCredentialsOAuthProvider(server_url=url, storage=Storage(), client_id=client,
                                              client_secret=f"{client}-secret", issuer=gw["as"].issuer)
        async with httpx2.AsyncClient(auth=auth, event_hooks={"response": [log]}, timeout=20) as http:
            async with Client(streamable_http_client(url, http_client=http)) as session:
                return await steps(session)

    return anyio.run(main), exchanges


async def tool_names(session):
    return [t.name for t in (await session.list_tools()).tools]


def mcp_post(gw, path, token, body, headers=()):
    return request(gw["port"], "POST", path, [("content-type", "application/json"), ACCEPT,
                                                ("authorization", f"Bearer {token}"), *headers], body=body)


def call_body(tool, args=None):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": tool, "arguments": args or {}}}).encode()


def test_a_list_shows_what_the_caller_may_call_and_a_call_it_may_not_is_refused(gw):
    """The limited client: `search` but not `delete_repo` (the authorization server will not
    give it `tools:admin`, so its step-up gets no further). The answer is an event stream."""
    async def steps(session):
        names = await tool_names(session)
        found = await session.call_tool("search", {"query": "authgate"})
        try:
            await session.call_tool("delete_repo", {"repo": "prod"})
            refused = None
        except Exception as e:  # the SDK's MCPError, after its step-up failed
            refused = e
        return names, found, refused

    before = len(gw["seen"])
    (names, found, refused), exchanges = sdk_session(gw, gw["github"], "limited", steps)
    assert names == listed(["search"], ["search", "delete_repo"]), names
    assert found.content[0].text == "found authgate" and not found.is_error
    assert refused is not None, "delete_repo went through"
    challenges = [w for _, _, status, w in exchanges if status == 403]
    assert challenges and all('error="insufficient_scope", scope="tools:admin"' in c for c in challenges), exchanges
    assert ('/github', 'tools/call', 'delete_repo') not in gw["seen"][before:], "refused before the server"
    assert 'token client=limited resource=' + gw["github"] in gw["as"].log()


def test_an_admin_sees_and_calls_every_tool(gw):
    async def steps(session):
        names = await tool_names(session)
        deleted = await session.call_tool("delete_repo", {"repo": "old"})
        return names, deleted

    (names, deleted), _ = sdk_session(gw, gw["github"], "admin", steps)
    assert names == ["search", "delete_repo"], names
    assert deleted.content[0].text == "deleted old"
    assert ("/github", "tools/call", "delete_repo") in gw["seen"]
    assert gw["tokens"] == [], "the token is authgate's: removed before the body went up"


def test_the_sdk_steps_up_for_a_tool_that_needs_more_scope(gw):
    """`/db` asks `db:read` of every call and `db:write` of `execute_sql`. The admin client's
    first token has `db:read` (the 401 named it); `execute_sql` is not listed for that token
    (a JSON answer, cut); the call gets the 403 naming `db:write`; the SDK asks for more and the
    call goes through; now the list shows it."""
    async def steps(session):
        before = await tool_names(session)
        result = await session.call_tool("execute_sql", {"sql": "select 1"})
        after = await tool_names(session)
        return before, result, after

    (before, result, after), exchanges = sdk_session(gw, gw["db"], "admin", steps)
    assert before == listed(["read_rows"], ["read_rows", "execute_sql"]), before
    assert result.content[0].text == "executed select 1" and not result.is_error
    assert after == ["read_rows", "execute_sql"], after
    statuses = [(m, p, s) for m, p, s, _ in exchanges]
    assert ("POST", "/db", 401) == statuses[0], statuses
    step_up = [w for _, _, s, w in exchanges if s == 403]
    meta = gw["db"].replace("/db", "/.well-known/oauth-protected-resource/db")
    assert step_up == [f'Bearer realm="mcp", resource_metadata="{meta}", error="insufficient_scope", scope="db:write"'], exchanges
    asked = [line for line in gw["as"].log().splitlines() if "client=admin resource=" + gw["db"] in line]
    assert "db:write" in asked[-1] and "db:read" in asked[-1], asked


def test_a_token_for_one_server_is_refused_by_the_other(gw):
    for_github = gw["as"].token("admin", gw["github"], "tools:search tools:admin")
    r = mcp_post(gw, "/db", for_github, call_body("read_rows", {"table": "t"}))
    assert r.status == 401 and r.json()["error"] == "invalid_credentials", r.body
    assert "/.well-known/oauth-protected-resource/db" in r.header("www-authenticate")
    r = mcp_post(gw, "/github", for_github, call_body("search", {"query": "x"}))
    assert r.status == 200, r.body
    for_db = gw["as"].token("admin", gw["db"], "db:read db:write")
    r = mcp_post(gw, "/github", for_db, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode())
    assert r.status == 401, r.body
    # Each resource's document, at its own well-known URL.
    for name in ("github", "db"):
        doc = request(gw["port"], "GET", f"/.well-known/oauth-protected-resource/{name}").json()
        assert doc["resource"] == gw[name] and doc["authorization_servers"] == [gw["as"].issuer]


@pytest.mark.parametrize("name, body, headers, detail", [
    ("Mcp-Name that disagrees with the body", call_body("search", {"query": "x"}),
     [("mcp-method", "tools/call"), ("mcp-name", "delete_repo")], "Mcp-Method or Mcp-Name does not match"),
    ("Mcp-Method that disagrees", call_body("search", {"query": "x"}), [("mcp-method", "tools/list")],
     "Mcp-Method or Mcp-Name does not match"),
    ("a batch", b"[" + call_body("search", {"query": "x"}) + b"]", [], "a JSON-RPC batch"),
    ("an oversized body", call_body("search", {"query": "x" * 300_000}), [], "larger than 256 KiB"),
    ("not JSON", b"tools/call delete_repo", [], "not JSON"),
])
def test_a_body_that_is_not_one_honest_message_is_400(gw, name, body, headers, detail):
    token = gw["as"].token("admin", gw["github"], "tools:search tools:admin")
    before = len(gw["seen"])
    r = mcp_post(gw, "/github", token, body, headers)
    assert r.status == 400, (name, r.status, r.body)
    problem = r.json()
    if "Mcp-" in name:
        # MCP 2026-07-28 (streamable HTTP): 400 with the JSON-RPC error -32020 HeaderMismatch
        # for the request's id, which the conformance suite checks; the problem is its data.
        assert r.header("content-type") == "application/json", r.headers
        assert problem["jsonrpc"] == "2.0" and problem["id"] == 1, problem
        assert problem["error"]["code"] == -32020, problem
        problem = problem["error"]["data"]
    assert problem["error"] == "invalid_request" and detail in problem["detail"], r.body
    assert len(gw["seen"]) == before, "nothing reached the server"


def test_a_call_no_rule_decides_by_its_name_is_the_servers_to_answer(gw):
    """A `resources/subscribe` without `params.uri` (removed in MCP 2026-07-28) names nothing a
    rule on /github decides by: it reaches the server, which answers it, not authgate."""
    token = gw["as"].token("limited", gw["github"], "tools:search")
    before = len(gw["seen"])
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe", "params": {}}).encode()
    r = mcp_post(gw, "/github", token, body)
    assert len(gw["seen"]) == before + 1, (r.status, r.body)
    assert gw["seen"][-1][1] == "resources/subscribe"
    assert "invalid_request" not in r.body.decode(errors="replace"), r.body
    # A tool call without its name, where rules decide by the tool: refused, saying why.
    r = mcp_post(gw, "/github", token, json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                                     "params": {}}).encode())
    assert r.status == 400 and "names no tool" in r.json()["detail"], r.body
    assert len(gw["seen"]) == before + 1


def test_an_allowed_call_over_http2_with_trailers_reaches_the_server(gw):
    """HTTP/2 lets a body end with trailers: the body Envoy holds is read whole, and an
    allowed call goes on (a refused one is still refused)."""
    token = gw["as"].token("limited", gw["github"], "tools:search")
    before = len(gw["seen"])
    headers = [("authorization", f"Bearer {token}"), ("content-type", "application/json"), ACCEPT]
    status = h2_post_with_trailers(gw["port"], "/github", headers, call_body("search", {"query": "h2"}))
    assert status == 200, (status, gw["envoy"].log()[-3000:])
    assert gw["seen"][before:] == [("/github", "tools/call", "search")]
    status = h2_post_with_trailers(gw["port"], "/github", headers, call_body("delete_repo", {"repo": "x"}))
    assert status == 403
    assert len(gw["seen"]) == before + 1


def test_headers_that_agree_with_the_body_pass_in_their_base64_form(gw):
    token = gw["as"].token("admin", gw["github"], "tools:search")
    name = "=?base64?" + base64.b64encode(b"search").decode() + "?="
    r = mcp_post(gw, "/github", token, call_body("search", {"query": "y"}),
                 [("mcp-method", "tools/call"), ("mcp-name", name)])
    assert r.status == 200, r.body


def test_the_typescript_sdk_sees_the_same_gateway(gw):
    token = gw["as"].token("limited", gw["github"], "tools:search tools:admin")
    out = subprocess.run(["node", os.path.join(HERE, "mcp_ts_client.mjs"), TS_SDK, gw["github"], token,
                          "search", json.dumps({"query": "ts"}), "delete_repo", json.dumps({"repo": "x"})],
                         capture_output=True, text=True, timeout=60)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tools"] == listed(["search"], ["search", "delete_repo"]), (result, out.stderr)
    assert result["calls"]["search"] == "ok: found ts", result
    assert result["calls"]["delete_repo"].startswith("error:") and "403" in result["calls"]["delete_repo"], result


def test_decisions_name_the_tool_and_are_counted(gw):
    token = gw["as"].token("limited", gw["github"], "tools:search")
    mcp_post(gw, "/github", token, call_body("delete_repo", {"repo": "x"}))
    mcp_post(gw, "/github", token, json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).encode())
    deadline = time.time() + 5
    while time.time() < deadline:
        stats = gw["envoy"].stats("wasmcustom.authgate.mcp")
        if stats.get("wasmcustom.authgate.mcp.lists_cut", 0) > 0:
            break
        time.sleep(0.2)
    assert stats["wasmcustom.authgate.mcp.bodies_read"] > 0, stats
    # The service hides nothing: it never sees a list.
    hidden = stats["wasmcustom.authgate.mcp.entries_hidden"]
    assert hidden == 0 if ARTIFACT == "service" else hidden > 0, stats
    log = gw["envoy"].log()
    assert 'error=insufficient_scope rule=rules[0]' in log and 'mcp_method="tools/call" mcp_name="delete_repo"' in log, log[-3000:]


def test_a_content_type_does_not_skip_a_per_tool_rule(gw):
    """The Python SDK's server reads JSON sent as `text/plain, application/json`: such a call
    must meet the rule for its tool, not the broader rule after it."""
    token = gw["as"].token("limited", gw["github"], "tools:search")
    before = len(gw["seen"])
    for content_type in ("text/plain, application/json", "text/plain"):
        r = request(gw["port"], "POST", "/github", [("content-type", content_type), ACCEPT,
                                                     ("authorization", f"Bearer {token}")],
                    body=call_body("delete_repo", {"repo": "prod"}))
        assert r.status == 403 and r.json()["error"] == "insufficient_scope", (content_type, r.body)
    r = mcp_post(gw, "/github", token, call_body("search", {"query": "q"}), [("content-encoding", "gzip")])
    assert r.status == 400 and "compressed" in r.json()["detail"], r.body
    assert len(gw["seen"]) == before


def h2_post_with_trailers(port, path, headers, body):
    """One HTTP/2 request (prior knowledge) whose body is followed by trailers: the status."""
    import socket

    import h2.config
    import h2.connection
    import h2.events

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [(":method", "POST"), (":path", path), (":scheme", "http"),
                               (":authority", f"127.0.0.1:{port}"), *headers])
    conn.send_data(stream, body)
    conn.send_headers(stream, [("x-checksum", "1")], end_stream=True)
    sock.sendall(conn.data_to_send())
    deadline = time.time() + 10
    while time.time() < deadline:
        data = sock.recv(65535)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                sock.close()
                return int(dict(event.headers)[b":status"])
        sock.sendall(conn.data_to_send())
    sock.close()
    return None


@pytest.mark.parametrize("trailers", [False, True], ids=["body", "body and trailers over HTTP/2"])
def test_a_request_held_for_its_keys_stays_held_while_its_body_arrives(trailers):
    """With `allow_on_headers_stop_iteration`, Envoy hands authgate the body (and trailers) of
    a request whose headers it paused: a request held for a key set must not be let through by
    them."""
    from harness import JwksServer, Upstream
    from jwtkit import Keys, claims

    keys, other = Keys(), Keys(prefix="other-")
    jwks = JwksServer(keys.jwks(("p256",)), delay=1.0).start()
    upstream = Upstream()
    port, admin = free_port(), free_port()
    plugin = {"providers": {"idp": {"type": "jwt", "issuer": "https://idp.test", "audiences": ["orders"],
                                    "remote_jwks": {"uri": "http://idp/jwks", "cluster": "idp", "timeout_ms": 3000}}}}
    envoy = Envoy(bootstrap(plugin, port, admin, upstream.port, clusters={"idp": jwks.port},
                            stop_iteration=True)).start()
    try:
        forged = other.token("ES256", claims(), header={"kid": keys.kid("ES256")})
        good = keys.token("ES256", claims())
        body = b'{"order": 1}' * 1000
        for token, want in ((forged, 401), (good, 200)):
            headers = [("authorization", f"Bearer {token}"), ("content-type", "application/json")]
            if trailers:
                status = h2_post_with_trailers(port, "/orders", headers, body)
            else:
                status = request(port, "POST", "/orders", headers, body=body).status
            assert status == want, (status, envoy.log()[-2000:])
        assert [s.method for s in upstream.seen] == ["POST"], "only the good token's request went up"
    finally:
        envoy.stop()
        upstream.close()
        jwks.stop()


# JSON tricks that try to pass `delete_repo` off as something the limited caller may call
# (issue 35's attack round: each held; kept as regressions).
HIDDEN = [
    ("a repeated name", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"delete_repo","arguments":{"repo":"x"}}}'),
    ("a repeated method", b'{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"delete_repo","arguments":{"repo":"x"}}}'),
    ("an escaped name", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete\\u005frepo","arguments":{"repo":"x"}}}'),
    ("an escaped method", b'{"jsonrpc":"2.0","id":1,"method":"tools\\/call","params":{"name":"delete_repo","arguments":{"repo":"x"}}}'),
    ("a name in the arguments too", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"search","repo":"x"},"name":"delete_repo"}}'),
    ("a byte order mark", b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","arguments":{"repo":"x"}}}'),
    ("a trailing second message", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"q"}}}{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_repo","arguments":{"repo":"x"}}}'),
    ("a number for the name", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1,"arguments":{"repo":"x"}}}'),
]


@pytest.mark.parametrize("name, body", HIDDEN, ids=[n for n, _ in HIDDEN])
def test_json_tricks_do_not_hide_a_tool(gw, name, body):
    token = gw["as"].token("limited", gw["github"], "tools:search")
    before = len(gw["seen"])
    r = mcp_post(gw, "/github", token, body)
    assert r.status in (400, 403), (name, r.status, r.body)
    assert gw["seen"][before:] == [], "nothing reached the server"
