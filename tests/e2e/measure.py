"""./build.sh measure: what a request costs through Envoy with authgate, in particular a bcrypt
check on a cache miss versus a hit. Sequential requests from one client; per-request wall time,
median of N. Numbers are for this machine only; compare them with each other."""

import base64
import hashlib
import statistics
import sys
import time

from harness import Stack

COST10 = "alice:$2y$10$kq1JloFw2ddCSrlbiUwOMOU4tI8tmBjVdv2aL0P5QDJI04EdX1qfe"  # wonderland


def timed(stack, path, headers, n):
    out = []
    for i in range(n):
        h = headers(i) if callable(headers) else headers
        t = time.perf_counter()
        r = stack.get(path, h)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status in (200, 401), r.status
    return statistics.median(out)


def basic(user, pw):
    return [("authorization", "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode())]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    sha = "bob:{SHA}" + base64.b64encode(hashlib.sha1(b"builder").digest()).decode()
    cfg = {"providers": {"b": {"type": "basic", "htpasswd": f"{COST10}\n{sha}"},
                         "k": {"type": "api_key", "credentials": [{"client": "c", "key": "demo-key-1"}]}},
           "rules": [{"match": {"prefix": "/open"}, "requires": "none"},
                     {"match": {"prefix": "/"}, "requires": {"any": ["b", "k"]}}]}
    stack = Stack(cfg)
    try:
        rows = [
            ("no auth (rule `none`)", timed(stack, "/open", [], n)),
            ("API key, valid", timed(stack, "/x", [("x-api-key", "demo-key-1")], n)),
            ("Basic {SHA}, valid", timed(stack, "/x", basic("bob", "builder"), n)),
            ("Basic bcrypt cost 10, cache hit", timed(stack, "/x", basic("alice", "wonderland"), n)),
            ("Basic bcrypt cost 10, cache miss (distinct wrong passwords)",
             timed(stack, "/x", lambda i: basic("alice", f"wrong-{i}-{time.time_ns()}"), n)),
            ("Basic unknown user (decoy bcrypt), cache miss",
             timed(stack, "/x", lambda i: basic("nobody", f"x-{i}-{time.time_ns()}"), n)),
        ]
    finally:
        stack.close()
    print(f"| request (median of {n}, one client, sequential) | ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} |")


if __name__ == "__main__":
    main()
