"""Key sets as users paste them (RFC 7517 §5): a JWKS copied from an identity provider, with
keys authgate cannot use (X25519, P-192, no `crv`, an encryption algorithm, a post-quantum key
type), loads; Envoy starts, logs one warning per skipped key naming it, and the usable key
verifies tokens. A set whose only keys are unusable, or that holds a private key, is still
refused at load."""

import pytest

from common import allowed, assert_problem, refused, refused_at_load
from jwtkit import Keys, b64, claims

KEYS = Keys()
GOOD = KEYS.jwks(["p256"])["keys"][0]
IDP_STYLE = {"keys": [
    {"kty": "OKP", "crv": "X25519", "use": "sig", "kid": "x25519", "x": b64(bytes(32))},
    {"kty": "EC", "crv": "P-192", "kid": "p192", "x": b64(bytes(24)), "y": b64(bytes(24))},
    {"kty": "EC", "kid": "no-crv", "x": GOOD["x"], "y": GOOD["y"]},
    {"kty": "RSA", "alg": "RSA-OAEP-256", "kid": "oaep", "n": b64(bytes([0xC5]) * 256), "e": "AQAB"},
    {"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq", "pub": b64(bytes(32))},
    GOOD,
]}
CONFIG = {"realm": "api", "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test",
                                                "local_jwks": IDP_STYLE}}}


def test_an_idp_key_set_with_unusable_keys_loads_and_says_what_it_skipped(gw):
    seen = allowed(gw, "/x", [("authorization", "Bearer " + KEYS.token("ES256", claims(aud=None)))])
    assert seen.header("authorization") is None
    log = gw.envoy.log()
    warnings = [l for l in log.splitlines() if "provider idp: local_jwks keys[" in l]
    # One line per skipped key, per VM that configured (Envoy configures a base VM too).
    for kid in ("x25519", "p192", "no-crv", "oaep", "pq"):
        assert any(f'kid "{kid}"' in l and "key skipped" in l for l in warnings), (kid, warnings)
    assert all("[warning]" in l for l in warnings), warnings
    assert_problem(refused(gw, "/x", [("authorization", "Bearer x.y.z")]), 401, "invalid_credentials")


@pytest.mark.parametrize("name,jwks,expected", [
    ("only unusable keys", {"keys": IDP_STYLE["keys"][:2]}, "no usable signature key"),
    ("a private key beside a good one", {"keys": [dict(GOOD, d=b64(bytes(32))), GOOD]}, "private key"),
], ids=["only-unusable", "private-key"])
def test_dangerous_or_empty_sets_are_still_refused(name, jwks, expected):
    plugin = {"providers": {"idp": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": jwks}}}
    line = refused_at_load(plugin)
    assert "providers.idp.local_jwks" in line and expected in line, line


def test_google_x509_key_map_as_local_jwks():
    """`{"<kid>": "-----BEGIN CERTIFICATE-----..."}` (Firebase, Google service accounts): the
    certificate's public key verifies tokens with that `kid`, on the host path and in the module."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    from conftest import close_stack, make_stack
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken")])
    pems = {}
    for kid, key in (("rsa", KEYS.rsa), ("p256", KEYS.p256)):
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(7).not_valid_before(datetime.datetime(2026, 1, 1))
                .not_valid_after(datetime.datetime(2036, 1, 1)).sign(key, hashes.SHA256()))
        pems[kid] = cert.public_bytes(serialization.Encoding.PEM).decode()
    config = {"providers": {"idp": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": pems}}}
    for env in (None, {"AUTHGATE_SIGNATURES": "module"}):
        gw = make_stack(config, extra={"vm_env": env} if env else {})
        try:
            for alg in ("RS256", "ES256"):
                allowed(gw, "/x", [("authorization", "Bearer " + KEYS.token(alg, claims(aud=None)))])
            other = Keys()
            refused(gw, "/x", [("authorization", "Bearer " + other.token("RS256", claims(aud=None), header={"kid": "rsa"}))])
        finally:
            close_stack(gw)


def _short_x_key():
    """A P-256 key whose `x` starts with a zero byte, and its JWK with that byte dropped, as
    some issuers' encoders write it."""
    from cryptography.hazmat.primitives.asymmetric import ec
    while True:
        key = ec.generate_private_key(ec.SECP256R1())
        nums = key.public_key().public_numbers()
        if nums.x < 1 << 248:
            x = nums.x.to_bytes(32, "big")[1:]
            return key, {"kty": "EC", "crv": "P-256", "kid": "short-x", "x": b64(x), "y": b64(nums.y.to_bytes(32, "big"))}


def _es256(key, kid, body):
    import json
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    signing_input = f"{b64(json.dumps({'alg': 'ES256', 'kid': kid}))}.{b64(json.dumps(body))}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_key_sets_as_issuers_publish_them():
    """Issue 21 (jwt_verify_lib's vectors): a malformed member no longer makes the set unusable;
    an EC key without `crv` takes the curve its `alg` fixes; a coordinate whose leading zero
    byte was dropped is padded back; times before 1970 or past 2^63 s are malformed."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from conftest import close_stack, make_stack
    p521 = ec.generate_private_key(ec.SECP521R1()).public_key().public_numbers()
    short_key, short_jwk = _short_x_key()
    jwks = {"keys": [
        {"kty": "EC", "crv": "P-521", "kid": "p521-bad-y", "x": b64(p521.x.to_bytes(66, "big")),
         "y": b64(p521.y.to_bytes(66, "big")[:65])},
        {"kty": "EC", "alg": "ES256", "kid": "no-crv", "x": GOOD["x"], "y": GOOD["y"]},
        short_jwk,
        GOOD,
    ]}
    stack = make_stack({"realm": "api", "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test",
                                                              "local_jwks": jwks}}})
    try:
        for kid in ("no-crv", "p256"):
            allowed(stack, "/x", [("authorization", "Bearer " + KEYS.token("ES256", claims(aud=None), {"kid": kid}))])
        allowed(stack, "/x", [("authorization", "Bearer " + _es256(short_key, "short-x", claims(aud=None)))])
        warnings = [l for l in stack.envoy.log().splitlines() if "provider idp: local_jwks keys[" in l]
        assert warnings and all('kid "p521-bad-y"' in l and "not a point on P-521" in l for l in warnings), warnings
        for name, extra, says in [("negative exp", {"exp": -1}, "`exp` is before 1970"),
                                  ("exp past 2^63", {"exp": 9223372036854775810}, "`exp` is before 1970 or past 2^63 s"),
                                  ("negative nbf", {"nbf": -100}, "`nbf` is before 1970")]:
            r = refused(stack, "/x", [("authorization", "Bearer " + KEYS.token("ES256", claims(aud=None, **extra)))])
            body = assert_problem(r, 401, "invalid_credentials")
            assert says in body["detail"], (name, body)
    finally:
        close_stack(stack)
