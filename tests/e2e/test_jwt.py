"""JWTs through real Envoy with a local JWKS: every algorithm, every claim rule, the attacks
that must fail, scopes, forwarding — each refused with the contract's status, error and
challenge, and never reaching upstream."""

import json
import time

import pytest

from common import allowed, assert_problem, basic, refused
from jwtkit import ALGS, Keys, b64, claims, hs256_with_secret

KEYS = Keys()
OTHER = Keys(prefix="other-")

CONFIG = {
    "realm": "api",
    "providers": {
        "idp": {"type": "jwt", "issuer": "https://idp.test", "audiences": ["orders"],
                "local_jwks": KEYS.jwks(), "max_lifetime_seconds": 86400,
                "forward_payload_header": "x-jwt-payload",
                "claim_to_headers": [{"claim_name": "sub", "header_name": "x-auth-sub"},
                                     {"claim_name": "groups", "header_name": "x-auth-groups"},
                                     {"claim_name": "org.id", "header_name": "x-auth-org"},
                                     {"claim_name": "org", "header_name": "x-auth-org-json"},
                                     {"claim_name": "admin", "header_name": "x-auth-admin"},
                                     {"claim_name": "level", "header_name": "x-auth-level"},
                                     {"claim_name": "note", "header_name": "x-auth-note"}]},
        # Same token shape, other issuer and keys: picked by `iss`.
        "partner-idp": {"type": "jwt", "issuer": "https://partner.test", "local_jwks": json.dumps(OTHER.jwks()),
                        "claim_to_headers": [{"claim_name": "sub", "header_name": "x-partner-sub"}]},
        # Several sources, forwarded as is.
        "multi": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": KEYS.jwks(["p256"]),
                  "from_headers": [{"name": "x-token", "value_prefix": "Bearer "}],
                  "from_params": ["access_token"], "from_cookies": ["session"], "forward": True},
        # Several sources, hidden from upstream (the default).
        "hidden": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": KEYS.jwks(["p256"]),
                   "from_params": ["access_token"], "from_cookies": ["session"]},
        "staff": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
    },
    "rules": [
        {"match": {"prefix": "/orders"}, "requires": "idp", "scopes": ["orders:read"]},
        {"match": {"prefix": "/partners"}, "requires": {"any": ["idp", "partner-idp"]}},
        {"match": {"prefix": "/multi"}, "requires": "multi"},
        {"match": {"prefix": "/hidden"}, "requires": "hidden"},
        {"match": {"prefix": "/jwt-only"}, "requires": "idp"},
        {"match": {"prefix": "/"}, "requires": {"any": ["idp", "staff"]}},
    ],
}

BEARER = 'Bearer realm="api"'


def bearer(token):
    return [("authorization", f"Bearer {token}")]


@pytest.mark.parametrize("alg", ALGS)
def test_every_algorithm_is_accepted(gw, alg):
    token = KEYS.token(alg, claims())
    seen = allowed(gw, "/jwt-only", bearer(token))
    assert seen.header("x-auth-sub") == "alice"
    assert seen.header("authorization") is None, "the token must not go upstream by default"
    assert seen.header("x-jwt-payload") == token.split(".")[1]
    # Again: served from the verified-token cache, same result.
    assert allowed(gw, "/jwt-only", bearer(token)).header("x-auth-sub") == "alice"


def test_bearer_scheme_is_case_insensitive(gw):
    allowed(gw, "/jwt-only", [("authorization", "bEARER " + KEYS.token("ES256", claims()))])


def test_missing_token(gw):
    r = refused(gw, "/jwt-only")
    assert_problem(r, 401, "missing_credentials")
    assert r.all("www-authenticate") == [BEARER]


def test_basic_on_a_jwt_route_is_an_unsupported_scheme(gw):
    r = refused(gw, "/jwt-only", [("authorization", basic("bob", "secret"))])
    assert_problem(r, 401, "unsupported_scheme")
    assert r.all("www-authenticate") == [BEARER]


