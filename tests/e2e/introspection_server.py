"""A token introspection endpoint (RFC 7662) for the tests and the demo. It authenticates its
caller (client_secret_basic or client_secret_post, RFC 6749 §2.3.1; a wrong client gets 401),
answers from a table of tokens, and counts every call. `mode` makes it misbehave: "slow"
(answers after `delay` seconds), "500", "garbage" (not JSON), "echo" (an HTML error page that
quotes the request, so tests can check the token never leaks from it).

Run alone (the demo's `idp` container): `python introspection_server.py <tokens.json> [port] [host]`,
where tokens.json is `{"client": [id, secret], "tokens": {token: answer}}` (demo/introspection.json)."""

import base64
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class IntrospectionServer:
    def __init__(self, tokens, client=("authgate", "s3cret"), port=None, host="127.0.0.1"):
        self.tokens = dict(tokens)  # token -> answer (dict); unknown tokens are inactive
        self.client = client
        self.mode = "ok"
        self.delay = 0.0
        self.calls = []  # (token, client authenticated, form)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status, body, ctype="application/json"):
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
                ok = outer.authenticated(self.headers.get("authorization"), form)
                with outer.lock:
                    outer.calls.append((form.get("token"), ok, form))
                if outer.mode == "slow":
                    time.sleep(outer.delay)
                if outer.mode == "500":
                    return self._send(500, b'{"error": "server_error"}')
                if outer.mode == "garbage":
                    return self._send(200, b"<html>try again later</html>", "text/html")
                if outer.mode == "echo":
                    return self._send(200, b"<html>" + raw + b"</html>", "text/html")
                if not ok:
                    return self._send(401, b'{"error": "invalid_client"}')
                answer = outer.tokens.get(form.get("token"), {"active": False})
                self._send(200, json.dumps(answer).encode())

            def log_message(self, *a):
                pass

        class Server(ThreadingHTTPServer):
            # Envoy opens many connections at once under load; the default backlog (5) would
            # drop their SYNs and turn into call timeouts that are the test server's, not ours.
            request_queue_size = 256

        self.server = Server((host, port or 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def authenticated(self, authorization, form):
        cid, secret = self.client
        if authorization and authorization.startswith("Basic "):
            pair = base64.b64decode(authorization[6:]).decode()
            i, _, s = pair.partition(":")
            return urllib.parse.unquote_plus(i) == cid and urllib.parse.unquote_plus(s) == secret
        return form.get("client_id") == cid and form.get("client_secret") == secret

    def calls_for(self, token):
        with self.lock:
            return sum(1 for t, _, _ in self.calls if t == token)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def from_file(path, port=None, host="127.0.0.1"):
    """A server for the tokens and client of a JSON file such as demo/introspection.json."""
    with open(path) as f:
        doc = json.load(f)
    return IntrospectionServer(doc["tokens"], client=tuple(doc["client"]), port=port, host=host)


if __name__ == "__main__":
    # As a container's main process: SIGTERM (`docker compose down`) ends it at once, exit 0.
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = from_file(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 80,
                       sys.argv[3] if len(sys.argv) > 3 else "0.0.0.0")
    print(f"introspection endpoint on {server.server.server_address}", flush=True)
    threading.Event().wait()
