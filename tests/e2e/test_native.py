"""The native module (dist/libauthgate.so, an Envoy dynamic module) answers exactly as the wasm
filter does: test_cli.py's table of requests (every reply of the contract and some passes)
goes through two real Envoys with the same configuration, one per artifact; statuses, every
reply header but the date, the bodies (request ids aside) and what the upstream got must be
identical. Also: the module checks the ABI of the Envoy that loads it, and its counters reach
Envoy's stats. The rest of the
suite runs through the native module with AUTHGATE_ARTIFACT=native (./build.sh test does both)."""

import os

import pytest

from harness import NATIVE, Stack, request
from test_cli import CASES, CONFIG, body

pytestmark = pytest.mark.skipif(not os.path.exists(NATIVE), reason="dist/libauthgate.so is built by ./build.sh test")

SKIPPED = {"date", "x-envoy-upstream-service-time", "server"}


@pytest.fixture(scope="module")
def pair():
    wasm, native = Stack(CONFIG), Stack(CONFIG, extra={"native": True})
    for s in (wasm, native):
        assert s.envoy.proc.poll() is None, s.envoy.log()
    yield wasm, native
    wasm.close()
    native.close()


def seen_headers(stack, before):
    if len(stack.upstream.seen) == before:
        return None
    return sorted((k, v) for k, v in stack.upstream.seen[before].headers
                  if k not in {"host", "x-forwarded-proto", "x-envoy-expected-rq-timeout-ms"})


@pytest.mark.parametrize("name,method,path,headers", CASES, ids=[c[0] for c in CASES])
def test_the_native_module_answers_as_the_wasm_filter(pair, name, method, path, headers):
    headers = list(headers) + [("x-request-id", "req-1")]
    got = []
    for stack in pair:
        before = len(stack.upstream.seen)
        r = stack.get(path, headers, method=method)
        reply = [(k, v) for k, v in r.headers if k not in SKIPPED]
        got.append((r.status, reply, body(r.body.decode()), seen_headers(stack, before)))
    (ws, wh, wb, wu), (ns, nh, nb, nu) = got
    assert ns == ws, (name, got)
    assert nu == wu, (name, wu, nu)
    if wu is not None:
        return  # passed: the reply is the upstream's echo, which names each Envoy's port
    assert nh == wh, (name, wh, nh)
    assert nb == wb, (name, wb, nb)


def test_the_module_checks_the_abi_of_the_envoy_that_loads_it(pair):
    """Envoy 1.40 only warns on another ABI version; the module checks the callbacks Envoy
    exports itself (a refusal is tested natively: abi_check.rs), and says so at start."""
    log = pair[1].envoy.log()
    assert "authgate: native module built for the dynamic-module ABI v0.2.0 (Envoy 1.40), whose callbacks it calls this Envoy exports" in log, log[-3000:]
    assert "Dynamic module ABI version v0.2.0 matched" in log


def test_counters_reach_envoy(pair):
    native = pair[1]
    native.get("/orders", [("x-api-key", "k-1")])
    native.get("/orders", [("x-api-key", "nope")])
    stats = request(native.envoy.admin_port, "GET", "/stats?filter=authgate").body.decode()
    assert "authgate.allowed" in stats and "authgate.denied.invalid_credentials" in stats, stats
    line = next(l for l in stats.splitlines() if l.endswith("authgate.denied.invalid_credentials") or "authgate.denied.invalid_credentials:" in l)
    assert int(line.rsplit(":", 1)[1]) >= 1, line


def test_eight_configurations_keep_their_workers():
    """Issue 36: each worker thread kept workers for at most four configurations, so a chain of
    eight authgate filters rebuilt workers (and their caches) on every request. A worker now
    lives as long as its configuration: requests rebuild none."""
    import json

    from harness import Envoy, Upstream, bootstrap, free_port

    from jwtkit import Keys
    jwks = Keys().jwks(["p256"])

    def config(i):
        # A key set makes each worker's configure log its `signatures:` line, which counts them.
        return {"realm": f"r{i}", "providers": {
            "k": {"type": "api_key", "credentials": [{"client": "c", "key": "k-1"}]},
            "j": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": jwks}}}

    def module_filter(i):
        return {"name": f"authgate-{i}", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
            "dynamic_module_config": {"name": "authgate", "do_not_close": True},
            "filter_name": "authgate",
            "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                              "value": json.dumps(config(i))}}}

    upstream, port = Upstream(), free_port()
    envoy = Envoy(bootstrap(config(0), port, free_port(), upstream.port, native=True,
                            before=[module_filter(i) for i in range(1, 8)])).start()
    try:
        def built():
            return envoy.log().count("authgate: signatures:")

        assert request(port, "GET", "/x", [("x-api-key", "k-1")]).status == 200, envoy.log()[-3000:]
        # The worker thread's eight, and the main thread's own eight (which its tick makes in
        # its own time).
        import time
        deadline = time.time() + 10
        while built() < 16 and time.time() < deadline:
            time.sleep(0.1)
        first = built()
        assert first == 16, envoy.log()[-3000:]
        for _ in range(20):
            assert request(port, "GET", "/x", [("x-api-key", "k-1")]).status == 200
            assert request(port, "GET", "/x").status == 401
        assert built() == first, f"workers rebuilt: {built() - first} more configure lines after 40 requests"
    finally:
        envoy.stop()
        upstream.close()
