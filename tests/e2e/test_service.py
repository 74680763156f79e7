"""The ext_authz service (`authgate serve`, issue 37's first part) through a real Envoy 1.40:
its `ext_authz` HTTP filter asks the service over gRPC (`envoy.service.auth.v3.Authorization`),
and the client gets what the filter would answer — the status, every challenge, the problem
body — while the upstream gets the identity headers and never the client's own copies. Also
the admin address (/healthz, /ready, /metrics) and a refused configuration. It does not depend
on the artifact: it runs once (conftest.py ONCE)."""

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

from common import ALICE_BCRYPT, BOB_SHA, assert_problem, basic, challenges
from harness import ROOT, Envoy, JwksServer, Upstream, bootstrap, free_port, request
from jwtkit import Keys, claims

CLI = os.path.join(ROOT, "dist", "authgate")

CONFIG = {
    "realm": "api",
    "providers": {
        "staff": {"type": "basic", "htpasswd": f"{ALICE_BCRYPT}\n{BOB_SHA}\n",
                  "forward_username_header": "x-auth-user"},
        "partners": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}],
                     "forward_client_header": "x-auth-client"},
    },
    "rules": [
        {"match": {"prefix": "/healthz"}, "requires": "none"},
        {"match": {"prefix": "/keys"}, "requires": "partners"},
        {"match": {"prefix": "/"}, "requires": {"any": ["staff", "partners"]}},
    ],
}


class Service:
    """`authgate serve` on free ports; `stop()` sends SIGTERM and returns its output."""

    def __init__(self, config, args=(), env=None):
        self.dir = tempfile.mkdtemp(prefix="authgate-service-")
        path = os.path.join(self.dir, "config.json")
        self.path = path
        self.write(config)
        self.port, self.admin = free_port(), free_port()
        self.out = open(os.path.join(self.dir, "out.log"), "wb")
        self.proc = subprocess.Popen([CLI, "serve", "--config", path, "--listen", f"127.0.0.1:{self.port}",
                                      "--admin", f"127.0.0.1:{self.admin}", "--workers", "2", *args],
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})

    def write(self, config):
        """Replaces the file whole (written beside it, renamed over), as an editor or a
        Kubernetes ConfigMap does."""
        with open(self.path + ".new", "w") as f:
            f.write(config if isinstance(config, str) else json.dumps(config))
        os.rename(self.path + ".new", self.path)

    def hangup_until(self, text, timeout=20):
        """SIGHUP, then wait for `text` in the output."""
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline and text not in self.log():
            time.sleep(0.1)
        return self.log()

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if request(self.admin, "GET", "/ready", timeout=1).status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def log(self):
        self.out.flush()
        with open(self.out.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        return self.log()


META = "envoy.filters.http.ext_authz"


def envoy_config(listen, admin, upstream_port, service_port, tls=None):
    """Envoy with its ext_authz filter in front of a recording upstream, asking the service;
    its route hands the upstream what the service returned as dynamic metadata (as an access
    log or RBAC would read it)."""
    cfg = bootstrap(CONFIG, listen, admin, upstream_port, native=False)
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["request_headers_to_add"] = [
        {"header": {"key": f"x-meta-{k}", "value": f"%DYNAMIC_METADATA({META}:{k})%"}}
        for k in ("identity", "provider", "rule", "scopes", "claims")]
    hcm["http_filters"] = [{
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "grpc_service": {"envoy_grpc": {"cluster_name": "authgate"}, "timeout": "5s"},
            "failure_mode_allow": False,
            "include_peer_certificate": True,
        },
    }] + hcm["http_filters"][-1:]
    cfg["static_resources"]["clusters"].append({
        "name": "authgate", "connect_timeout": "1s", "type": "STATIC",
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": "authgate", "endpoints": [{"lb_endpoints": [{
            "endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": service_port}}}}]}]},
        # The service's own TLS (--tls-cert/--tls-key): Envoy checks its certificate.
        **({"transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": "authgate.test",
            "common_tls_context": {
                "alpn_protocols": ["h2"],
                "validation_context": {"trusted_ca": {"filename": tls},
                                       "match_typed_subject_alt_names": [
                                           {"san_type": "DNS", "matcher": {"exact": "authgate.test"}}]}}}}}
           if tls else {}),
    })
    return cfg


