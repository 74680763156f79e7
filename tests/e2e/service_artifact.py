"""The ext_authz service as the suite's third artifact (AUTHGATE_ARTIFACT=service): Envoy's
ext_authz filter as docs/service.md sets it, in place of the filter a bootstrap would hold, and
`dist/authgate serve` started with the test's configuration and clusters before Envoy (the
harness's Envoy class starts and stops it, and reads its log and counters with Envoy's)."""

import json
import os
import socket
import subprocess
import time

from harness import CLI, free_port, request, stop_process


def service_filter(plugin_config, vm_env):
    """Envoy's ext_authz filter asking `authgate serve` (started with the same configuration)
    as docs/service.md sets it, and what the service is started with."""
    port, admin = free_port(), free_port()
    ext_authz = {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "grpc_service": {"envoy_grpc": {"cluster_name": "authgate_service"}, "timeout": "10s"},
            "failure_mode_allow": False,
            "status_on_error": {"code": 503},
            "include_peer_certificate": True,
            "include_tls_session": True,
            # match.mcp rules read the JSON-RPC body.
            "with_request_body": {"max_request_bytes": 1048576, "allow_partial_message": False,
                                  "pack_as_bytes": True},
        },
    }
    if not isinstance(plugin_config, str):
        plugin_config = json.dumps(plugin_config)
    return ext_authz, {"config": plugin_config, "port": port, "admin": admin, "env": dict(vm_env or {})}


class Service:
    """`authgate serve` on the ports a service bootstrap chose; its output is in `log()`."""

    def __init__(self, spec, workdir):
        self.spec = spec
        self.path = os.path.join(workdir, "authgate.json")
        with open(self.path, "w") as f:
            f.write(spec["config"])
        self.out_path = os.path.join(workdir, "service.log")
        self.proc = None

    def start(self, timeout=30):
        """Starts it; `True` once its gRPC port takes connections, `False` if it exited."""
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(
            [CLI, "serve", "--config", self.path, "--listen", f"127.0.0.1:{self.spec['port']}",
             "--admin", f"127.0.0.1:{self.spec['admin']}", "--workers", str(self.spec["workers"])]
            + [a for name, port in self.spec["clusters"].items() for a in ("--cluster", f"{name}=127.0.0.1:{port}")],
            stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **self.spec["env"]})
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.spec["port"]), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("authgate serve did not listen:\n" + self.log())

    def stats(self):
        return request(self.spec["admin"], "GET", "/stats").json()["stats"]

    def log(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        stop_process(self.proc)
        if getattr(self, "out", None):
            self.out.close()
