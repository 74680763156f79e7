"""./build.sh soak: several minutes of mixed traffic against Envoy with 2 workers, then a report.

wrk sends a mix of valid, invalid and missing credentials (API key, Basic, JWT reused and
fresh) and counts every answer by status; a sampler checks the full reply of each class while
the load runs; Envoy's memory (admin /memory) is read every 10 s. Passes when: no 5xx, every
sampled reply is right for its class, memory is flat after warm-up, and authgate's counters add
up to the requests sent. SOAK_SECONDS sets the length (default 180)."""

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

from harness import Envoy, free_port, request  # noqa: E402
from jwtkit import Keys, b64, claims  # noqa: E402

SECONDS = int(os.environ.get("SOAK_SECONDS", "180"))
KEYS = Keys()
CONFIG = {
    "providers": {
        "keys": {"type": "api_key", "credentials": [{"client": f"c{i}", "key": f"key-{i}"} for i in range(50)]},
        "staff": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
        "idp": {"type": "jwt", "issuer": "https://idp.test", "audiences": ["orders"],
                "local_jwks": KEYS.jwks(["p256", "ed"]),
                "claim_to_headers": [{"claim_name": "sub", "header_name": "x-auth-sub"}]},
    },
    "audit_lines_per_second": 20,
}

# (class, headers, expected status, expected error)
def classes():
    good_jwt = KEYS.token("EdDSA", claims(lifetime=3600))
    return [
        ("key valid", [("x-api-key", "key-7")], 200, None),
        ("key wrong", [("x-api-key", "nope")], 401, "invalid_credentials"),
        ("basic valid", [("authorization", "Basic " + b64(b"bob:secret"))], 200, None),
        ("basic wrong", [("authorization", "Basic " + b64(b"bob:nope"))], 401, "invalid_credentials"),
        ("jwt reused", [("authorization", f"Bearer {good_jwt}")], 200, None),
        ("jwt expired", [("authorization", "Bearer " + KEYS.token("EdDSA", claims(iat=1, exp=2)))], 401, "token_expired"),
        ("missing", [], 401, "missing_credentials"),
        ("two keys", [("x-api-key", "key-1"), ("x-api-key", "key-2")], 400, "invalid_request"),
    ]


def lua(tmp):
    """Weighted mix; fresh JWTs from a pool larger than the token cache (to exercise eviction)."""
    fresh = [KEYS.token("EdDSA", claims(lifetime=3600, jti=str(i))) for i in range(3000)]
    reqs = []
    for name, headers, status, _ in classes():
        weight = 3 if status == 200 else 1
        for _ in range(weight):
            h = "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers if k != "x-api-key" or name != "two keys") + "}"
            reqs.append(h)
    script = "fresh = {" + ",".join(f'"{t}"' for t in fresh) + "}\n"
    script += "mix = {" + ",".join(reqs) + "}\n"
    script += """
counts = {}
threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
request = function()
  local r = math.random(#mix + 2)
  if r > #mix then
    return wrk.format("GET", "/", {["authorization"] = "Bearer " .. fresh[math.random(#fresh)]})
  end
  return wrk.format("GET", "/", mix[r])
end
response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
done = function(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do table.insert(parts, string.format('"%d": %d', k, v)) end
  io.write("STATUS {" .. table.concat(parts, ", ") .. "}\\n")
end
"""
    path = os.path.join(tmp, "soak.lua")
    with open(path, "w") as f:
        f.write(script)
    return path


class Gateway:
    """Envoy with authgate and a direct_response route: the upstream is never the bottleneck."""

    def __init__(self):
        sys.path.insert(0, HERE)
        from run import authgate, bootstrap
        self.port, admin = free_port(), free_port()
        self.envoy = Envoy(bootstrap(authgate(CONFIG), self.port, admin), concurrency=2,
                           log_level="info", wasm_log_level=None).start()

    def get(self, path, headers=()):
        return request(self.port, "GET", path, headers)

    def close(self):
        self.envoy.stop()


def memory(stack):
    return json.loads(request(stack.envoy.admin_port, "GET", "/memory").body)


def main():
    tmp = tempfile.mkdtemp(prefix="authgate-soak-")
    stack = Gateway()
    started = time.time()
    samples, wrong, mem = 0, [], []
    stop = threading.Event()

    def sampler():
        nonlocal samples
        cls = classes()
        while not stop.is_set():
            name, headers, status, error = random.choice(cls)
            r = stack.get("/", headers)
            samples += 1
            body_error = r.json().get("error") if r.status != 200 else None
            if r.status != status or body_error != error:
                wrong.append((name, r.status, body_error))
            time.sleep(0.02)

    def watcher():
        while not stop.wait(10):
            m = memory(stack)
            mem.append((round(time.time() - started), int(m["allocated"]), int(m["heap_size"])))

    try:
        threads = [threading.Thread(target=sampler), threading.Thread(target=watcher)]
        for t in threads:
            t.start()
        out = subprocess.run(["wrk", "-t2", "-c32", f"-d{SECONDS}s", "-s", lua(tmp), f"http://127.0.0.1:{stack.port}/"],
                             capture_output=True, text=True, timeout=SECONDS + 120).stdout
        stop.set()
        for t in threads:
            t.join(timeout=30)
        time.sleep(1.0)  # counters reach Envoy on the filter's tick
        stats = stack.envoy.stats("wasmcustom.authgate")
        upstream_5xx = sum(v or 0 for k, v in stack.envoy.stats("http.bench.downstream_rq_5xx").items())
    finally:
        stop.set()
        stack.close()

    statuses = json.loads(out.split("STATUS ", 1)[1].splitlines()[0]) if "STATUS " in out else {}
    total_wrk = sum(statuses.values())
    counted = (stats.get("wasmcustom.authgate.allowed", 0) + stats.get("wasmcustom.authgate.denied", 0))
    warm = [m for t, m, _ in mem if t >= SECONDS / 3]
    growth = (warm[-1] - warm[0]) / warm[0] if len(warm) >= 2 else 0.0
    checks = {
        "no 5xx": upstream_5xx == 0 and not any(k.startswith("5") for k in statuses),
        "sampled replies right": not wrong and samples > 0,
        "memory flat after warm-up (< 5% growth)": growth < 0.05,
        # wrk stops with up to 32 requests in flight: counted by authgate, never answered to wrk.
        "counters add up": 0 <= counted - (total_wrk + samples) <= 32,
    }
    print(f"\nsoak: {SECONDS}s, 2 workers, wrk -t2 -c32 + a sampler")
    print(f"requests: {total_wrk} by wrk ({total_wrk / SECONDS:.0f}/s), statuses {statuses}; {samples} sampled")
    print(f"authgate counters: allowed {stats.get('wasmcustom.authgate.allowed')} + denied "
          f"{stats.get('wasmcustom.authgate.denied')} = {counted} (sent {total_wrk + samples}); "
          f"jwt cache hit/miss {stats.get('wasmcustom.authgate.cache.jwt.hit')}/{stats.get('wasmcustom.authgate.cache.jwt.miss')}; "
          f"audit lines left out {stats.get('wasmcustom.authgate.audit.suppressed')}")
    print("memory (s, allocated, heap): " + ", ".join(f"{t}s {a / 1e6:.1f}MB/{h / 1e6:.1f}MB" for t, a, h in mem))
    print(f"allocated growth after warm-up: {growth * 100:.2f}%")
    if wrong:
        print(f"wrong sampled replies (first 5): {wrong[:5]}")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
