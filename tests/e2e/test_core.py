"""Basic and API keys through real Envoy: every contract reply row, rules, spoofing, and what
the upstream does (and never does) receive."""

import hashlib

import pytest

from common import ALICE_BCRYPT, BOB_SHA, allowed, assert_problem, basic, challenges, refused

CONFIG = {
    "realm": "api",
    "providers": {
        "staff": {"type": "basic", "htpasswd": f"{ALICE_BCRYPT}\n{BOB_SHA}\n",
                  "forward_username_header": "x-auth-user"},
        "partners": {"type": "api_key",
                     "credentials": [{"client": "acme", "key": "k-1"},
                                     {"client": "globex", "key_sha256": hashlib.sha256(b"k-2").hexdigest()}],
                     "key_sources": [{"header": "x-api-key"}, {"query": "api_key"}, {"cookie": "api_key"}],
                     "forward_client_header": "x-auth-client"},
        "svc": {"type": "api_key", "credentials": [{"client": "batch", "key": "s-1"}],
                "key_sources": [{"query": "svc_key"}, {"header": "x-svc-key"}, {"cookie": "svc"}],
                "hide_credentials": True, "forward_client_header": "x-auth-svc"},
        "ops": {"type": "basic", "htpasswd": BOB_SHA, "hide_credentials": True},
    },
    "rules": [
        {"match": {"prefix": "/healthz"}, "requires": "none"},
        {"match": {"prefix": "/admin", "methods": ["POST", "DELETE"]}, "requires": {"all": ["staff", "partners"]}},
        {"match": {"prefix": "/keys"}, "requires": "partners"},
        {"match": {"prefix": "/svc"}, "requires": "svc"},
        {"match": {"prefix": "/ops"}, "requires": "ops"},
        {"match": {"path": "/public/feed"}, "requires": {"any": ["partners", "staff"], "allow_missing": True}},
        {"match": {"prefix": "/"}, "requires": {"any": ["staff", "partners"]}},
    ],
}

BASIC = 'Basic realm="api", charset="UTF-8"'
APIKEY = 'ApiKey realm="api", in="header", name="x-api-key"'


# --- the contract's reply table -------------------------------------------------------------

def test_missing_credentials(gw):
    r = refused(gw, "/orders", [("x-request-id", "req-123")])
    body = assert_problem(r, 401, "missing_credentials")
    # One challenge per scheme the rule accepts, in the rule's order, no error attribute.
    assert challenges(r) == [BASIC, APIKEY]
    assert body["request_id"] == "req-123"
    assert [a["scheme"] for a in body["accepted"]] == ["Basic", "ApiKey"]
    assert r.header("cache-control") == "no-store"


@pytest.mark.parametrize("name,headers,path", [
    ("bcrypt wrong password", [("authorization", basic("alice", "nope"))], "/x"),
    ("sha wrong password", [("authorization", basic("bob", "nope"))], "/x"),
    ("unknown user", [("authorization", basic("mallory", "secret"))], "/x"),
    ("unknown key in header", [("x-api-key", "k-9")], "/x"),
    ("unknown key in query", [], "/x?api_key=k-9"),
    ("unknown key in cookie", [("cookie", "a=1; api_key=k-9")], "/x"),
    ("basic not base64", [("authorization", "Basic !!!")], "/x"),
    ("basic without colon", [("authorization", "Basic " + "YWxpY2U=")], "/x"),
    ("oversized basic", [("authorization", "Basic " + "QUFB" * 3000)], "/x"),
    ("oversized key", [("x-api-key", "k" * 5000)], "/x"),
    ("non-UTF-8 in basic credentials", [("authorization", basic("bob", b"\xff\xfe"))], "/x"),
    ("non-UTF-8 bytes in the key header", [("x-api-key", b"k-1\xff")], "/x"),
    ("NUL inside decoded basic", [("authorization", basic("bob", b"sec\x00ret"))], "/x"),
], ids=lambda v: v if isinstance(v, str) and not v.startswith("/") else None)
def test_invalid_credentials(gw, name, headers, path):
    r = refused(gw, path, headers)
    body = assert_problem(r, 401, "invalid_credentials")
    assert challenges(r) == [BASIC, APIKEY]
    for _, v in headers:
        v = v.decode("latin-1") if isinstance(v, bytes) else v
        if " " in v:
            secret = v.split(" ", 1)[1]
            assert secret not in r.body.decode("latin-1"), "credential echoed in the body"
    assert "k-9" not in r.body.decode()
    assert body["detail"]


