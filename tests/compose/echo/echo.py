"""A request echo in the shape of mendhak/http-https-echo's JSON answer: path, headers (names
lower-cased), method, body, hostname, ip, protocol, query, os.hostname. Plain HTTP on
HTTP_PORT only; stops at once on SIGTERM."""

import json
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        url = urlsplit(self.path)
        out = {
            "path": url.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "method": self.command,
            "body": body,
            "hostname": (self.headers.get("host") or "").split(":")[0],
            "ip": self.client_address[0],
            "protocol": "http",
            "query": dict(parse_qsl(url.query)),
            "os": {"hostname": socket.gethostname()},
        }
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = answer

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("HTTP_PORT", "8080"))), Echo)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