@contextlib.contextmanager
def asked_by_envoy(service, tls=None, ready_timeout=20):
    """Once `service` is ready: Envoy asking it, in front of a recording upstream, as
    (port, upstream, envoy). Envoy, the upstream and the service are stopped after."""
    upstream, port = Upstream(), free_port()
    try:
        assert service.wait_ready(timeout=ready_timeout), service.log()
        envoy = Envoy(envoy_config(port, free_port(), upstream.port, service.port, tls=tls)).start()
        try:
            yield port, upstream, envoy
        finally:
            envoy.stop()
    finally:
        upstream.close()
        service.stop()


@pytest.fixture(scope="module")
def mesh():
    service = Service(CONFIG)
    assert service.wait_ready(), service.log()
    upstream = Upstream()
    port = free_port()
    envoy = Envoy(envoy_config(port, free_port(), upstream.port, service.port)).start()
    yield port, upstream, service
    envoy.stop()
    upstream.close()
    service.stop()


def test_a_valid_key_passes_with_its_identity_and_never_the_clients_copy(mesh):
    port, upstream, _ = mesh
    r = request(port, "GET", "/keys/1", [("x-api-key", "k-1"), ("x-auth-client", "forged")])
    assert r.status == 200, (r.status, r.body)
    seen = upstream.seen[-1]
    assert seen.all("x-auth-client") == ["acme"]


@pytest.mark.parametrize("name, path, headers, status, error", [
    ("no credential", "/keys/1", [], 401, "missing_credentials"),
    ("a wrong key", "/keys/1", [("x-api-key", "nope")], 401, "invalid_credentials"),
    ("a wrong password", "/", [("authorization", basic("bob", "wrong"))], 401, "invalid_credentials"),
])
def test_a_refusal_is_the_filters_own(mesh, name, path, headers, status, error):
    port, upstream, _ = mesh
    before = len(upstream.seen)
    r = request(port, "GET", path, headers)
    assert_problem(r, status, error)
    assert len(upstream.seen) == before, f"{name}: reached upstream"
    assert challenges(r), f"{name}: a challenge says how to authenticate"


def test_basic_passes_with_the_user_and_both_challenges_are_offered(mesh):
    port, upstream, _ = mesh
    r = request(port, "GET", "/", [("authorization", basic("bob", "secret"))])
    assert r.status == 200, (r.status, r.body)
    assert upstream.seen[-1].all("x-auth-user") == ["bob"]
    refused = request(port, "GET", "/")
    assert refused.status == 401
    schemes = sorted(c.split()[0] for c in challenges(refused))
    assert schemes == ["ApiKey", "Basic"], challenges(refused)


def test_the_admin_address_says_health_readiness_and_counts(mesh):
    port, _, service = mesh
    request(port, "GET", "/keys/1", [("x-api-key", "k-1")])
    assert request(service.admin, "GET", "/healthz").status == 200
    assert request(service.admin, "GET", "/ready").status == 200
    deadline = time.time() + 5
    while time.time() < deadline:
        metrics = request(service.admin, "GET", "/metrics").body.decode()
        if any(line.startswith("authgate_allowed ") and line != "authgate_allowed 0"
               for line in metrics.splitlines()):
            break
        time.sleep(0.1)
    assert "# TYPE authgate_allowed counter" in metrics, metrics
    allowed = [line for line in metrics.splitlines() if line.startswith("authgate_allowed ")]
    assert allowed and int(allowed[0].split()[1]) >= 1, metrics


