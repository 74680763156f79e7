"""The ext_authz service as a mesh runs it (issue 37): replicas behind one Envoy cluster, and
what happens when one fails. Nothing reaches the upstream unchecked when the service is down,
killed mid-traffic or slower than Envoy's timeout — the client gets Envoy's configured error
status (503); a person's session made through one replica opens at the other, and a DPoP nonce
one replica gave is taken by the other; reloading one replica does not disturb the other;
SIGTERM under load loses no request Envoy had sent; Envoy's RBAC filter after ext_authz decides
on authgate's dynamic metadata, and the access log line names the identity. Runs once
(conftest.py ONCE): it starts the service itself."""

import concurrent.futures
import json
import os
import signal
import threading
import time

from common import assert_problem, basic
from dpop_client import DpopClient
from harness import Envoy, JwksServer, Upstream, free_port, request
from jwtkit import Keys, claims
from test_service import CONFIG, META, Service, envoy_config
from test_sign_in import COOKIE_KEY, Provider, browser, sign_in, until  # noqa: F401  (browser: a fixture)

NONCE_SECRET = "bWVzaC1ub25jZS1zZWNyZXQtMzItYnl0ZXMtbG9uZyE="


RETRIES = {"retry_on": "connect-failure,refused-stream,unavailable,reset", "num_retries": 2,
           "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
           "host_selection_retry_max_attempts": 3}


def mesh_envoy(service_ports, timeout="5s", rbac=None, access_log=None, port=None):
    """Envoy asking the service replicas at `service_ports` (round robin), failing closed with
    503 when none answers in `timeout`; `rbac`: Envoy's RBAC filter after ext_authz;
    `access_log`: a file for the access log line."""
    port, upstream = port or free_port(), Upstream()
    cfg = envoy_config(port, free_port(), upstream.port, service_ports[0])
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    ext_authz = hcm["http_filters"][0]["typed_config"]
    ext_authz["grpc_service"]["timeout"] = timeout
    # As docs/service.md advises: a check a replica could not take (stopped, refused) is asked
    # again of another.
    ext_authz["grpc_service"]["retry_policy"] = RETRIES
    ext_authz["status_on_error"] = {"code": 503}
    cluster = next(c for c in cfg["static_resources"]["clusters"] if c["name"] == "authgate")
    # Retries are bounded by the cluster's circuit breaker (3 at once by default): under load a
    # stopped replica needs more.
    cluster["circuit_breakers"] = {"thresholds": [{"max_retries": 100}]}
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}
        for p in service_ports]
    if rbac:
        hcm["http_filters"].insert(1, {"name": "envoy.filters.http.rbac", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", "rules": rbac}})
    if access_log:
        hcm["access_log"] = [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": access_log,
            "log_format": {"text_format_source": {"inline_string":
                f"%REQ(:PATH)% %RESPONSE_CODE% identity=%DYNAMIC_METADATA({META}:identity)%\n"}}}}]
    envoy = Envoy(cfg).start()
    return envoy, port, upstream


def ready(*services):
    for s in services:
        assert s.wait_ready(), s.log()
    return services


def test_nothing_passes_when_the_service_is_down():
    envoy, port, upstream = mesh_envoy([free_port()])
    try:
        r = request(port, "GET", "/keys/1", [("x-api-key", "k-1")])
        assert r.status == 503, (r.status, r.body)
        assert upstream.seen == []
    finally:
        envoy.stop()
        upstream.close()


def test_killed_mid_traffic_lets_nothing_through_unchecked():
    (service,) = ready(Service(CONFIG))
    envoy, port, upstream = mesh_envoy([service.port])
    statuses, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                statuses.append(request(port, "GET", "/keys/1", [("x-api-key", "wrong")], timeout=10).status)
            except OSError:
                statuses.append(None)

    try:
        threads = [threading.Thread(target=traffic) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        service.proc.send_signal(signal.SIGKILL)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
        assert upstream.seen == [], "a request with a wrong key reached the upstream"
        assert set(statuses) <= {401, 503} and 401 in statuses and 503 in statuses, statuses
    finally:
        envoy.stop()
        upstream.close()
        service.stop()


def test_slower_than_envoys_timeout_is_envoys_error_status():
    keys = Keys(prefix="slow-")
    jwks = JwksServer(keys.jwks(), delay=3.0).start()
    config = {"realm": "api", "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test",
              "remote_jwks": {"uri": "http://idp.test/jwks.json", "cluster": "idp", "timeout_ms": 5000}}}}
    service = Service(config, ["--cluster", f"idp=127.0.0.1:{jwks.port}"])
    envoy, port, upstream = mesh_envoy([service.port], timeout="0.5s")
    try:
        token = keys.token("ES256", claims(aud=None))
        r = request(port, "GET", "/x", [("authorization", f"Bearer {token}")])
        assert r.status == 503, (r.status, r.body)
        assert upstream.seen == []
    finally:
        envoy.stop()
        upstream.close()
        service.stop()
        jwks.stop()


