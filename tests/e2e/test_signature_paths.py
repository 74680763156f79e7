"""Signatures verified by Envoy's own crypto (the `verify_signature` foreign function) for
RS256/384/512 and ES256/384, and in the module for the rest — and the same tokens through the
module alone when the VM's environment says `AUTHGATE_SIGNATURES=module`. Each path accepts
good tokens, refuses forged ones, says at start which path each algorithm takes, and counts
its checks (`authgate.signatures.host`, `.module`)."""

import time

import pytest

from common import allowed, assert_problem, refused
from conftest import close_stack, make_stack
from jwtkit import Keys, b64, claims

KEYS = Keys()
HOST_ALGS = ["RS256", "RS384", "RS512", "ES256", "ES384"]
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
        assert allowed(gw, "/x", [("authorization", f"Bearer {token}")]).header("authorization") is None, alg
        r = refused(gw, "/x", [("authorization", f"Bearer {forged(token)}")])
        assert_problem(r, 401, "invalid_credentials")
        assert "invalid signature" in r.json()["detail"], (alg, r.json()["detail"])
    c = counters(gw)
    # Each algorithm: one good token and one forged one.
    if path == "host":
        assert (c["host"], c["module"]) == (2 * len(HOST_ALGS), 2 * len(MODULE_ALGS)), c
        line = "signatures: RS256 RS384 RS512 ES256 ES384 verified by the host"
    else:
        assert (c["host"], c["module"]) == (0, 2 * (len(HOST_ALGS) + len(MODULE_ALGS))), c
        line = "signatures: every algorithm verified in the module"
    assert line in gw.envoy.log()


def test_a_signature_of_the_wrong_length_never_reaches_the_host(stack):
    _, gw = stack
    head, body, sig = KEYS.token("ES256", claims(aud=None)).split(".")
    for bad in (sig[:-4], sig + "AAAA", ""):
        r = refused(gw, "/x", [("authorization", f"Bearer {head}.{body}.{bad}")])
        assert_problem(r, 401, "invalid_credentials")
