"""DPoP server nonces (RFC 9449 §9) through Envoy: `dpop_nonce` on a `jwt` provider. A real
client from the npm registry (openid-client 6.x) is asked for a nonce, retries once with it and
gets through, and keeps it for the next request. A proof with no nonce, or with a nonce of
another secret or of an expired step, is answered 401 `use_dpop_nonce` with the DPoP challenge
alone and a fresh `DPoP-Nonce`; a pass with a nonce that is ending gets the current one. Two Envoys that share the secret accept each other's nonces
with no shared state, a rotated-in secret signs while the old one still passes, and a proof
replayed at the Envoy that saw it is still refused."""

import base64
import json
import os
import shutil
import subprocess
import time

import pytest
from dpop_client import DpopClient, server_nonce, thumbprint
from harness import ROOT, Stack
from jwtkit import Keys, b64, claims

ISSUER = Keys()
SECRET = base64.b64encode(b"replicas share this nonce secret!").decode()
OTHER = base64.b64encode(b"another secret, for another fleet").decode()
NEW = base64.b64encode(b"the next secret, rotated in first").decode()
WINDOW = 60
ALGS = 'algs="ES256 EdDSA Ed25519 RS256 PS256"'
OPENID_CLIENT = os.path.join(ROOT, ".tools", "node_modules", "openid-client", "build", "index.js")


def plugin():
    return {"realm": "api", "providers": {"idp": {
        "type": "jwt", "issuer": "https://idp.test", "local_jwks": ISSUER.jwks(["p256"]), "dpop": "required",
        "dpop_nonce": {"secret_env": "DPOP_NONCE_SECRETS", "window_seconds": WINDOW}}}}


def stack(secret):
    return Stack(plugin(), extra={"vm_env": {"DPOP_NONCE_SECRETS": secret}})


@pytest.fixture(scope="module")
def fleet():
    """Two replicas that share the secret, one of another fleet, and one that rotates a new
    secret in (it signs with the new one and still accepts the old)."""
    a, b, c, d = stack(SECRET), stack(SECRET), stack(OTHER), stack(f"{NEW}, {SECRET}")
    for s in (a, b, c, d):
        assert s.envoy.proc.poll() is None, s.envoy.log()[-3000:]
    yield a, b, c, d
    for s in (a, b, c, d):
        s.close()


def bound_token(jkt):
    return ISSUER.token("ES256", dict(claims(), cnf={"jkt": jkt}))


CLIENT = DpopClient()
TOKEN = bound_token(CLIENT.jkt)


def url(gw, path="/x"):
    return f"http://127.0.0.1:{gw.port}{path}"


def call(gw, nonce=None, proof=None):
    proof = proof or CLIENT.proof("GET", url(gw), TOKEN, **({"nonce": nonce} if nonce else {}))
    return gw.get("/x", [("authorization", f"DPoP {TOKEN}"), ("dpop", proof)])


def nonce_of(gw):
    r = call(gw)
    assert r.status == 401 and r.json()["error"] == "use_dpop_nonce", (r.status, r.body)
    return r.header("dpop-nonce")


def denied(gw, code):
    return gw.envoy.stats("wasmcustom.authgate.denied").get(f"wasmcustom.authgate.denied.{code}", 0)


def test_a_proof_without_a_nonce_gets_the_dpop_challenge_alone_and_a_nonce(fleet):
    a = fleet[0]
    before = len(a.upstream.seen)
    r = call(a)
    assert r.status == 401, r.body
    body = r.json()
    assert body["error"] == "use_dpop_nonce" and body["status"] == 401, body
    assert r.all("www-authenticate") == [
        f'DPoP {ALGS}, realm="api", error="use_dpop_nonce", '
        'error_description="the resource server requires a nonce in DPoP proofs"']
    assert len(r.header("dpop-nonce")) == 32
    assert "DPoP-Nonce" in r.header("access-control-expose-headers")
    assert len(a.upstream.seen) == before