def test_a_pass_returns_who_by_which_provider_under_which_rule_as_dynamic_metadata(mesh):
    port, upstream, _ = mesh
    assert request(port, "GET", "/keys/meta", [("x-api-key", "k-1")]).status == 200
    seen = upstream.seen[-1]
    got = {k: seen.header(f"x-meta-{k}") for k in ("identity", "provider", "rule")}
    assert got == {"identity": "acme", "provider": "partners", "rule": "rules[1]"}, seen.headers


def test_cutting_list_answers_is_refused_at_load_naming_the_field():
    mcp = json.loads(json.dumps(CONFIG))
    mcp["rules"].insert(0, {"match": {"prefix": "/mcp", "mcp": {"tools": ["delete_*"]}}, "requires": "partners"})
    service = Service(mcp)
    assert service.proc.wait(timeout=20) == 1
    out = service.log()
    assert "mcp.filter_lists: the ext_authz service cannot cut" in out, out
    mcp["mcp"] = {"filter_lists": False}
    service = Service(mcp)
    assert service.wait_ready(), service.log()
    service.stop()


def test_a_refused_configuration_is_one_line_naming_the_field():
    bad = json.loads(json.dumps(CONFIG))
    bad["providers"]["partners"]["credentials"][0]["kye"] = "x"
    service = Service(bad)
    assert service.proc.wait(timeout=20) == 1
    out = service.log()
    assert "providers.partners.credentials[0].kye: unknown field" in out, out
    assert len([line for line in out.splitlines() if line.strip()]) == 1, out


def test_sighup_reloads_and_a_bad_configuration_keeps_the_one_in_force():
    service = Service(CONFIG)
    with asked_by_envoy(service) as (port, _, _):
        key = lambda k: request(port, "GET", "/keys/1", [("x-api-key", k)]).status  # noqa: E731
        assert (key("k-1"), key("k-2")) == (200, 401)
        new = json.loads(json.dumps(CONFIG))
        new["providers"]["partners"]["credentials"] = [{"client": "acme", "key": "k-2"}]
        service.write(new)
        out = service.hangup_until("configuration reloaded")
        assert "configuration reloaded" in out, out
        assert (key("k-1"), key("k-2")) == (401, 200)
        new["providers"]["partners"]["kye"] = 1
        service.write(new)
        out = service.hangup_until("reload refused")
        refusal = [line for line in out.splitlines() if "reload refused" in line]
        assert len(refusal) == 1 and "providers.partners.kye: unknown field" in refusal[0], out
        assert (key("k-1"), key("k-2")) == (401, 200), "the configuration in force stays"


def test_sigterm_stops_the_service():
    service = Service(CONFIG)
    assert service.wait_ready(), service.log()
    out = service.stop()
    assert service.proc.returncode == 0, out
    assert "stopping" in out, out


def test_a_changed_file_is_put_in_force_without_a_signal():
    service = Service(CONFIG)
    with asked_by_envoy(service) as (port, _, _):
        key = lambda k: request(port, "GET", "/keys/1", [("x-api-key", k)]).status  # noqa: E731
        assert key("k-3") == 401
        new = json.loads(json.dumps(CONFIG))
        new["providers"]["partners"]["credentials"].append({"client": "beta", "key": "k-3"})
        service.write(new)
        deadline = time.time() + 10
        while time.time() < deadline and "configuration reloaded" not in service.log():
            time.sleep(0.1)
        assert (key("k-1"), key("k-3")) == (200, 200), service.log()


