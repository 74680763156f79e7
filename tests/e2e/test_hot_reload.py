"""Hot reload through ECDS: the plugin configuration changes in a watched file while requests
flow; the new one takes effect with no failed request, and one authgate refuses is rejected
while the previous one keeps serving. The wasm filter's own (ECDS names the wasm filter): it runs
once (conftest.py ONCE); the service's reload is in test_service.py."""

import json
import os
import tempfile
import threading
import time

import yaml

from common import basic
from harness import WASM, Envoy, Upstream, bootstrap, free_port, request

BOB = "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="          # password: secret
CAROL = "carol:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="      # password: secret


def plugin(keys, users):
    return {"providers": {
        "keys": {"type": "api_key", "credentials": [{"client": f"c{i}", "key": k} for i, k in enumerate(keys)]},
        "staff": {"type": "basic", "htpasswd": "\n".join(users)}}}


def write_ecds(directory, plugin_config):
    """Replaces the ECDS file atomically (write beside it, rename over), as Envoy expects."""
    doc = {"resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": "authgate",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {"name": "authgate", "root_id": "authgate", "fail_open": False,
                       "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": WASM}}},
                       "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                         "value": plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)}}}}]}
    tmp = os.path.join(directory, ".authgate.yaml.tmp")
    with open(tmp, "w") as f:
        yaml.safe_dump(doc, f)
    os.rename(tmp, os.path.join(directory, "authgate.yaml"))


def stats(envoy, prefix):
    return envoy.stats(prefix)


def test_config_changes_without_a_failed_request():
    directory = tempfile.mkdtemp(prefix="authgate-ecds-")
    write_ecds(directory, plugin(["k-1", "k-2"], [BOB]))
    upstream = Upstream()
    port = free_port()
    cfg = bootstrap({}, port, free_port(), upstream.port, native=False)
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][0] = {"name": "authgate", "config_discovery": {
        "config_source": {"resource_api_version": "V3", "path_config_source": {
            "path": os.path.join(directory, "authgate.yaml"), "watched_directory": {"path": directory}}},
        "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"]}}
    cfg["node"] = {"id": "test", "cluster": "test"}
    envoy = Envoy(cfg).start()
    statuses, stop = [], threading.Event()

    def traffic():
        # A key that stays valid through every change: each of these must pass.
        while not stop.is_set():
            statuses.append(request(port, "GET", "/x", [("x-api-key", "k-1")]).status)

    worker = threading.Thread(target=traffic)
    try:
        assert request(port, "GET", "/x", [("x-api-key", "k-2")]).status == 200
        assert request(port, "GET", "/x", [("authorization", basic("carol", "secret"))]).status == 401
        worker.start()
        time.sleep(0.5)
        # Revoke k-2, add carol.
        write_ecds(directory, plugin(["k-1"], [BOB, CAROL]))
        deadline = time.time() + 15
        while time.time() < deadline and request(port, "GET", "/x", [("x-api-key", "k-2")]).status != 401:
            time.sleep(0.1)
        assert request(port, "GET", "/x", [("x-api-key", "k-2")]).status == 401, "the key was not revoked"
        assert request(port, "GET", "/x", [("authorization", basic("carol", "secret"))]).status == 200
        # A configuration authgate refuses: rejected, the previous one keeps serving.
        rejected_before = stats(envoy, "extension_config_discovery.http_filter.authgate.config_fail").get(
            "extension_config_discovery.http_filter.authgate.config_fail", 0)
        write_ecds(directory, plugin([], [BOB]))
        deadline = time.time() + 15
        while time.time() < deadline and "providers.keys.credentials: must not be empty" not in envoy.log():
            time.sleep(0.1)
        time.sleep(0.5)
        assert "authgate: invalid configuration: providers.keys.credentials: must not be empty" in envoy.log()
        assert request(port, "GET", "/x", [("authorization", basic("carol", "secret"))]).status == 200
        assert request(port, "GET", "/x", [("x-api-key", "k-2")]).status == 401
        assert envoy.proc.poll() is None
        rejected = stats(envoy, "extension_config_discovery.http_filter.authgate.config_fail").get(
            "extension_config_discovery.http_filter.authgate.config_fail", 0)
        assert rejected > rejected_before, "Envoy did not count the rejected configuration"
        time.sleep(0.3)
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(timeout=10)
        envoy.stop()
        upstream.close()
    assert len(statuses) > 50, f"too little traffic to show anything: {len(statuses)}"
    assert set(statuses) == {200}, f"requests failed during reloads: { {s: statuses.count(s) for s in set(statuses)} }"