def test_a_proof_with_the_nonce_passes_and_is_still_single_use(fleet):
    a = fleet[0]
    proof = CLIENT.proof("GET", url(a), TOKEN, nonce=nonce_of(a))
    assert call(a, proof=proof).status == 200
    r = call(a, proof=proof)
    assert r.status == 401 and r.json()["error"] == "invalid_dpop_proof", r.body


def test_replicas_that_share_the_secret_accept_each_others_nonces(fleet):
    a, b, c, _ = fleet
    from_a = nonce_of(a)
    proof = CLIENT.proof("GET", url(b), TOKEN, nonce=from_a)
    assert call(b, proof=proof).status == 200, "B accepts A's nonce"
    assert call(b, proof=proof).status == 401, "B refuses the proof it saw"
    # Another fleet's nonce, an expired step's, a made-up one: asked again, never a pass.
    step = int(time.time()) // WINDOW
    for name, nonce in [("another secret", nonce_of(c)), ("an expired step", server_nonce(SECRET, step - 2)),
                        ("made up", "A" * 32)]:
        r = call(a, nonce=nonce)
        assert r.status == 401 and r.json()["error"] == "use_dpop_nonce", (name, r.body)
    assert call(a, nonce=server_nonce(SECRET, step)).status == 200, "the derivation the docs give"


def test_a_rotated_secret_signs_and_the_old_one_still_passes(fleet):
    a, d = fleet[0], fleet[3]
    from_d = nonce_of(d)
    assert from_d != nonce_of(a), "the new secret signs"
    assert call(d, nonce=from_d).status == 200
    assert call(d, nonce=nonce_of(a)).status == 200, "the old secret's nonces still pass"
    r = call(a, nonce=from_d)
    assert r.status == 401 and r.json()["error"] == "use_dpop_nonce", "a replica without the new secret"


def test_an_answer_gives_the_current_nonce_when_the_clients_is_ending(fleet):
    """RFC 9449 §8.2: a nonce of the previous step is still good, but ends with this step; the
    answer that lets it through gives the current one. A current nonce needs none."""
    a = fleet[0]
    step = int(time.time()) // WINDOW
    r = call(a, nonce=server_nonce(SECRET, step - 1))
    assert r.status == 200, r.body
    if int(time.time()) // WINDOW == step:
        assert r.header("dpop-nonce") == server_nonce(SECRET, step)
        assert "DPoP-Nonce" in r.header("access-control-expose-headers")
    r = call(a, nonce=nonce_of(a))
    assert r.status == 200 and r.header("dpop-nonce") is None, r.headers


@pytest.mark.skipif(not (shutil.which("node") and os.path.exists(OPENID_CLIENT)),
                    reason="openid-client is installed into .tools by ./build.sh test")
def test_a_real_client_retries_with_the_nonce_and_keeps_it(fleet):
    a = fleet[0]
    node = subprocess.Popen(["node", os.path.join(os.path.dirname(__file__), "dpop_nonce_client.mjs"), OPENID_CLIENT],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        jwk = json.loads(node.stdout.readline())
        token = bound_token(thumbprint(jwk))
        time.sleep(0.5)  # the earlier tests' counts reach Envoy on the tick
        asked = denied(a, "use_dpop_nonce")
        seen = len(a.upstream.seen)
        answers = []
        for _ in range(2):
            node.stdin.write(json.dumps({"url": url(a), "token": token}) + "\n")
            node.stdin.flush()
            answers.append(json.loads(node.stdout.readline()))
        assert [x.get("status") for x in answers] == [200, 200], (answers, node.stderr.read() if node.poll() else "")
        time.sleep(0.5)  # counters reach Envoy on the tick
        assert denied(a, "use_dpop_nonce") == asked + 1, "one nonce challenge, then the kept nonce"
        assert len(a.upstream.seen) == seen + 2
    finally:
        node.kill()
