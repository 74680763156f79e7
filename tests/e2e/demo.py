"""./build.sh demo: Envoy with envoy/demo.yaml, the demo upstream, the demo JWKS server, the
demo introspection endpoint (RFC 7662, for opaque tokens) and the demo's OpenID Provider (panva's
oidc-provider from npm, with the people of demo/users.json), plus curl lines that show each reply
and the page a person signs in to. `--check` runs every example once on free ports, prints the
replies and exits (non-zero if one is not what it should be); the tests use it. `--token`
prints a demo JWT (ES256, signed with demo/jwt-signing-key.pem)."""

import os
import shlex
import sys
import tempfile
import time

from harness import ROOT, Envoy, JwksServer, NodeServer, Upstream, free_port, request

OIDC_PROVIDER = os.path.join(ROOT, ".tools", "node_modules", "oidc-provider", "lib", "index.js")
USERS = os.path.join(ROOT, "demo", "users.json")

def demo_token(scope="orders:read", lifetime=3600):
    """A JWT the demo's `idp` provider accepts."""
    import base64
    import json
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    key = serialization.load_pem_private_key(
        open(os.path.join(ROOT, "demo", "jwt-signing-key.pem"), "rb").read(), None)
    now = int(time.time())
    header = {"alg": "ES256", "kid": "demo-es256", "typ": "JWT"}
    claims = {"iss": "https://idp.demo", "aud": "orders", "sub": "dora", "scope": scope,
              "iat": now, "exp": now + lifetime}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


# Braces, so that `${TOKEN}x` (a tampered token) is not read by the shell as `$TOKENx`.
TOKEN = "${TOKEN}"

EXAMPLES = [
    # (what it shows, curl arguments, expected status)
    ("no credentials: 401 missing_credentials, a challenge per scheme (Bearer, ApiKey, Basic)", ["/orders"], 401),
    ("Basic, bcrypt user", ["-u", "alice:wonderland", "/orders"], 200),
    ("Basic, {SHA} user", ["-u", "bob:builder", "/orders"], 200),
    ("wrong password: 401 invalid_credentials, no token error on the Bearer challenge", ["-u", "bob:wrong", "/orders"], 401),
    ("API key in a header", ["-H", "x-api-key: demo-key-1", "/orders"], 200),
    ("API key in the query", ["/orders?api_key=globex-key-2"], 200),
    ("not a JWT: 401 invalid_credentials, Bearer error=\"invalid_token\"", ["-H", "Authorization: Bearer abc", "/orders"], 401),
    ("Bearer is not accepted on /public/feed: 401 unsupported_scheme", ["-H", "Authorization: Bearer abc", "/public/feed"], 401),
    ("key sent twice: 400 invalid_request", ["-H", "x-api-key: demo-key-1", "/orders?api_key=demo-key-1"], 400),
    ("no authentication for /healthz", ["/healthz"], 200),
    ("... but the ops host takes staff only, on every path (a host rule)", ["-H", "Host: metrics.ops.demo", "/healthz"], 401),
    ("POST /admin needs Basic and a key", ["-X", "POST", "-u", "bob:builder", "-H", "x-api-key: demo-key-1", "/admin/reindex"], 200),
    ("... and says so when one is missing", ["-X", "POST", "-u", "bob:builder", "/admin/reindex"], 401),
    ("forged identity headers are removed", ["-H", "x-auth-user: root", "-H", "x-api-key: demo-key-1", "/orders"], 200),
    ("JWT (TOKEN=$(.venv/bin/python tests/e2e/demo.py --token))", ["-H", f"Authorization: Bearer {TOKEN}", "/orders"], 200),
    ("a tampered JWT: 401, Bearer error=\"invalid_token\"", ["-H", f"Authorization: Bearer {TOKEN}x", "/orders"], 401),
    ("JWT without the reports:read scope: 403 insufficient_scope", ["-H", f"Authorization: Bearer {TOKEN}", "/reports"], 403),
    ("a browser gets an HTML page", ["-H", "Accept: text/html", "/orders"], 401),
    ("an opaque token, checked at the demo's introspection endpoint (RFC 7662)",
     ["-H", "Authorization: Bearer demo-opaque-olivia", "/orders"], 200),
    ("a revoked opaque token: 401 invalid_credentials", ["-H", "Authorization: Bearer demo-opaque-revoked", "/orders"], 401),
    ("/stock needs the stock-keepers group: olivia has it", ["-H", "Authorization: Bearer demo-opaque-olivia", "/stock"], 200),
    ("... pat does not: 403 access_denied, no challenge", ["-H", "Authorization: Bearer demo-opaque-pat", "/stock"], 403),
    ("a page for people: a browser without a session is sent to sign in at the OpenID Provider",
     ["-H", "Sec-Fetch-Mode: navigate", "/account"], 302),
]

def introspection(port):
    """The demo's introspection endpoint: demo/introspection.json's tokens (any other token is
    inactive), as the compose demo's `idp` service serves them."""
    from introspection_server import from_file
    return from_file(os.path.join(ROOT, "demo", "introspection.json"), port=port)


def curl_line(port, args):
    url_args = [a if not a.startswith("/") else f"http://127.0.0.1:{port}{a}" for a in args]
    # $TOKEN stays a shell variable: double quotes let the shell expand it.
    return "curl -si " + " ".join(f'"{a}"' if TOKEN in a else shlex.quote(a) for a in url_args)