def test_sigterm_under_load_loses_no_request_envoy_had_sent():
    a, b = ready(Service(CONFIG), Service(CONFIG))
    envoy, port, upstream = mesh_envoy([a.port, b.port])
    try:
        def one(_):
            return request(port, "GET", "/keys/1", [("x-api-key", "k-1")], timeout=10).status

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            done = [pool.submit(one, i) for i in range(200)]
            time.sleep(0.2)
            a.proc.send_signal(signal.SIGTERM)
            statuses = [f.result() for f in done]
            assert a.proc.wait(timeout=20) == 0, a.log()
            statuses += list(pool.map(one, range(50)))
        assert statuses.count(200) == len(statuses), {s: statuses.count(s) for s in set(statuses)}
    finally:
        envoy.stop()
        upstream.close()
        a.stop()
        b.stop()


def test_a_dpop_nonce_from_one_replica_is_taken_by_the_other():
    keys, client = Keys(prefix="dpop-"), DpopClient()
    config = {"realm": "api", "providers": {"idp": {
        "type": "jwt", "issuer": "https://idp.test", "local_jwks": keys.jwks(), "dpop": "required",
        "dpop_nonce": {"secret_env": "NONCE_SECRET"}}}}
    env = {"NONCE_SECRET": NONCE_SECRET}
    a, b = ready(Service(config, env=env), Service(config, env=env))
    (ea, pa, ua), (eb, pb, ub) = mesh_envoy([a.port]), mesh_envoy([b.port])
    try:
        token = keys.token("ES256", claims(aud=None, cnf={"jkt": client.jkt}))
        url = f"http://127.0.0.1:{pa}/orders"
        first = request(pa, "GET", "/orders", [("authorization", f"DPoP {token}"),
                                               ("dpop", client.proof("GET", url, token))])
        assert_problem(first, 401, "use_dpop_nonce")
        nonce = first.header("dpop-nonce")
        url = f"http://127.0.0.1:{pb}/orders"
        r = request(pb, "GET", "/orders", [("authorization", f"DPoP {token}"),
                                           ("dpop", client.proof("GET", url, token, nonce=nonce))])
        assert r.status == 200, (r.status, r.body)
    finally:
        for e, u in ((ea, ua), (eb, ub)):
            e.stop()
            u.close()
        a.stop()
        b.stop()


def test_a_reload_of_one_replica_does_not_disturb_the_other():
    a, b = ready(Service(CONFIG), Service(CONFIG))
    envoy, port, upstream = mesh_envoy([a.port, b.port])
    statuses, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            statuses.append(request(port, "GET", "/keys/1", [("x-api-key", "k-1")]).status)

    try:
        t = threading.Thread(target=traffic)
        t.start()
        bad = json.loads(json.dumps(CONFIG))
        bad["providers"]["partners"]["kye"] = 1
        a.write(bad)
        a.hangup_until("reload refused")
        good = json.loads(json.dumps(CONFIG))
        good["providers"]["partners"]["credentials"].append({"client": "beta", "key": "k-9"})
        a.write(good)
        a.hangup_until("configuration reloaded")
        time.sleep(0.3)
        stop.set()
        t.join()
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        assert "reload" not in b.log(), b.log()
    finally:
        envoy.stop()
        upstream.close()
        a.stop()
        b.stop()


