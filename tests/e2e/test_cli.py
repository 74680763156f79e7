"""`authgate explain` agrees with Envoy: a table of requests (every reply of the contract and a
few passes) goes through a real Envoy running dist/authgate.wasm and through the native
`dist/authgate explain --format json` with the same configuration; statuses, challenges, every
reply header and the bodies (request ids aside) must be identical, and a pass must edit the
same headers upstream. Also `authgate check` on the repository's files, with no Envoy."""

import json
import os
import subprocess
import time

import pytest

from common import ALICE_BCRYPT, BOB_SHA, basic
from harness import ROOT
from jwtkit import Keys, claims

CLI = os.path.join(ROOT, "dist", "authgate")
KEYS = Keys()
CONFIG = {
    "realm": "api",
    "resource": {"id": "https://api.example.com", "authorization_servers": ["https://idp.test"]},
    "providers": {
        "idp": {"type": "jwt", "issuer": "https://idp.test", "audiences": ["orders"],
                "local_jwks": KEYS.jwks(["p256"]),
                "claim_to_headers": [{"claim_name": "sub", "header_name": "x-auth-sub"}]},
        "staff": {"type": "basic", "htpasswd": f"{ALICE_BCRYPT}\n{BOB_SHA}", "forward_username_header": "x-auth-user"},
        "keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}], "forward_client_header": "x-auth-client"},
    },
    "rules": [
        {"match": {"prefix": "/health"}, "requires": "none"},
        {"match": {"prefix": "/admin"}, "requires": "idp", "scopes": ["admin"]},
        {"match": {"prefix": "/tenant"}, "requires": "idp", "claims": [{"claim": "tenant", "equals": "acme"}]},
        {"match": {"prefix": "/both", "methods": ["POST"]}, "requires": {"all": ["staff", "keys"]}},
        {"match": {"prefix": "/feed"}, "requires": {"any": ["keys", "staff"], "allow_missing": True}},
        {"match": {"prefix": "/"}, "requires": {"any": ["idp", "keys", "staff"]}},
    ],
}
STACK_OPTIONS = {}


def bearer(**extra):
    return [("authorization", "Bearer " + KEYS.token("ES256", claims(**extra)))]


NOW = int(time.time())
CASES = [
    ("no credential", "GET", "/orders", []),
    ("wrong password", "GET", "/orders", [("authorization", basic("bob", "wrong"))]),
    ("good password", "GET", "/orders", [("authorization", basic("bob", "secret"))]),
    ("unknown key", "GET", "/orders", [("x-api-key", "nope")]),
    ("good key, forged identity", "GET", "/orders", [("x-api-key", "k-1"), ("x-auth-user", "root")]),
    ("not a token", "GET", "/orders", [("authorization", "Bearer abc")]),
    ("expired token", "GET", "/orders", bearer(lifetime=-3600)),
    ("good token", "GET", "/orders", bearer()),
    ("scope missing", "GET", "/admin", bearer(scope="read")),
    ("claim fails", "GET", "/tenant", bearer(tenant="umbrella")),
    ("claim holds", "GET", "/tenant", bearer(tenant="acme")),
    ("two Authorization headers", "GET", "/orders", [("authorization", "Bearer a"), ("authorization", "Bearer b")]),
    ("foreign scheme", "GET", "/feed", [("authorization", "Digest x")]),
    ("empty Bearer", "GET", "/orders", [("authorization", "Bearer ")]),
    ("all, one missing", "POST", "/both", [("x-api-key", "k-1")]),
    ("allow_missing", "GET", "/feed", []),
    ("no authentication", "GET", "/health", []),
    ("key twice", "GET", "/orders?api_key=k-1", [("x-api-key", "k-1")]),
    ("metadata document", "GET", "/.well-known/oauth-protected-resource", []),
]


def explain(tmp_path, method, path, headers):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    args = [CLI, "explain", "--format", "json", "--now", str(NOW), str(config), method, path]
    for k, v in headers:
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def body(text):
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    doc.pop("request_id", None)
    return doc


@pytest.mark.parametrize("name,method,path,headers", CASES, ids=[c[0] for c in CASES])
def test_explain_agrees_with_envoy(gw, tmp_path, name, method, path, headers):
    got = explain(tmp_path, method, path, headers)
    before = len(gw.upstream.seen)
    r = gw.get(path, headers, method=method)
    if got["status"] == 0:
        assert r.status == 200, (name, r.status, r.body)
        seen = gw.upstream.seen[before]
        for k, v in got["upstream"]["set"]:
            assert seen.header(k) == v, (name, k, seen)
        for k in got["upstream"]["remove"]:
            if k not in dict(got["upstream"]["set"]):
                assert seen.header(k) is None, (name, k)
        return
    assert len(gw.upstream.seen) == before, name
    assert r.status == got["status"], (name, r.status, got)
    envoy_headers = [(k, v) for k, v in r.headers
                     if k in {h for h, _ in got["headers"]}]
    assert envoy_headers == [tuple(h) for h in got["headers"]], (name, r.headers, got["headers"])
    assert body(r.body.decode()) == body(got["body"]), name


def test_check_runs_with_no_envoy():
    """What a CI job runs: the repository's Envoy and Istio files pass."""
    files = [os.path.join(ROOT, d, f) for d in ("envoy", "envoy/ecds", "istio")
             for f in sorted(os.listdir(os.path.join(ROOT, d))) if f.endswith(".yaml")]
    env = {"PATH": "/usr/bin:/bin"}  # no Envoy on the path
    out = subprocess.run([CLI, "check", "--format", "json", *files], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["ok"] is True