def openid_provider(port, site_port):
    """The demo's OpenID Provider on 127.0.0.1:`port`, for the site on `site_port`: only the
    people of demo/users.json sign in, with their password."""
    if not os.path.exists(OIDC_PROVIDER):
        sys.exit(f"{OIDC_PROVIDER} is missing: ./build.sh demo installs oidc-provider (npm)")
    with open(USERS) as f:
        users = f.read()
    return NodeServer("the demo's OpenID Provider", os.path.join(ROOT, "tests", "e2e", "oidc_provider.mjs"),
                      OIDC_PROVIDER, port, site_port, env={"OP_DEMO_USERS": users})


def people():
    """[(login, password)] of demo/users.json."""
    import json
    with open(USERS) as f:
        return [(login, u["password"]) for login, u in json.load(f).items()]


def load_config(port, admin, upstream, jwks, idp, oidc):
    text = open(os.path.join(ROOT, "envoy", "demo.yaml")).read()
    text = text.replace("port_value: 8080", f"port_value: {port}")
    text = text.replace("port_value: 9901", f"port_value: {admin}")
    text = text.replace("port_value: 8081", f"port_value: {upstream}")
    text = text.replace("port_value: 8082", f"port_value: {jwks}")
    text = text.replace("port_value: 8083", f"port_value: {idp}")
    text = text.replace("port_value: 8084", f"port_value: {oidc}")
    text = text.replace("http://127.0.0.1:8084", f"http://127.0.0.1:{oidc}")
    text = text.replace("http://localhost:8080/", f"http://localhost:{port}/")
    return text.replace("filename: dist/authgate.wasm", f"filename: {os.path.join(ROOT, 'dist', 'authgate.wasm')}")


def run(port, admin, upstream_port, jwks_port, idp_port, oidc_port):
    """The demo's servers and Envoy: (upstream, envoy, OpenID Provider)."""
    upstream = Upstream(upstream_port)
    op = openid_provider(oidc_port, port)
    import json
    jwks = JwksServer(json.load(open(os.path.join(ROOT, "demo", "jwks.json"))), port=jwks_port).start()
    idp = introspection(idp_port)
    d = tempfile.mkdtemp(prefix="authgate-demo-")
    cfg = os.path.join(d, "demo.yaml")
    with open(cfg, "w") as f:
        f.write(load_config(port, admin, upstream.port, jwks.port, idp.port, oidc_port))
    envoy = Envoy(cfg, admin_port=admin).start()
    if envoy.proc.poll() is not None:
        print(envoy.log())
        op.stop()
        sys.exit(1)
    return upstream, envoy, op


def send(port, args, token):
    """Runs one example with http.client (curl may be missing): returns the response."""
    args = [a.replace(TOKEN, token) for a in args]
    method, headers, path, i = "GET", [], None, 0
    while i < len(args):
        a = args[i]
        if a == "-X":
            method = args[i + 1]; i += 2; continue
        if a == "-H":
            k, v = args[i + 1].split(":", 1); headers.append((k.strip(), v.strip())); i += 2; continue
        if a == "-u":
            import base64
            headers.append(("authorization", "Basic " + base64.b64encode(args[i + 1].encode()).decode())); i += 2; continue
        path = a; i += 1
    return request(port, method, path, headers)


def main():
    if "--token" in sys.argv:
        print(demo_token())
        return
    check = "--check" in sys.argv
    port, admin, up, jw, ip, oi = (free_port(), free_port(), free_port(), free_port(), free_port(), free_port()) \
        if check else (8080, 9901, 8081, 8082, 8083, 8084)
    upstream, envoy, op = run(port, admin, up, jw, ip, oi)
    token = demo_token()
    failures = 0
    try:
        print(f"\nauthgate demo: Envoy on 127.0.0.1:{port} (admin :{admin}), upstream on :{upstream.port}, "
              f"JWKS on :{jw}, introspection on :{ip}, OpenID Provider on :{oi}\n\nTOKEN=$(.venv/bin/python tests/e2e/demo.py --token)   # from the repository root\n")
        for what, args, status in EXAMPLES:
            print(f"# {what}\n{curl_line(port, args)}")
            if check:
                r = send(port, args, token)
                ok = r.status == status
                failures += not ok
                print(f"  -> {r.status} {'ok' if ok else f'EXPECTED {status}'}")
                for k, v in r.headers:
                    if k == "www-authenticate":
                        print(f"     www-authenticate: {v}")
                if r.status != 200:
                    print(f"     {r.body.decode()[:300]}")
            print()
        login, password = people()[0]
        print(f"# A person: open http://localhost:{port}/account in a browser (localhost, not 127.0.0.1: the\n"
              f"# provider knows the site by that name), sign in at the demo's OpenID Provider as {login} /\n"
              f"# {password}, and the page shows who you are (x-auth-name); http://localhost:{port}/oauth2/logout\n"
              f"# signs out.\n")
        if check:
            print(f"{len(EXAMPLES) - failures} passed, {failures} failed")
            sys.exit(1 if failures else 0)
        print("Ctrl-C stops the demo.")
        while envoy.proc.poll() is None:
            time.sleep(0.5)
        print(envoy.log()[-3000:])
    except KeyboardInterrupt:
        pass
    finally:
        envoy.stop()
        upstream.close()
        op.stop()


if __name__ == "__main__":
    main()
