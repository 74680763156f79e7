"""The attack suite: tokens and credentials built to get past an auth filter. Each must get the
contract's answer, and none may reach upstream."""

import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common import assert_problem, basic
from jwtkit import Keys, b64, claims, hs256_with_secret

KEYS = Keys()
MALLORY = Keys(prefix="")  # an attacker's own keys, with the same kid names

CONFIG = {
    "realm": "api",
    "providers": {
        "idp": {"type": "jwt", "issuer": "https://idp.test", "audiences": ["orders"],
                "local_jwks": KEYS.jwks(["rsa", "p256", "ed"]),
                "claim_to_headers": [{"claim_name": "sub", "header_name": "x-auth-sub"}]},
        "staff": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
        "keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}],
                 "key_sources": [{"header": "x-api-key"}, {"query": "api_key"}]},
    },
    "rules": [{"match": {"prefix": "/jwt"}, "requires": "idp"}],
}

# RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E: no `"`, no `\`.
DESCRIPTION = re.compile(r'error_description="([^"]*)"')
SAFE = re.compile(r'^[\x20\x21\x23-\x5b\x5d-\x7e]*$')


def refused(gw, path, headers, status, error):
    before = len(gw.upstream.seen)
    r = gw.get(path, headers)
    assert len(gw.upstream.seen) == before, "an attack reached upstream"
    assert_problem(r, status, error)
    for challenge in r.all("www-authenticate"):
        for d in DESCRIPTION.findall(challenge):
            assert SAFE.match(d), challenge
    return r


def bearer(token):
    return [("authorization", f"Bearer {token}")]


def unsigned(alg):
    return f"{b64(json.dumps({'alg': alg, 'typ': 'JWT'}))}.{b64(json.dumps(claims()))}."


def pem(key):
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def jwk_bytes(family):
    return json.dumps(KEYS.jwks([family])["keys"][0]).encode()


def nested(depth):
    inner = {}
    for _ in range(depth):
        inner = {"x": inner}
    return inner


TOKENS = [
    *[(f"alg {a}", unsigned(a)) for a in ("none", "None", "NONE", "nOnE")],
    ("alg none with a signature", unsigned("none") + b64(b"sig")),
    ("HS256 with the RSA public key, PEM", hs256_with_secret(pem(KEYS.rsa.public_key()), claims(), {"kid": "rsa"})),
    ("HS256 with the RSA public key, JWK", hs256_with_secret(jwk_bytes("rsa"), claims(), {"kid": "rsa"})),
    ("HS256 with the EC public key, PEM", hs256_with_secret(pem(KEYS.p256.public_key()), claims(), {"kid": "p256"})),
    ("HS256 with the EC public key, JWK", hs256_with_secret(jwk_bytes("p256"), claims(), {"kid": "p256"})),
    ("kid path traversal", KEYS.token("ES256", claims(), header={"kid": "../../../../etc/passwd"})),
    ("kid SQL", KEYS.token("ES256", claims(), header={"kid": "' OR '1'='1' --"})),
    ("kid very long", KEYS.token("ES256", claims(), header={"kid": "k" * 5000})),
    ("kid not a string", KEYS.token("ES256", claims(), header={"kid": {"$ne": 1}})),
    ("jku to the attacker's keys", MALLORY.token("ES256", claims(), header={"jku": "https://evil.test/jwks.json"})),
    ("x5u to the attacker's cert", MALLORY.token("ES256", claims(), header={"x5u": "https://evil.test/cert.pem"})),
    ("x5c with the attacker's cert", MALLORY.token("ES256", claims(), header={"x5c": ["MIIBfake"]})),
    ("embedded jwk of the attacker", MALLORY.token("ES256", claims(), header={"jwk": MALLORY.jwks(["p256"])["keys"][0]})),
    ("nested JWT", KEYS.token("ES256", claims(), header={"cty": "JWT"})),
    ("JWE compact", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y2lwaGVy.dGFn"),
    ("duplicate key in the header", KEYS.token("ES256", raw_header='{"alg":"ES256","kid":"p256","alg":"none"}', claims=claims())),
    ("duplicate key in the claims", KEYS.token("ES256", raw_claims='{"iss":"https://idp.test","aud":"orders","sub":"a","sub":"admin","exp":9999999999}')),
    ("deeply nested claims", KEYS.token("ES256", dict(claims(), deep=nested(300)))),
    ("claims not an object", KEYS.token("ES256", raw_claims='["iss"]')),
    ("header not JSON", "bm90LWpzb24." + b64(json.dumps(claims())) + ".c2ln"),
    ("empty segments", ".."),
    ("signature of another token", KEYS.token("ES256", claims()).rsplit(".", 1)[0] + "." + KEYS.token("ES256", claims(sub="x")).rsplit(".", 1)[1]),
]


@pytest.mark.parametrize("name,token", TOKENS, ids=[t[0] for t in TOKENS])
def test_malicious_tokens(gw, name, token):
    refused(gw, "/jwt", bearer(token), 401, "invalid_credentials")


def test_huge_but_legal_claims_pass_and_oversized_fail(gw):
    before = len(gw.upstream.seen)
    assert gw.get("/jwt", bearer(KEYS.token("ES256", claims(pad="x" * 8000)))).status == 200
    assert len(gw.upstream.seen) == before + 1
    refused(gw, "/jwt", bearer(KEYS.token("ES256", claims(pad="x" * 20000))), 401, "invalid_credentials")


@pytest.mark.parametrize("name,value", [
    ("NUL in the password", basic("bob", b"sec\x00ret")),
    ("non-UTF-8 user", "Basic " + b64(b"\xff\xfe:secret").replace("-", "+").replace("_", "/") + "="),
    ("control character in the user", basic("b\x01ob", "secret")),
    ("no colon", "Basic " + "Ym9i"),
], ids=lambda v: v if " " in v and not v.startswith("Basic") else None)
def test_malformed_basic(gw, name, value):
    refused(gw, "/", [("authorization", value)], 401, "invalid_credentials")


@pytest.mark.parametrize("scheme", ["Вearer", "Bеarer", "Ваsic", "Basic\u200b", "ＢＡＳＩＣ"])
def test_unicode_look_alike_schemes(gw, scheme):
    value = f"{scheme} {b64(b'bob:secret')}".encode()
    refused(gw, "/", [("authorization", value)], 401, "unsupported_scheme")


def test_header_injection_through_a_claim(gw):
    before = len(gw.upstream.seen)
    r = gw.get("/jwt", bearer(KEYS.token("ES256", claims(sub="alice\r\nx-admin: true"))))
    assert r.status == 200 and len(gw.upstream.seen) == before + 1
    seen = gw.upstream.seen[-1]
    assert seen.header("x-auth-sub") is None and seen.header("x-admin") is None


def test_credentials_twice(gw):
    refused(gw, "/", [("authorization", basic("bob", "secret"))] * 2, 400, "invalid_request")
    refused(gw, "/?api_key=k-1", [("x-api-key", "k-1")], 400, "invalid_request")
    refused(gw, "/jwt?x=1", bearer(KEYS.token("ES256", claims())) * 2, 400, "invalid_request")
