"""The signed identity assertion through a real Envoy: the upstream verifies it with PyJWT and
with a JOSE library from another ecosystem (panva's jose, in Node.js) against the key set
authgate serves at its jwks_path; ES256 and EdDSA; a client-sent header of that name never
reaches the upstream; after a key rotation the new key signs and the old one is still
published while listed."""

import json
import os
import re
import subprocess
import tempfile

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from common import allowed, refused_at_load
import harness
from harness import ROOT, Stack

HERE = os.path.dirname(os.path.abspath(__file__))
JOSE = os.path.join(HERE, "..", "..", ".tools", "node_modules", "jose", "dist", "webapi", "index.js")
HS_KEY = b"k" * 32
JWKS_PATH = "/.well-known/authgate/jwks.json"
ISSUER = "https://gw.example.com"
HOST = "api.example.com"


def private_jwk(alg, kid):
    if alg == "ES256":
        jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate()))
    jwk["kid"] = kid
    return jwk


def plugin(alg):
    return {
        "realm": "api",
        "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test",
                              "local_jwks": {"keys": [{"kty": "oct", "k": jwt.utils.base64url_encode(HS_KEY).decode()}]}}},
        "rules": [
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"prefix": "/"}, "requires": "idp", "assertion": True},
        ],
        "assertion": {"issuer": ISSUER, "keys_env": "ASSERTION_KEYS", "alg": alg,
                      "claims": ["email", "groups"]},
    }


def gateway(alg, keys):
    return Stack(plugin(alg), extra={"vm_env": {"ASSERTION_KEYS": json.dumps({"keys": keys})}})


def caller(**claims):
    return jwt.encode({"iss": "https://idp.test", "sub": "alice", "email": "alice@example.com",
                       "groups": ["ops"], "scope": "orders:read", "secret_claim": "x", **claims}, HS_KEY, "HS256")


def bearer(token, host=HOST):
    return [("authorization", f"Bearer {token}"), ("host", host)]


@pytest.fixture(scope="module", params=["ES256", "EdDSA"])
def gw(request):
    alg = request.param
    if alg == "EdDSA" and harness.ARTIFACT == "wasm":
        pytest.skip("the wasm filter signs ES256 only (test_the_wasm_filter_refuses_eddsa_at_load)")
    g = gateway(alg, [private_jwk(alg, f"{alg}-new"), private_jwk(alg, f"{alg}-old")])
    g.alg = alg
    yield g
    g.close()


def key_set(g):
    r = g.get(JWKS_PATH)
    assert r.status == 200 and r.header("content-type") == "application/json", (r.status, r.body)
    assert "max-age=300" in r.header("cache-control")
    return r.json()


def test_the_upstream_verifies_it_with_pyjwt(gw):
    seen = allowed(gw, "/orders", bearer(caller()))
    token = seen.header("x-authgate-assertion")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == gw.alg and header["kid"] == f"{gw.alg}-new"
    keys = jwt.PyJWKSet.from_dict(key_set(gw))
    claims = jwt.decode(token, keys[header["kid"]].key, algorithms=[gw.alg], audience=HOST,
                        issuer=ISSUER)
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@example.com" and claims["groups"] == ["ops"]
    assert claims["provider"] == "idp" and claims["scope"] == "orders:read"
    assert claims["exp"] - claims["iat"] == 60
    assert "secret_claim" not in claims, "only the listed claims are copied"
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, keys[header["kid"]].key, algorithms=[gw.alg], audience="other.test")


