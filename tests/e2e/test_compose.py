"""The container demo (docker-compose.yml + envoy/compose.yaml), what can be checked without a
container engine (test_compose_live.py runs it): Compose accepts the file, every host path it
mounts exists and is mounted read-only with the long syntax, ports are published on 127.0.0.1
only, Envoy 1.40 validates the Envoy config (authgate included: validate mode loads the module
and runs its configure step), and the plugin configuration inlined there is exactly
demo/authgate.json."""

import json
import os
import shutil
import subprocess
import tempfile

import yaml

from harness import ROOT, WASM, envoy_binary

COMPOSE = os.path.join(ROOT, "docker-compose.yml")
ENVOY_CONFIG = os.path.join(ROOT, "envoy", "compose.yaml")
IN_CONTAINER_WASM = "/etc/envoy/authgate.wasm"


def compose():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def envoy_config():
    with open(ENVOY_CONFIG) as f:
        return yaml.safe_load(f)


def wasm_filter(config):
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    (f,) = [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.wasm"]
    return f["typed_config"]["config"]


def test_compose_config_is_accepted():
    # Debian's docker-compose (v1) parses, interpolates and validates the file against the
    # Compose schema without talking to a Docker daemon.
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not installed (apt-get install docker-compose; ./build.sh test does it)"
    r = subprocess.run([binary, "-f", COMPOSE, "config"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mounted_host_paths_exist():
    mounts = []
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            # The long syntax, so a missing file is an error, not an empty directory made by Docker.
            assert volume["type"] == "bind" and volume["read_only"] is True, (name, volume)
            host, target = volume["source"], volume["target"]
            # Relative to the repository, so the demo works from any checkout.
            assert host.startswith("./"), f"{name}: {host} is not a relative path"
            assert os.path.exists(os.path.join(ROOT, host)), f"{name}: {host} does not exist (./build.sh first?)"
            mounts.append((name, host, target))
    assert ("envoy", "./dist/authgate.wasm", IN_CONTAINER_WASM) in mounts
    assert ("envoy", "./envoy/compose.yaml", "/etc/envoy/envoy.yaml") in mounts
    assert ("jwks", "./demo/jwks.json", "/usr/share/nginx/html/jwks.json") in mounts
    assert ("idp", "./demo/introspection.json", "/srv/introspection.json") in mounts


def test_compose_wiring_matches_envoy_config():
    """The names the Envoy config relies on are the ones compose provides."""
    services = compose()["services"]
    assert {"envoy", "upstream", "jwks", "idp"} <= services.keys()
    assert set(services["envoy"]["ports"]) == {"127.0.0.1:${AUTHGATE_HTTP_PORT:-8080}:8080",
                                               "127.0.0.1:${AUTHGATE_ADMIN_PORT:-9901}:9901"}
    assert services["idp"]["init"] is True and services["upstream"]["init"] is True
    clusters = {c["name"]: c for c in envoy_config()["static_resources"]["clusters"]}
    addr = lambda c: clusters[c]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (addr("demo_upstream")["address"], addr("demo_upstream")["port_value"]) == ("upstream", 8081)
    assert (addr("demo_jwks")["address"], addr("demo_jwks")["port_value"]) == ("jwks", 80)
    assert (addr("demo_idp")["address"], addr("demo_idp")["port_value"]) == ("idp", 80)
    assert services["idp"]["command"][-2:] == ["80", "0.0.0.0"]
    assert str(services["upstream"]["environment"]["HTTP_PORT"]) == "8081"
    assert wasm_filter(envoy_config())["vm_config"]["code"]["local"]["filename"] == IN_CONTAINER_WASM


def test_envoy_validates_compose_config():
    # validate mode reads the wasm file and runs authgate's configure step, and
    # /etc/envoy/authgate.wasm exists only inside the container: validate a copy whose
    # filename is the absolute path of dist/authgate.wasm. Nothing else changes (the
    # compose service names in STRICT_DNS clusters are not resolved in validate mode).
    with open(ENVOY_CONFIG) as f:
        text = f.read()
    assert text.count(IN_CONTAINER_WASM) == 1
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "compose.yaml")
        with open(path, "w") as f:
            f.write(text.replace(IN_CONTAINER_WASM, WASM))
        r = subprocess.run([envoy_binary(), "--mode", "validate", "-c", path, "--disable-hot-restart"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_inline_configuration_is_demo_config():
    configuration = wasm_filter(envoy_config())["configuration"]
    assert configuration["@type"] == "type.googleapis.com/google.protobuf.StringValue"
    with open(os.path.join(ROOT, "demo", "authgate.json")) as f:
        assert json.loads(configuration["value"]) == json.load(f)


def test_the_ext_authz_variant_is_accepted_and_wired():
    """docker-compose.ext-authz.yml laid over docker-compose.yml: Compose accepts the pair, the
    merged Envoy mounts envoy/compose-ext-authz.yaml where the wasm filter's configuration was,
    the service is built from service/Dockerfile with the demo configuration mounted where the
    image's default command reads it, and Envoy's ext_authz cluster is that service."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not installed (apt-get install docker-compose; ./build.sh test does it)"
    r = subprocess.run([binary, "-f", COMPOSE, "-f", os.path.join(ROOT, "docker-compose.ext-authz.yml"), "config"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    merged = yaml.safe_load(r.stdout)["services"]
    envoy_mounts = {v["target"]: v["source"] for v in merged["envoy"]["volumes"]}
    assert envoy_mounts["/etc/envoy/envoy.yaml"].endswith("/envoy/compose-ext-authz.yaml"), envoy_mounts
    service = merged["authgate"]
    assert service["build"]["dockerfile"] == "service/Dockerfile" and service["init"] is True
    (mount,) = service["volumes"]
    assert mount["source"].endswith("/demo/authgate.json") and mount["read_only"] is True
    with open(os.path.join(ROOT, "service", "Dockerfile")) as f:
        assert f'"--config", "{mount["target"]}"' in f.read()
    with open(os.path.join(ROOT, "envoy", "compose-ext-authz.yaml")) as f:
        cfg = yaml.safe_load(f)
    clusters = {c["name"]: c for c in cfg["static_resources"]["clusters"]}
    addr = clusters["authgate"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert addr["socket_address"] == {"address": "authgate", "port_value": 9191}
    # The demo's secret reaches the service as it reached the wasm VM.
    assert service["environment"]["DEMO_IDP_SECRET"] == wasm_filter(envoy_config())["vm_config"][
        "environment_variables"]["key_values"]["DEMO_IDP_SECRET"]
