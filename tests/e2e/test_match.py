"""Rules that match on host and headers, through Envoy: exact and wildcard hosts (a port,
upper case, an IPv6 authority, the bare domain and a look-alike that only ends like the
suffix), each header matcher and `invert`, a host rule that wins over a later catch-all, and
matches that cannot work refused at load naming the field."""

import pytest

from common import allowed, challenges, refused, refused_at_load

KEYS = {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]}
STAFF = {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="}
CONFIG = {
    "realm": "api",
    "providers": {"keys": KEYS, "staff": STAFF},
    "rules": [
        {"match": {"prefix": "/admin", "hosts": ["shop.example.com"]}, "requires": "staff"},
        {"match": {"prefix": "/admin", "hosts": ["*.internal.example.com"]}, "requires": "keys"},
        {"match": {"prefix": "/v6", "hosts": ["[::1]"]}, "requires": "keys"},
        {"match": {"prefix": "/v2", "headers": [{"name": "x-api-version", "exact": "2"}]}, "requires": "keys"},
        {"match": {"prefix": "/tenant", "headers": [{"name": "x-tenant", "present": True}]}, "requires": "keys"},
        {"match": {"prefix": "/env", "headers": [{"name": "x-env", "prefix": "prod"}]}, "requires": "staff"},
        {"match": {"prefix": "/inv", "headers": [{"name": "x-env", "prefix": "prod", "invert": True}]}, "requires": "keys"},
        {"match": {"prefix": "/"}, "requires": "none"},
    ],
}

BASIC = 'Basic realm="api", charset="UTF-8"'
APIKEY = 'ApiKey realm="api", in="header", name="x-api-key"'


@pytest.mark.parametrize("host,want", [
    ("shop.example.com", [BASIC]),
    ("SHOP.Example.COM:8080", [BASIC]),
    ("a.internal.example.com", [APIKEY]),
    ("a.b.internal.example.com:443", [APIKEY]),
    ("internal.example.com", None),          # the wildcard is not the bare domain
    ("evilinternal.example.com", None),      # nor a name that only ends like it
    ("example.com", None),
])
def test_hosts(gw, host, want):
    headers = [("host", host)]
    if want is None:
        allowed(gw, "/admin", headers)  # the catch-all comes later and is open
        return
    r = refused(gw, "/admin", headers)
    assert r.status == 401 and challenges(r) == want, (host, r.status, challenges(r))


def test_an_ipv6_authority(gw):
    r = refused(gw, "/v6", [("host", "[::1]:8080")])
    assert r.status == 401 and challenges(r) == [APIKEY]
    allowed(gw, "/v6", [("host", "[::2]:8080")])


@pytest.mark.parametrize("path,headers,protected", [
    ("/v2", [("x-api-version", "2")], True),
    ("/v2", [("x-api-version", "20")], False),
    ("/v2", [], False),
    ("/tenant", [("x-tenant", "acme")], True),
    ("/tenant", [], False),
    ("/env", [("x-env", "production")], True),
    ("/env", [("x-env", "staging")], False),
    ("/inv", [("x-env", "staging")], True),
    ("/inv", [], True),
    ("/inv", [("x-env", "prod-eu")], False),
])
def test_header_matchers(gw, path, headers, protected):
    if protected:
        assert refused(gw, path, headers).status == 401
    else:
        allowed(gw, path, headers)


@pytest.mark.parametrize("matcher,field", [
    ({"prefix": "/", "hosts": []}, "rules[0].match.hosts: must not be empty"),
    ({"prefix": "/", "hosts": ["api.*.example.com"]}, "rules[0].match.hosts[0]: a wildcard is allowed only as the first label"),
    ({"prefix": "/", "headers": [{"name": "x-v", "exact": "1", "present": True}]}, "rules[0].match.headers[0]: needs exactly one of"),
    ({"prefix": "/", "headers": [{"name": ":path", "prefix": "/a"}]}, "rules[0].match.headers[0].name: `:path` cannot be matched"),
])
def test_matches_that_cannot_work_are_refused_at_load(matcher, field):
    line = refused_at_load({"providers": {"keys": KEYS}, "rules": [{"match": matcher, "requires": "keys"}]})
    assert field in line, line