def test_a_jose_library_from_another_ecosystem_verifies_it(gw):
    token = allowed(gw, "/orders", bearer(caller(sub="bob"))).header("x-authgate-assertion")
    script = """
const jose = await import(process.argv[1])
const [token, set] = [process.argv[2], JSON.parse(process.argv[3])]
const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(set),
  { issuer: 'https://gw.example.com', audience: 'api.example.com' })
console.log(JSON.stringify({ payload, protectedHeader }))
"""
    out = subprocess.run(["node", "--input-type=module", "-e", script, JOSE, token, json.dumps(key_set(gw))],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    verified = json.loads(out.stdout)
    assert verified["payload"]["sub"] == "bob"
    assert verified["protectedHeader"]["kid"] == f"{gw.alg}-new"


def test_a_client_sent_assertion_never_reaches_the_upstream(gw):
    forged = jwt.encode({"sub": "admin", "iss": ISSUER, "aud": HOST}, "x" * 32, "HS256")
    seen = allowed(gw, "/orders", bearer(caller()) + [("x-authgate-assertion", forged)])
    assert seen.all("x-authgate-assertion") != [forged] and len(seen.all("x-authgate-assertion")) == 1
    seen = allowed(gw, "/public", [("x-authgate-assertion", forged), ("X-Authgate-Assertion", forged)])
    assert seen.header("x-authgate-assertion") is None, "removed where no one is asserted too"


def test_after_a_rotation_the_new_key_signs_and_the_old_one_is_still_published():
    alg = "ES256"
    old, new = private_jwk(alg, "2026-11"), private_jwk(alg, "2026-12")
    before = gateway(alg, [old])
    try:
        old_token = allowed(before, "/orders", bearer(caller())).header("x-authgate-assertion")
    finally:
        before.close()
    after = gateway(alg, [new, old])
    try:
        token = allowed(after, "/orders", bearer(caller())).header("x-authgate-assertion")
        keys = jwt.PyJWKSet.from_dict(key_set(after))
        assert [k.key_id for k in keys.keys] == ["2026-12", "2026-11"]
        assert jwt.get_unverified_header(token)["kid"] == "2026-12"
        for t in (token, old_token):
            jwt.decode(t, keys[jwt.get_unverified_header(t)["kid"]].key, algorithms=[alg], audience=HOST)
    finally:
        after.close()


def test_the_key_set_is_public_and_read_only(gw):
    assert harness.request(gw.port, "OPTIONS", JWKS_PATH).status == 204
    assert harness.request(gw.port, "POST", JWKS_PATH).status == 405
    assert all("d" not in k for k in key_set(gw)["keys"])


def test_a_rule_asking_for_an_assertion_needs_the_section():
    cfg = plugin("ES256")
    del cfg["assertion"]
    line = refused_at_load(cfg)
    assert "rules[1].assertion: needs the top-level `assertion`" in line, line


@pytest.mark.skipif(harness.ARTIFACT != "wasm", reason="the native module and the service sign EdDSA")
def test_the_wasm_filter_refuses_eddsa_at_load():
    cfg = plugin("EdDSA")
    line = refused_at_load(cfg)
    assert "assertion.alg: EdDSA signing is not built into the wasm filter" in line, line


def documented(language):
    """docs/upstream.md's verification example in `language`, reading the key set from `gw`."""
    text = open(os.path.join(ROOT, "docs", "upstream.md")).read()
    return re.search(rf"```{language}\n(.*?)```", text.split("### Verifying it")[1], re.S).group(1)


@pytest.mark.parametrize("language", ["python", "javascript", "ruby"])
def test_the_documented_verifiers_accept_it(gw, language):
    if language == "ruby" and gw.alg != "ES256":
        pytest.skip("the Ruby example verifies ES256 (ruby-jwt's EdDSA needs rbnacl)")
    token = allowed(gw, "/orders", bearer(caller(sub="carol"))).header("x-authgate-assertion")
    url = f"http://127.0.0.1:{gw.port}{JWKS_PATH}"
    code = documented(language).replace(f"https://gw.example.com{JWKS_PATH}", url)
    headers = json.dumps({"x-authgate-assertion": token})
    folder = tempfile.mkdtemp(prefix="authgate-verify-")
    if language == "python":
        scope = {}
        exec(compile(code, "docs/upstream.md", "exec"), scope)
        claims = scope["caller"](json.loads(headers))
    elif language == "javascript":
        module = os.path.join(folder, "verify.mjs")
        with open(module, "w") as f:
            f.write(code.replace("from 'jose'", f"from '{JOSE}'"))
        run = f"const {{ caller }} = await import('{module}'); console.log(JSON.stringify(await caller({headers})))"
        out = subprocess.run(["node", "--input-type=module", "-e", run], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        claims = json.loads(out.stdout)
    else:
        script = os.path.join(folder, "verify.rb")
        with open(script, "w") as f:
            f.write(code + f"\nputs JSON.generate(caller(JSON.parse({json.dumps(headers)})))\n")
        out = subprocess.run(["ruby", script], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        claims = json.loads(out.stdout)
    assert claims["sub"] == "carol" and claims["aud"] == HOST and claims["iss"] == ISSUER