def test_expired(gw):
    now = int(time.time())
    r = refused(gw, "/jwt-only", bearer(KEYS.token("ES256", claims(iat=now - 7200, exp=now - 120))))
    body = assert_problem(r, 401, "token_expired")
    assert r.all("www-authenticate") == [
        'Bearer realm="api", error="invalid_token", error_description="the token has expired"']
    assert "expired" in body["detail"]
    # Within the default 60 s of clock skew it still passes.
    allowed(gw, "/jwt-only", bearer(KEYS.token("ES256", claims(iat=now - 7200, exp=now - 30))))


def forged(token, segment, value):
    parts = token.split(".")
    parts[segment] = value
    return ".".join(parts)


T = lambda **kw: KEYS.token("ES256", claims(**kw))  # noqa: E731
NOW = int(time.time())
INVALID = [
    ("not yet valid", lambda: T(nbf=NOW + 3600), "token not yet valid"),
    ("wrong issuer", lambda: T(iss="https://evil.test"), "issuer not accepted"),
    ("wrong audience", lambda: T(aud=["billing"]), "audience not accepted"),
    ("exp beyond max lifetime", lambda: T(lifetime=2 * 86400), "token lifetime exceeds the maximum"),
    ("string exp", lambda: KEYS.token("ES256", dict(claims(), exp=str(NOW + 600))), "`exp` is not a number"),
    # RFC 7519 §4.1.2, §4.1.7 (jwt_verify_lib refuses these too: JwtPayloadParseError*NotString).
    ("numeric sub", lambda: T(sub=1234), "`sub` is not a string"),
    ("object sub", lambda: KEYS.token("ES256", dict(claims(), sub={"id": "a"})), "`sub` is not a string"),
    ("numeric jti", lambda: KEYS.token("ES256", dict(claims(), jti=7)), "`jti` is not a string"),
    ("tampered claims", lambda: forged(T(), 1, b64(json.dumps(claims(sub="mallory")))), "invalid signature"),
    ("tampered signature", lambda: forged(T(), 2, b64(b"\x00" * 64)), "invalid signature"),
    ("alg none", lambda: f"{b64(json.dumps({'alg': 'none'}))}.{b64(json.dumps(claims()))}.", "unsigned tokens (alg none) are not accepted"),
    ("alg None with a signature", lambda: forged(T(), 0, b64(json.dumps({"alg": "None", "kid": "p256"}))), "unsigned tokens (alg none) are not accepted"),
    ("HS256 signed with the RSA public key (PEM)", lambda: hs256_with_secret(KEYS.rsa_public_pem(), claims(), {"kid": "rsa"}), "no key for the token's algorithm"),
    ("HS256 signed with the RSA public key (JWK n)", lambda: hs256_with_secret(json.dumps(KEYS.jwks(["rsa"])["keys"][0]).encode(), claims(), {"kid": "rsa"}), "no key for the token's algorithm"),
    ("unknown kid", lambda: KEYS.token("ES256", claims(), header={"kid": "no-such-key"}), "unknown key id"),
    ("kid of another key type", lambda: KEYS.token("ES256", claims(), header={"kid": "ed"}), "no key for the token's algorithm"),
    ("crit", lambda: KEYS.token("ES256", claims(), header={"crit": ["urn:x"], "urn:x": 1}), "token uses a critical header extension that is not supported"),
    ("signed by a stranger", lambda: OTHER.token("ES256", claims(), header={"kid": "p256"}), "invalid signature"),
    ("garbage", lambda: "not-a-jwt", "malformed token"),
    ("JWE", lambda: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "encrypted tokens (JWE) are not accepted"),
    ("duplicate claim", lambda: KEYS.token("ES256", raw_claims='{"iss":"https://idp.test","aud":"orders","exp":%d,"sub":"a","sub":"b"}' % (NOW + 600)), "malformed token claims"),
    ("oversized", lambda: KEYS.token("ES256", claims(pad="x" * 20000)), "token too large"),
]


