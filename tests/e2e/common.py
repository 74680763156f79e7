"""Credentials and helpers shared by the integration tests."""

import base64
import hashlib

# bcrypt cost 4 of "secret" (so cache misses stay cheap in tests) and {SHA} of "secret".
ALICE_BCRYPT = "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm"
BOB_SHA = "bob:{SHA}" + base64.b64encode(hashlib.sha1(b"secret").digest()).decode()


def basic(user, password, scheme="Basic"):
    raw = user.encode() + b":" + (password if isinstance(password, bytes) else password.encode())
    return f"{scheme} {base64.b64encode(raw).decode()}"


def challenges(resp):
    return resp.all("www-authenticate")


def assert_problem(resp, status, error, realm="api"):
    """The contract's body: RFC 9457 problem+json with error, detail, accepted, request_id."""
    assert resp.status == status, (resp.status, resp.body)
    assert resp.header("content-type") == "application/problem+json"
    body = resp.json()
    assert body["status"] == status
    assert body["error"] == error
    assert body["title"] == {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                             429: "Too Many Requests"}[status]
    assert body["type"] == "about:blank"
    assert body["detail"]
    assert body["accepted"] or status == 429, body
    for a in body["accepted"]:
        assert a["scheme"] and a["how"]
    return body


def refused(gw, path, headers=(), method="GET"):
    """Sends a request that the filter must answer itself: it never reaches upstream."""
    before = len(gw.upstream.seen)
    r = gw.get(path, headers, method=method)
    assert len(gw.upstream.seen) == before, "a refused request reached upstream"
    return r


def allowed(gw, path, headers=(), method="GET"):
    """Sends a request that must reach upstream; returns what the upstream saw."""
    before = len(gw.upstream.seen)
    r = gw.get(path, headers, method=method)
    assert r.status == 200, (r.status, r.body)
    assert len(gw.upstream.seen) == before + 1
    return gw.upstream.seen[-1]


def refused_at_load(plugin_config):
    """Starts Envoy with a plugin configuration authgate must refuse: Envoy exits, and its log
    has exactly one `invalid configuration` line, which is returned."""
    from harness import Envoy, Upstream, bootstrap, free_port
    upstream = Upstream()
    envoy = Envoy(bootstrap(plugin_config, free_port(), free_port(), upstream.port))
    try:
        envoy.start()
        assert envoy.exited(timeout=30) not in (None, 0), envoy.log()
        lines = [l for l in envoy.log().splitlines() if "authgate: invalid configuration" in l]
        assert len(lines) == 1, lines
        return lines[0]
    finally:
        envoy.stop()
        upstream.close()
