"""RFC 9864 algorithm names through Envoy: `Ed25519` is accepted wherever `EdDSA` is — tokens
and keys made by joserfc (a JOSE library that emits RFC 9864 names), DPoP proofs it signs and
proofs from panva's `dpop` npm client (which signs Ed25519 proofs under that name only), and
`dpop_algs`; DPoP challenges and the RFC 9728 document advertise both names. `Ed448` (not built)
is refused as an unsupported algorithm, and its key is skipped."""

import base64
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from common import allowed, refused
from dpop_client import ath, thumbprint
from jwtkit import b64, claims

ISSUER = OKPKey.generate_key("Ed25519")
LEGACY = OKPKey.generate_key("Ed25519")
CLIENT = OKPKey.generate_key("Ed25519")
ED448 = OKPKey.generate_key("Ed448")
ALGS = ["Ed25519", "EdDSA"]
# joserfc warns when it signs under the deprecated name, which these tests do on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
META = "/.well-known/oauth-protected-resource"

CONFIG = {
    "realm": "api",
    "providers": {
        "idp": {"type": "jwt", "issuer": "https://idp.test", "audiences": ["orders"],
                "local_jwks": {"keys": [ISSUER.as_dict(private=False, alg="Ed25519", kid="new"),
                                        LEGACY.as_dict(private=False, alg="EdDSA", kid="old"),
                                        ED448.as_dict(private=False, alg="Ed448", kid="ed448")]}},
        "bound": {"type": "jwt", "issuer": "https://idp.test", "audiences": ["orders"],
                  "local_jwks": {"keys": [ISSUER.as_dict(private=False, alg="Ed25519", kid="new")]},
                  "dpop": "required", "dpop_algs": ["Ed25519"]},
    },
    "rules": [{"match": {"prefix": "/bound"}, "requires": "bound"},
              {"match": {"prefix": "/"}, "requires": "idp"}],
    "resource": {"id": "https://api.example.com", "authorization_servers": ["https://idp.test"]},
}


def sign(key, alg, payload, **header):
    return jwt.encode({"alg": alg, "typ": "JWT", **header}, payload, key, algorithms=[alg])


def header_of(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


@pytest.mark.parametrize("name,key,alg,kid", [
    ("RFC 9864 name, RFC 9864 key", ISSUER, "Ed25519", "new"),
    ("RFC 9864 name, key that says EdDSA", LEGACY, "Ed25519", "old"),
    ("EdDSA name, key that says Ed25519", ISSUER, "EdDSA", "new"),
    ("EdDSA name, EdDSA key", LEGACY, "EdDSA", "old"),
])
def test_tokens_under_either_name_pass(gw, name, key, alg, kid):
    token = sign(key, alg, claims(), kid=kid)
    assert header_of(token)["alg"] == alg
    seen = allowed(gw, "/orders", [("authorization", f"Bearer {token}")])
    assert seen.header("authorization") is None


def test_a_forged_ed25519_signature_is_refused(gw):
    head, payload, _ = sign(ISSUER, "Ed25519", claims(), kid="new").split(".")
    forged = f"{head}.{payload}.{b64(bytes(64))}"
    r = refused(gw, "/orders", [("authorization", f"Bearer {forged}")])
    assert r.status == 401 and r.json()["error"] == "invalid_credentials"


def test_ed448_is_refused_as_unsupported_and_its_key_skipped(gw):
    token = sign(ED448, "Ed448", claims(), kid="ed448")
    r = refused(gw, "/orders", [("authorization", f"Bearer {token}")])
    assert r.status == 401 and "unsupported signature algorithm" in r.json()["detail"], r.body
    assert "unsupported `alg` \"Ed448\"" in gw.envoy.log()


def proof(gw, path, token, key=CLIENT, alg="Ed25519"):
    c = {"jti": str(uuid.uuid4()), "htm": "GET", "htu": f"http://127.0.0.1:{gw.port}{path}",
         "iat": int(time.time()), "ath": ath(token)}
    h = {"alg": alg, "typ": "dpop+jwt", "jwk": key.as_dict(private=False)}
    return jwt.encode(h, c, key, algorithms=[alg])


def test_a_dpop_proof_signed_as_ed25519_passes(gw):
    token = sign(ISSUER, "Ed25519", claims(cnf={"jkt": CLIENT.thumbprint()}), kid="new")
    p = proof(gw, "/bound", token)
    assert header_of(p)["alg"] == "Ed25519"
    seen = allowed(gw, "/bound", [("authorization", f"DPoP {token}"), ("dpop", p)])
    assert seen.header("dpop") is None
    # The same key signing under the old name is the same algorithm, also accepted.
    allowed(gw, "/bound", [("authorization", f"DPoP {token}"), ("dpop", proof(gw, "/bound", token, alg="EdDSA"))])


def test_both_names_are_advertised(gw):
    r = refused(gw, "/bound", [("host", "api.example.com")])
    assert r.all("www-authenticate")[0].startswith('DPoP algs="Ed25519 EdDSA", realm="api"'), r.all("www-authenticate")
    doc = json.loads(refused(gw, META).body)
    assert doc["dpop_signing_alg_values_supported"] == ALGS


NODE_DPOP = os.path.join(os.path.dirname(__file__), "..", "..", ".tools", "node_modules", "dpop", "build", "index.js")


class NodeDpop:
    """panva's `dpop` package in a Node.js process (tests/e2e/dpop_node.mjs)."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", os.path.join(os.path.dirname(__file__), "dpop_node.mjs"), NODE_DPOP],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.jwk = json.loads(self.proc.stdout.readline())

    def proof(self, htu, htm, token):
        self.proc.stdin.write(json.dumps({"htu": htu, "htm": htm, "token": token}) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.mark.skipif(not (shutil.which("node") and os.path.exists(NODE_DPOP)),
                    reason="Node.js or the dpop npm package is missing (./build.sh test installs the package)")
def test_proofs_from_the_dpop_npm_client_pass(gw):
    client = NodeDpop()
    try:
        assert client.jwk["crv"] == "Ed25519"
        token = sign(ISSUER, "Ed25519", claims(cnf={"jkt": thumbprint(client.jwk)}), kid="new")
        url = f"http://127.0.0.1:{gw.port}/bound/items"
        for _ in range(2):
            p = client.proof(url, "GET", token)
            assert header_of(p)["alg"] == "Ed25519"
            allowed(gw, "/bound/items", [("authorization", f"DPoP {token}"), ("dpop", p)])
        # A proof for another URL is refused as one.
        r = refused(gw, "/bound/items", [("authorization", f"DPoP {token}"),
                                         ("dpop", client.proof(url.replace("items", "other"), "GET", token))])
        assert r.status == 401 and r.json()["error"] == "invalid_dpop_proof"
    finally:
        client.close()