def test_ready_waits_for_the_key_sets_and_a_remote_token_passes_with_its_scopes_and_claims():
    keys = Keys(prefix="svc-")
    jwks = JwksServer(keys.jwks(), delay=1.5).start()
    config = {"realm": "api", "providers": {"idp": {
        "type": "jwt", "issuer": "https://idp.test",
        # The cluster is Envoy's name for the key server; --cluster tells the service where it
        # is (the test's key server speaks plain HTTP).
        "remote_jwks": {"uri": "http://idp.test/jwks.json", "cluster": "idp", "timeout_ms": 3000}}}}
    service = Service(config, ["--cluster", f"idp=127.0.0.1:{jwks.port}",
                               "--metadata-claim", "sub", "--metadata-claim", "org.team",
                               "--metadata-claim", "absent"])
    upstream, port = Upstream(), free_port()
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                first = request(service.admin, "GET", "/ready", timeout=1).status
                break
            except OSError:
                time.sleep(0.05)
        assert first == 503, "ready before the key set was in"
        assert service.wait_ready(), service.log()
        assert jwks.hits and jwks.hits[0] == ("/jwks.json", "idp.test"), jwks.hits
        envoy = Envoy(envoy_config(port, free_port(), upstream.port, service.port)).start()
        try:
            token = keys.token("ES256", claims(aud=None, scope="orders:read orders:write",
                                               org={"team": "blue", "size": 3}))
            r = request(port, "GET", "/orders", [("authorization", f"Bearer {token}")])
            assert r.status == 200, r.body
            seen = upstream.seen[-1]
            assert seen.header("x-meta-provider") == "idp"
            assert json.loads(seen.header("x-meta-scopes")) == ["orders:read", "orders:write"], seen.headers
            # The claims asked for (--metadata-claim), a missing one left out.
            assert json.loads(seen.header("x-meta-claims")) == {"sub": "alice", "org.team": "blue"}, seen.headers
        finally:
            envoy.stop()
    finally:
        upstream.close()
        service.stop()
        jwks.stop()


def self_signed(directory, name="authgate.test"):
    """A certificate for `name` and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def test_the_service_speaks_tls_with_its_own_certificate():
    directory = tempfile.mkdtemp(prefix="authgate-service-tls-")
    cert, key = self_signed(directory)
    service = Service(CONFIG, ["--tls-cert", cert, "--tls-key", key])
    with asked_by_envoy(service, tls=cert) as (port, _, envoy):
        assert request(port, "GET", "/keys/1", [("x-api-key", "k-1")]).status == 200, envoy.log()[-3000:]
        assert_problem(request(port, "GET", "/keys/1", [("x-api-key", "nope")]), 401, "invalid_credentials")
        assert "TLS" in service.log()


def test_tls_needs_both_files():
    service = Service(CONFIG, ["--tls-cert", "/nonexistent.pem"])
    assert service.proc.wait(timeout=20) != 0
    assert "--tls-cert and --tls-key go together" in service.log(), service.log()


@pytest.mark.parametrize("args, said", [
    (["--cluster", "idp=127.0.0.1:0"], "want NAME=HOST:PORT"),
    (["--cluster", "idp"], "want NAME=HOST:PORT"),
    (["--cluster", "idp=a:1", "--cluster", "idp=b:2"], "cluster idp is given twice"),
])
def test_a_bad_cluster_option_is_refused(args, said):
    service = Service(CONFIG, args)
    try:
        assert service.proc.wait(timeout=20) != 0
        assert said in service.log(), service.log()
    finally:
        if service.proc.poll() is None:
            service.proc.kill()


def test_a_key_set_only_the_host_verifies_is_taken_at_start():
    """P-384 keys are verified by the host (here ring): a key set of only such keys is a
    configuration the service starts with, and its tokens pass."""
    keys = Keys(prefix="p384-")
    config = {"realm": "api", "providers": {"idp": {"type": "jwt", "issuer": "https://idp.test",
                                                    "local_jwks": keys.jwks(("p384",))}}}
    with asked_by_envoy(Service(config)) as (port, _, _):
        token = keys.token("ES384", claims(aud=None))
        assert request(port, "GET", "/x", [("authorization", f"Bearer {token}")]).status == 200