@pytest.mark.parametrize("name,make,why", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_tokens(gw, name, make, why):
    token = make()
    r = refused(gw, "/jwt-only", bearer(token))
    body = assert_problem(r, 401, "invalid_credentials")
    assert r.all("www-authenticate") == [
        f'Bearer realm="api", error="invalid_token", error_description="{why}"']
    assert why in body["detail"]
    text = r.body.decode() + json.dumps(r.headers)
    assert all(part not in text for part in token.split(".") if len(part) > 8), "token echoed"


def test_token_sent_two_ways_is_a_bad_request(gw):
    token = KEYS.token("ES256", claims())
    r = refused(gw, f"/multi?access_token={token}", [("x-token", f"Bearer {token}")])
    assert_problem(r, 400, "invalid_request")
    assert r.all("www-authenticate")[0].startswith('Bearer realm="api", error="invalid_request"')
    r = refused(gw, f"/hidden?access_token={token}", [("cookie", f"session={token}")])
    assert_problem(r, 400, "invalid_request")


def test_two_authorization_headers(gw):
    token = KEYS.token("ES256", claims())
    r = refused(gw, "/jwt-only", bearer(token) + bearer(token))
    assert_problem(r, 400, "invalid_request")


# --- scopes -----------------------------------------------------------------------------------

def test_missing_scope_is_403(gw):
    r = refused(gw, "/orders", bearer(KEYS.token("ES256", claims(scope="profile"))))
    body = assert_problem(r, 403, "insufficient_scope")
    assert r.all("www-authenticate") == ['Bearer realm="api", error="insufficient_scope", scope="orders:read"']
    assert body["required_scopes"] == "orders:read"


@pytest.mark.parametrize("grant", [{"scope": "profile orders:read"}, {"scp": ["orders:read"]}])
def test_scope_granted(gw, grant):
    allowed(gw, "/orders", bearer(KEYS.token("ES256", claims(**grant))))


# --- forwarding -------------------------------------------------------------------------------

def test_claims_to_headers(gw):
    token = KEYS.token("RS256", claims(groups=["admins", "ops"], org={"id": 7, "name": "acme"},
                                       admin=True, level=3))
    seen = allowed(gw, "/jwt-only", bearer(token) + [("x-auth-sub", "root"), ("x-auth-admin", "true")])
    assert seen.all("x-auth-sub") == ["alice"]
    assert seen.header("x-auth-groups") == "admins,ops"
    assert seen.header("x-auth-org") == "7"
    assert json.loads(seen.header("x-auth-org-json")) == {"id": 7, "name": "acme"}
    assert seen.header("x-auth-admin") == "true"
    assert seen.header("x-auth-level") == "3"


def test_header_injection_through_a_claim_is_dropped(gw):
    seen = allowed(gw, "/jwt-only", bearer(KEYS.token("ES256", claims(note="ok\r\nx-admin: 1"))))
    assert seen.header("x-auth-note") is None
    assert seen.header("x-admin") is None


def test_spoofed_identity_headers_are_removed_without_a_token(gw):
    seen = allowed(gw, "/", [("authorization", basic("bob", "secret")), ("x-auth-sub", "root"),
                             ("x-jwt-payload", "forged"), ("x-partner-sub", "root")])
    assert [seen.header(h) for h in ("x-auth-sub", "x-jwt-payload", "x-partner-sub")] == [None, None, None]


def test_forward_true_keeps_the_token_and_sources_work(gw):
    token = KEYS.token("ES256", claims())
    assert allowed(gw, "/multi", [("x-token", f"Bearer {token}")]).header("x-token") == f"Bearer {token}"
    assert allowed(gw, f"/multi?access_token={token}").path == f"/multi?access_token={token}"
    assert allowed(gw, "/multi", [("cookie", f"session={token}")]).header("cookie") == f"session={token}"


def test_forward_false_removes_the_token_from_every_source(gw):
    token = KEYS.token("ES256", claims())
    assert allowed(gw, f"/hidden?a=1&access_token={token}").path == "/hidden?a=1"
    assert allowed(gw, "/hidden", [("cookie", f"theme=dark; session={token}")]).header("cookie") == "theme=dark"


def test_providers_are_picked_by_issuer(gw):
    seen = allowed(gw, "/partners", bearer(OTHER.token("EdDSA", claims(iss="https://partner.test", aud=None))))
    assert seen.header("x-partner-sub") == "alice"
    seen = allowed(gw, "/partners", bearer(KEYS.token("EdDSA", claims())))
    assert seen.header("x-auth-sub") == "alice"
    r = refused(gw, "/partners", bearer(OTHER.token("EdDSA", claims(iss="https://nobody.test"))))
    assert_problem(r, 401, "invalid_credentials")
