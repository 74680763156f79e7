"""Error attributes go only on the challenge of the scheme whose credential failed (RFC 6750
§3: `error` and `error_description` describe an access token). On a route that takes JWTs,
API keys and Basic, a wrong password or key must not tell an OAuth client that its token is
bad; a bad token must. The problem body keeps the error code either way."""

import pytest

from common import assert_problem, basic, challenges, refused
from jwtkit import Keys, b64, claims

KEYS = Keys()

CONFIG = {
    "realm": "api",
    "providers": {
        "idp": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": KEYS.jwks(["p256"])},
        "keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]},
        "staff": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
    },
    "rules": [
        {"match": {"prefix": "/scoped"}, "requires": {"any": ["idp", "staff"]}, "scopes": ["read"]},
        {"match": {"prefix": "/"}, "requires": {"any": ["idp", "keys", "staff"]}},
    ],
}

BEARER = 'Bearer realm="api"'
APIKEY = 'ApiKey realm="api", in="header", name="x-api-key"'
BASIC = 'Basic realm="api", charset="UTF-8"'


def tampered_token():
    head, body, _ = KEYS.token("ES256", claims(aud=None)).split(".")
    return f"{head}.{body}.{b64(bytes(64))}"


def expired_token():
    return KEYS.token("ES256", claims(aud=None, lifetime=-3600))


CASES = [
    # (name, path, headers, status, error, challenges)
    ("wrong Basic password", "/x", [("authorization", basic("bob", "wrong"))], 401, "invalid_credentials",
     [BEARER, APIKEY, BASIC]),
    ("unknown API key", "/x", [("x-api-key", "nope")], 401, "invalid_credentials", [BEARER, APIKEY, BASIC]),
    ("API key sent twice", "/x", [("x-api-key", "k-1"), ("x-api-key", "k-1")], 400, "invalid_request",
     [BEARER, APIKEY, BASIC]),
    ("tampered token", "/x", [("authorization", "Bearer " + tampered_token())], 401, "invalid_credentials",
     [BEARER + ', error="invalid_token", error_description="invalid signature"', APIKEY, BASIC]),
    ("expired token", "/x", [("authorization", "Bearer " + expired_token())], 401, "token_expired",
     [BEARER + ', error="invalid_token", error_description="the token has expired"', APIKEY, BASIC]),
    ("two Authorization headers", "/x", [("authorization", basic("bob", "secret")),
                                         ("authorization", basic("bob", "secret"))], 400, "invalid_request",
     [BEARER + ', error="invalid_request", error_description="more than one Authorization header was sent"',
      APIKEY, BASIC]),
    ("Basic user short of scope", "/scoped", [("authorization", basic("bob", "secret"))], 403,
     "insufficient_scope", [BEARER + ', error="insufficient_scope", scope="read"']),
    ("nothing sent", "/x", [], 401, "missing_credentials", [BEARER, APIKEY, BASIC]),
    # An empty shell variable: the scheme is one the route takes, the credential is missing.
    ("Bearer with nothing after it", "/x", [("authorization", "Bearer")], 401, "missing_credentials",
     [BEARER, APIKEY, BASIC]),
    ("Bearer and a space", "/x", [("authorization", "Bearer ")], 401, "missing_credentials",
     [BEARER, APIKEY, BASIC]),
    ("Basic with nothing after it", "/x", [("authorization", "basic")], 401, "missing_credentials",
     [BEARER, APIKEY, BASIC]),
]


@pytest.mark.parametrize("name,path,headers,status,error,want", CASES, ids=[c[0] for c in CASES])
def test_error_attributes_only_on_the_failed_scheme(gw, name, path, headers, status, error, want):
    r = refused(gw, path, headers)
    body = assert_problem(r, status, error)
    assert challenges(r) == want
    if headers and headers[0][1].strip().lower() in ("bearer", "basic"):
        assert "holds no credential" in body["detail"], body


def test_empty_bearer_with_a_valid_key_passes(gw):
    """An empty `Authorization: Bearer` does not block a valid API key on an `any` route."""
    assert gw.get("/x", [("authorization", "Bearer"), ("x-api-key", "k-1")]).status == 200