@pytest.mark.parametrize("scheme", ["Bearer abc.def.ghi", "Digest username=\"a\", realm=\"b\"", "Negotiate YII=", "ApiKey k-1"])
def test_unsupported_scheme(gw, scheme):
    r = refused(gw, "/x", [("authorization", scheme)])
    assert_problem(r, 401, "unsupported_scheme")
    assert challenges(r) == [BASIC, APIKEY]


def test_basic_scheme_not_accepted_on_key_route(gw):
    r = refused(gw, "/keys/1", [("authorization", basic("bob", "secret"))])
    assert_problem(r, 401, "unsupported_scheme")
    assert challenges(r) == [APIKEY]


@pytest.mark.parametrize("name,path,headers", [
    ("two authorization headers", "/x", [("authorization", basic("bob", "secret")), ("authorization", basic("bob", "secret"))]),
    ("basic and bearer", "/x", [("authorization", basic("bob", "secret")), ("authorization", "Bearer x")]),
    ("key in header and query", "/x?api_key=k-1", [("x-api-key", "k-1")]),
    ("key in query and cookie", "/x?api_key=k-1", [("cookie", "api_key=k-1")]),
    ("key header twice", "/x", [("x-api-key", "k-1"), ("x-api-key", "k-1")]),
    ("key query param twice", "/x?api_key=k-1&api_key=k-2", []),
    ("key cookie twice", "/x", [("cookie", "api_key=k-1; api_key=k-2")]),
], ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_invalid_request(gw, name, path, headers):
    r = refused(gw, path, headers)
    assert_problem(r, 400, "invalid_request")
    assert challenges(r) == [BASIC, APIKEY]


# --- credentials that pass -------------------------------------------------------------------

@pytest.mark.parametrize("name,path,headers,identity", [
    ("bcrypt", "/x", [("authorization", basic("alice", "secret"))], ("x-auth-user", "alice")),
    ("bcrypt again (cached)", "/x", [("authorization", basic("alice", "secret"))], ("x-auth-user", "alice")),
    ("sha", "/x", [("authorization", basic("bob", "secret"))], ("x-auth-user", "bob")),
    ("scheme in odd case", "/x", [("authorization", basic("bob", "secret", scheme="bAsIc"))], ("x-auth-user", "bob")),
    ("password with colons", "/x", [("authorization", basic("bob", "secret"))], ("x-auth-user", "bob")),
    ("key header", "/x", [("x-api-key", "k-1")], ("x-auth-client", "acme")),
    ("key by sha256", "/x", [("x-api-key", "k-2")], ("x-auth-client", "globex")),
    ("key query", "/x?a=1&api_key=k-1", [], ("x-auth-client", "acme")),
    ("key query percent-encoded", "/x?api_key=k%2D1", [], ("x-auth-client", "acme")),
    ("key cookie", "/x", [("cookie", "theme=dark; api_key=k-1")], ("x-auth-client", "acme")),
    ("one good credential is enough for any", "/x", [("authorization", "Digest a=1"), ("x-api-key", "k-1")], ("x-auth-client", "acme")),
], ids=lambda v: v if isinstance(v, str) and not v.startswith("/") else None)
def test_valid_credentials(gw, name, path, headers, identity):
    seen = allowed(gw, path, headers)
    assert seen.header(identity[0]) == identity[1]
    # Without hide_credentials the credential goes upstream as sent, like Envoy's filters.
    if any(k == "authorization" for k, _ in headers):
        assert seen.header("authorization") is not None


def test_hide_credentials_removes_them_before_upstream(gw):
    seen = allowed(gw, "/svc/run?x=1&svc_key=s-1&y=2")
    assert seen.path == "/svc/run?x=1&y=2"
    assert seen.header("x-auth-svc") == "batch"
    seen = allowed(gw, "/svc/run", [("x-svc-key", "s-1")])
    assert seen.header("x-svc-key") is None
    seen = allowed(gw, "/svc/run", [("cookie", "a=1; svc=s-1; b=2")])
    assert seen.header("cookie") == "a=1; b=2"
    seen = allowed(gw, "/ops", [("authorization", basic("bob", "secret"))])
    assert seen.header("authorization") is None


# --- rules ---------------------------------------------------------------------------------

def test_none_rule_needs_nothing(gw):
    allowed(gw, "/healthz")


def test_all_requires_every_provider(gw):
    both = [("authorization", basic("bob", "secret")), ("x-api-key", "k-1")]
    seen = allowed(gw, "/admin/users", both, method="POST")
    assert (seen.header("x-auth-user"), seen.header("x-auth-client")) == ("bob", "acme")
    r = refused(gw, "/admin/users", both[:1], method="POST")
    assert_problem(r, 401, "missing_credentials")
    r = refused(gw, "/admin/users", [both[0], ("x-api-key", "wrong")], method="DELETE")
    assert_problem(r, 401, "invalid_credentials")


def test_methods_outside_the_rule_fall_through(gw):
    # GET /admin is not the POST/DELETE rule: the catch-all (any) decides.
    allowed(gw, "/admin/users", [("authorization", basic("bob", "secret"))])


def test_rule_order_first_match_wins(gw):
    # /healthz comes before the catch-all, /keys before it too and is stricter.
    allowed(gw, "/healthz/deep")
    assert refused(gw, "/keys", [("authorization", basic("bob", "secret"))]).status == 401


def test_allow_missing(gw):
    allowed(gw, "/public/feed")
    seen = allowed(gw, "/public/feed", [("x-api-key", "k-1")])
    assert seen.header("x-auth-client") == "acme"
    assert_problem(refused(gw, "/public/feed", [("x-api-key", "bad")]), 401, "invalid_credentials")
    assert_problem(refused(gw, "/public/feed/more"), 401, "missing_credentials")  # exact path only


def test_cors_preflight(gw):
    preflight = [("origin", "https://app.example"), ("access-control-request-method", "POST")]
    seen = allowed(gw, "/orders", preflight, method="OPTIONS")
    assert seen.method == "OPTIONS"
    assert_problem(refused(gw, "/orders", preflight[:1], method="OPTIONS"), 401, "missing_credentials")


def test_path_is_matched_after_envoy_normalises_it(gw):
    # //healthz and /a/../healthz are /healthz once Envoy normalises (as the README advises).
    allowed(gw, "//healthz")
    allowed(gw, "/a/../healthz")
    assert refused(gw, "/healthz/../orders").status == 401


# --- spoofing ------------------------------------------------------------------------------

def test_identity_headers_cannot_be_forged(gw):
    forged = [("x-auth-user", "root"), ("x-auth-client", "root"), ("x-auth-svc", "root")]
    seen = allowed(gw, "/healthz", forged)
    assert [seen.header(h) for h in ("x-auth-user", "x-auth-client", "x-auth-svc")] == [None, None, None]
    seen = allowed(gw, "/x", forged + [("x-api-key", "k-1")])
    assert seen.all("x-auth-client") == ["acme"]
    assert seen.header("x-auth-user") is None
    seen = allowed(gw, "/x", [("X-Auth-User", "root"), ("authorization", basic("bob", "secret"))])
    assert seen.all("x-auth-user") == ["bob"]


def test_credentials_never_logged(gw):
    gw.get("/x", [("authorization", basic("alice", "hunter2-wrong"))])
    gw.get("/x", [("x-api-key", "leaky-key-123")])
    log = gw.envoy.log()
    assert "hunter2" not in log and "leaky-key-123" not in log
    assert basic("alice", "hunter2-wrong").split()[1] not in log
