"""Signatures verified by Envoy's own crypto (the `verify_signature` foreign function) for
RS256/384/512 and ES256/384/512, and in the module for the rest — and the same tokens through the
module alone when the VM's environment says `AUTHGATE_SIGNATURES=module`, except ES384 and ES512,
which only the host verifies (their keys are then skipped and their tokens refused). Each path accepts
good tokens, refuses forged ones, says at start which path each algorithm takes, and counts
its checks (`authgate.signatures.host`, `.module`). The native module and the ext_authz service
are their own hosts: there every asymmetric algorithm takes the host's path."""

import time

import pytest

from common import allowed, assert_problem, refused
from conftest import close_stack, make_stack
from harness import ARTIFACT
from jwtkit import Keys, b64, claims

KEYS = Keys()
HOST_ALGS = ["RS256", "RS384", "RS512", "ES256", "ES384"]
HOST_ONLY = ["ES384"]  # and ES512, below: the module has no P-384 or P-521 code
MODULE_ALGS = ["PS256", "PS384", "PS512", "ES256K", "EdDSA", "HS256", "HS512"]
CONFIG = {"realm": "api", "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test",
                                                "local_jwks": KEYS.jwks()}}}


def counters(gw):
    last, deadline = None, time.time() + 5
    while time.time() < deadline:
        time.sleep(0.3)
        now = gw.envoy.stats("wasmcustom.authgate.signatures")
        if now == last:
            return {k.rsplit(".", 1)[1]: v for k, v in now.items()}
        last = now
    return {k.rsplit(".", 1)[1]: v for k, v in last.items()}


def forged(token):
    head, body, sig = token.split(".")
    raw = bytearray(__import__("base64").urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 1
    return f"{head}.{body}.{b64(bytes(raw))}"


@pytest.fixture(params=["host", "module"])
def stack(request):
    env = {"AUTHGATE_SIGNATURES": "module"} if request.param == "module" else None
    gw = make_stack(CONFIG, extra={"vm_env": env} if env else {})
    yield request.param, gw
    close_stack(gw)


def test_each_algorithm_on_each_path(stack):
    path, gw = stack
    for alg in HOST_ALGS + MODULE_ALGS:
        token = KEYS.token(alg, claims(aud=None))
        if path == "module" and alg in HOST_ONLY:
            r = refused(gw, "/x", [("authorization", f"Bearer {token}")])
            assert_problem(r, 401, "invalid_credentials")
            continue
        assert allowed(gw, "/x", [("authorization", f"Bearer {token}")]).header("authorization") is None, alg
        r = refused(gw, "/x", [("authorization", f"Bearer {forged(token)}")])
        assert_problem(r, 401, "invalid_credentials")
        assert "invalid signature" in r.json()["detail"], (alg, r.json()["detail"])
    c = counters(gw)
    # Each algorithm: one good token and one forged one.
    if path == "host" and ARTIFACT in ("native", "service"):
        # The native module and the service are their own hosts: every asymmetric algorithm,
        # by ring and p521.
        native = [a for a in MODULE_ALGS if a not in ("ES256K", "HS256", "HS512")]
        assert (c["host"], c["module"]) == (2 * (len(HOST_ALGS) + len(native)), 2 * (len(MODULE_ALGS) - len(native))), c
        line = "signatures: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA Ed25519 verified natively"
    elif path == "host":
        assert (c["host"], c["module"]) == (2 * len(HOST_ALGS), 2 * len(MODULE_ALGS)), c
        line = "signatures: RS256 RS384 RS512 ES256 ES384 ES512 verified by the host"
    else:
        assert (c["host"], c["module"]) == (0, 2 * (len(HOST_ALGS) - len(HOST_ONLY) + len(MODULE_ALGS))), c
        line = "signatures: every algorithm verified in the module but ES384 ES512, which only the host verifies"
        assert 'kid "p384"' in gw.envoy.log() and 'curve "P-384" (ES384) is verified only by the host' in gw.envoy.log()
    assert line in gw.envoy.log()


def test_a_signature_of_the_wrong_length_never_reaches_the_host(stack):
    _, gw = stack
    head, body, sig = KEYS.token("ES256", claims(aud=None)).split(".")
    for bad in (sig[:-4], sig + "AAAA", ""):
        r = refused(gw, "/x", [("authorization", f"Bearer {head}.{body}.{bad}")])
        assert_problem(r, 401, "invalid_credentials")


def es512_token(key, kid="p521"):
    import json
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    head = b64(json.dumps({"alg": "ES512", "kid": kid}))
    body = b64(json.dumps(claims(aud=None)))
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA512())))
    return f"{head}.{body}.{b64(r.to_bytes(66, 'big') + s.to_bytes(66, 'big'))}"


def test_es512_through_the_host_and_a_clear_skip_without_it():
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP521R1())
    nums = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-521", "kid": "p521",
           "x": b64(nums.x.to_bytes(66, "big")), "y": b64(nums.y.to_bytes(66, "big"))}
    config = {"realm": "api", "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test",
              "local_jwks": {"keys": [jwk, KEYS.jwks(["p256"])["keys"][0]]}}}}
    token = es512_token(key)
    gw = make_stack(config)
    try:
        allowed(gw, "/x", [("authorization", f"Bearer {token}")])
        r = refused(gw, "/x", [("authorization", f"Bearer {forged(token)}")])
        assert_problem(r, 401, "invalid_credentials")
        assert counters(gw)["host"] == 2
    finally:
        close_stack(gw)
    gw = make_stack(config, extra={"vm_env": {"AUTHGATE_SIGNATURES": "module"}})
    try:
        r = refused(gw, "/x", [("authorization", f"Bearer {token}")])
        assert_problem(r, 401, "invalid_credentials")
        assert 'kid "p521"' in gw.envoy.log() and "verified only by the host" in gw.envoy.log()
    finally:
        close_stack(gw)