def test_rbac_decides_on_the_metadata_and_the_access_log_names_the_identity():
    (service,) = ready(Service(CONFIG))
    # Only the partners' provider may use /admin; everyone authenticated may use the rest.
    rbac = {"action": "DENY", "policies": {"admin-is-for-partners": {
        "permissions": [{"url_path": {"path": {"prefix": "/admin"}}}],
        "principals": [{"not_id": {"metadata": {"filter": META, "path": [{"key": "provider"}],
                                                "value": {"string_match": {"exact": "partners"}}}}}]}}}
    log = os.path.join(service.dir, "access.log")
    envoy, port, upstream = mesh_envoy([service.port], rbac=rbac, access_log=log)
    try:
        assert request(port, "GET", "/admin/x", [("x-api-key", "k-1")]).status == 200
        r = request(port, "GET", "/admin/x", [("authorization", basic("bob", "secret"))])
        assert r.status == 403, (r.status, r.body)
        assert request(port, "GET", "/other", [("authorization", basic("bob", "secret"))]).status == 200
        deadline = time.time() + 10
        while time.time() < deadline and len(open(log).read().splitlines()) < 3:
            time.sleep(0.1)
        lines = open(log).read().splitlines()
        assert lines == ["/admin/x 200 identity=acme", "/admin/x 403 identity=bob",
                         "/other 200 identity=bob"], lines
    finally:
        envoy.stop()
        upstream.close()
        service.stop()


def test_a_session_made_through_one_replica_opens_at_the_other(browser):
    """A person signs in (headless Chromium, oidc-provider) through replica A; the session
    cookie A sealed opens at replica B: sessions live in cookies, sealed by the shared secret."""
    site_port, op_port = free_port(), free_port()
    op = Provider(op_port, site_port)
    issuer = f"http://127.0.0.1:{op_port}"
    config = {"providers": {"web": {
        "type": "oidc", "issuer": issuer, "discovery": {"cluster": "idp"},
        "client_id": "web", "client_secret_env": "WEB_SECRET", "cookie_secrets_env": "COOKIE_KEYS",
        "scopes": ["email"], "claim_to_headers": [{"claim_name": "email", "header_name": "x-email"}]}}}
    env = {"WEB_SECRET": "web-secret", "COOKIE_KEYS": COOKIE_KEY}
    args = ["--cluster", f"idp=127.0.0.1:{op_port}"]
    a, b = ready(Service(config, args, env=env), Service(config, args, env=env))
    (ea, _, ua), (eb, pb, ub) = mesh_envoy([a.port], port=site_port), mesh_envoy([b.port])
    try:
        browser.get(f"http://localhost:{site_port}/orders")
        sign_in(browser, "alice")
        until(browser, "back on the page", lambda d: d.current_url == f"http://localhost:{site_port}/orders")
        cookie = browser.get_cookie("__Host-authgate")
        assert cookie, browser.get_cookies()
        r = request(pb, "GET", "/orders", [("cookie", f"__Host-authgate={cookie['value']}"),
                                           ("accept", "application/json")])
        assert r.status == 200, (r.status, r.body, b.log()[-2000:])
        assert ub.seen[-1].header("x-email") == "alice@example.com"
    finally:
        for e, u in ((ea, ua), (eb, ub)):
            e.stop()
            u.close()
        a.stop()
        b.stop()
        op.stop()


def test_the_shipped_envoy_configuration_asks_a_healthy_service():
    """envoy/ext-authz.yaml as shipped (its ports moved to free ones): Envoy health-checks the
    service's /ready on its admin address, asks it, and its access log line names who passed."""
    import yaml

    from harness import ROOT
    with open(os.path.join(ROOT, "envoy", "ext-authz.yaml")) as f:
        text = f.read()
    ports = {p: free_port() for p in (8080, 9901, 9191, 9902)}
    for old, new in ports.items():
        text = text.replace(f"port_value: {old} ", f"port_value: {new} ")
    doc = yaml.safe_load(text)
    # The last --listen and --admin are the ones taken: the file's ports.
    service = Service(CONFIG, ["--listen", f"127.0.0.1:{ports[9191]}", "--admin", f"127.0.0.1:{ports[9902]}"])
    service.port, service.admin = ports[9191], ports[9902]
    (service,) = ready(service)
    envoy = Envoy(doc)
    try:
        envoy.start()
        deadline = time.time() + 15
        while time.time() < deadline and not envoy.stats("cluster.authgate.health_check.success").get(
                "cluster.authgate.health_check.success"):
            time.sleep(0.2)
        assert envoy.stats("cluster.authgate.health_check.success")["cluster.authgate.health_check.success"] >= 1
        r = request(ports[8080], "GET", "/keys/1", [("x-api-key", "k-1")])
        assert r.status == 200, (r.status, r.body)
        assert_problem(request(ports[8080], "GET", "/keys/1"), 401, "missing_credentials")
        deadline = time.time() + 5
        while time.time() < deadline and "identity=acme provider=partners" not in envoy.log():
            time.sleep(0.1)
        assert "GET /keys/1 200 identity=acme provider=partners" in envoy.log(), envoy.log()[-2000:]
    finally:
        envoy.stop()
        service.stop()
