"""The request's authority through Envoy, with raw requests (an ordinary client sends one Host
line): two `Host` lines, which Envoy's HTTP/1 codec joins into one `a,b` value, once opened a
wildcard host rule (issue 21); RFC 9112 §3.2 makes them, and any invalid Host, a 400. authgate
answers 400 `invalid_request` before any rule decides and nothing reaches upstream. Repeated
lines of another header that `match.headers` reads are matched as one comma-joined value."""

import pytest

from common import allowed
from harness import raw_request

CONFIG = {
    "realm": "api",
    "providers": {"keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]}},
    "rules": [
        {"match": {"prefix": "/", "hosts": ["*.open.example.com"]}, "requires": "none"},
        {"match": {"prefix": "/v2", "headers": [{"name": "x-api-version", "exact": "2"}]}, "requires": "none"},
        {"match": {"prefix": "/"}, "requires": "keys"},
    ],
}


def raw(gw, path, lines):
    head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{l}\r\n" for l in lines) + "connection: close\r\n\r\n"
    before = len(gw.upstream.seen)
    r = raw_request(gw.port, head.encode())
    return r, len(gw.upstream.seen) - before


def test_one_host_opens_the_wildcard_rule(gw):
    r, reached = raw(gw, "/", ["Host: x.open.example.com"])
    assert (r.status, reached) == (200, 1), r.body
    assert gw.upstream.seen[-1].header(":authority") in (None, "x.open.example.com")


@pytest.mark.parametrize("name,lines", [
    ("protected host first", ["Host: internal.example.com", "Host: x.open.example.com"]),
    ("open host first", ["Host: x.open.example.com", "Host: internal.example.com"]),
    ("the same host twice", ["Host: x.open.example.com", "Host: x.open.example.com"]),
])
def test_two_host_lines_are_a_400_and_never_reach_upstream(gw, name, lines):
    r, reached = raw(gw, "/", lines)
    assert reached == 0, name
    assert r.status == 400, (r.status, r.body)
    body = r.json()
    assert body["error"] == "invalid_request" and "Host" in body["detail"], body
    assert r.header("www-authenticate") is None


@pytest.mark.parametrize("name,host,by_authgate", [
    ("a port out of range", "x.open.example.com:99999", True),
    ("an empty host with a port", ":8080", True),
    ("a comma in one line", "x.open.example.com,internal.example.com", True),
    ("userinfo", "user@x.open.example.com", True),
    ("a space", "x.open.example.com internal.example.com", False),
])
def test_an_invalid_host_is_a_400_whoever_answers_it(gw, name, host, by_authgate):
    """Envoy's codec refuses a Host with a space itself; what it lets through, authgate refuses.
    Either way it is a 400 and nothing reaches upstream."""
    r, reached = raw(gw, "/", [f"Host: {host}"])
    assert (r.status, reached) == (400, 0), (name, r.status, r.body)
    if by_authgate:
        assert r.json()["error"] == "invalid_request", r.body


def test_repeated_lines_of_a_matched_header_are_one_joined_value(gw):
    r, reached = raw(gw, "/v2/items", ["Host: api.example.com", "x-api-version: 2"])
    assert (r.status, reached) == (200, 1)
    # Two lines read as "2,2", which is not "2": the next rule decides (a key is needed).
    r, reached = raw(gw, "/v2/items", ["Host: api.example.com", "x-api-version: 2", "x-api-version: 2"])
    assert (r.status, reached) == (401, 0), r.body
    allowed(gw, "/v2/items", [("x-api-key", "k-1")])
