"""A small OAuth 2.0 authorization server for the tests: RFC 8414 metadata, a JWKS, an
authorization endpoint that approves at once (authorization code with PKCE, RFC 7636 S256),
dynamic client registration (RFC 7591) and a token endpoint (client credentials, RFC 6749
§4.4, and authorization code) that issues ES256 access tokens whose `aud` is the `resource`
the client asked for (RFC 8707), and token introspection (RFC 7662) for the confidential
clients, which answers for the tokens it issued until they expire or are revoked. Its keys can
rotate. Every request is logged."""

import base64
import hashlib
import secrets
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import free_port
from jwtkit import Keys


class AuthorizationServer:
    def __init__(self, clients, scopes=("mcp:tools",), port=None, oidc=True):
        self.port = port or free_port()
        self.oidc = oidc  # serve the OpenID Connect form of the metadata too
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.clients = dict(clients)  # client_id -> secret
        self.scopes = list(scopes)
        self.generation = 0
        self.keys = {0: Keys(prefix="gen0-")}
        self.log = []  # (method, path)
        self.issued = []  # decoded claims of every token issued
        self.by_token = {}  # access token -> claims, for introspection
        self.revoked = set()
        self.codes = {}  # code -> (client_id, redirect_uri, code_challenge, resource, scope)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                outer.log.append(("GET", self.path))
                path = self.path.split("?")[0]
                forms = ["/.well-known/oauth-authorization-server"]
                if outer.oidc:
                    forms.append("/.well-known/openid-configuration")
                if path in forms:
                    return self._send(200, outer.metadata())
                if path == "/jwks":
                    return self._send(200, outer.jwks())
                if path == "/authorize":
                    q = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).items()}
                    if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                        return self._send(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
                    code = secrets.token_urlsafe(16)
                    outer.codes[code] = (q["client_id"], q["redirect_uri"], q["code_challenge"],
                                         q.get("resource"), q.get("scope", " ".join(outer.scopes)))
                    location = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
                    self.send_response(302)
                    self.send_header("location", location)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return None
                self._send(404, {"error": "not_found"})

            def do_POST(self):
                outer.log.append(("POST", self.path))
                length = int(self.headers.get("content-length") or 0)
                form_body = self.rfile.read(length).decode()
                form = urllib.parse.parse_qs(form_body)
                if self.path.split("?")[0] == "/register":
                    doc = json.loads(form_body or "{}")
                    client = "dcr-" + secrets.token_hex(4)
                    outer.clients[client] = None  # a public client: PKCE, no secret
                    return self._send(201, dict(doc, client_id=client, token_endpoint_auth_method="none"))
                if self.path.split("?")[0] == "/introspect":
                    return self._send(*outer.introspect(self.headers.get("authorization"), form))
                if self.path.split("?")[0] != "/token":
                    return self._send(404, {"error": "not_found"})
                if form.get("grant_type", [""])[0] == "authorization_code":
                    return self._send(*outer.redeem(form))
                client, secret = outer.credentials(self.headers.get("authorization"), form)
                if outer.clients.get(client) != secret or client is None:
                    return self._send(401, {"error": "invalid_client"})
                if form.get("grant_type", [""])[0] != "client_credentials":
                    return self._send(400, {"error": "unsupported_grant_type"})
                scope = form.get("scope", [" ".join(outer.scopes)])[0]
                resource = form.get("resource", [None])[0]
                self._send(200, outer.issue(client, scope, resource))

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def metadata(self):
        return {"issuer": self.issuer, "token_endpoint": f"{self.issuer}/token",
                "authorization_endpoint": f"{self.issuer}/authorize",
                "jwks_uri": f"{self.issuer}/jwks", "registration_endpoint": f"{self.issuer}/register",
                "introspection_endpoint": f"{self.issuer}/introspect",
                "grant_types_supported": ["client_credentials", "authorization_code"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": self.scopes, "response_types_supported": ["code"]}

    def jwks(self):
        keys = []
        for gen in sorted(self.keys):
            keys += self.keys[gen].jwks(["p256"])["keys"]
        return {"keys": keys}

    @staticmethod
    def credentials(header, form):
        if header and header.lower().startswith("basic "):
            raw = base64.b64decode(header[6:]).decode()
            user, _, password = raw.partition(":")
            return urllib.parse.unquote(user), urllib.parse.unquote(password)
        return form.get("client_id", [None])[0], form.get("client_secret", [None])[0]

    def issue(self, client, scope, resource):
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": client, "client_id": client, "scope": scope,
                  "iat": now, "exp": now + 300}
        if resource:
            claims["aud"] = resource
        self.issued.append(claims)
        token = self.keys[self.generation].token("ES256", claims)
        self.by_token[token] = claims
        return {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": scope}

    def redeem(self, form):
        """The authorization code grant with PKCE (RFC 7636 §4.6): (status, answer)."""
        f = {k: v[0] for k, v in form.items()}
        entry = self.codes.pop(f.get("code", ""), None)
        if not entry:
            return 400, {"error": "invalid_grant"}
        client, redirect_uri, challenge, resource, scope = entry
        verifier = f.get("code_verifier", "")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if computed != challenge or f.get("redirect_uri") != redirect_uri or f.get("client_id") != client:
            return 400, {"error": "invalid_grant"}
        return 200, self.issue(client, scope, f.get("resource") or resource)

    def introspect(self, authorization, form):
        """RFC 7662 §2: a confidential client asks about a token: (status, answer)."""
        client, secret = self.credentials(authorization, form)
        if client is None or self.clients.get(client) is None or self.clients.get(client) != secret:
            return 401, {"error": "invalid_client"}
        token = form.get("token", [""])[0]
        claims = self.by_token.get(token)
        if not claims or token in self.revoked or claims["exp"] < time.time():
            return 200, {"active": False}
        return 200, dict(claims, active=True, token_type="Bearer")

    def revoke(self, token):
        self.revoked.add(token)

    def token_for(self, audience, scope):
        """A token minted directly (not through the endpoint), for negative tests."""
        return self.issue("direct", scope, audience)["access_token"]

    def rotate(self, drop_old=False):
        """A new signing key; the JWKS serves it beside the old one (or alone)."""
        self.generation += 1
        self.keys[self.generation] = Keys(prefix=f"gen{self.generation}-")
        if drop_old:
            self.keys = {self.generation: self.keys[self.generation]}

    def close(self):
        self.server.shutdown()
        self.server.server_close()
