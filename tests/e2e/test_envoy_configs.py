"""Every Envoy config shipped in envoy/ passes `envoy --mode validate`, and the demo serves
what the README says it does."""

import glob
import os
import subprocess
import sys

import pytest

from demo import EXAMPLES
from harness import ROOT, envoy_binary

# compose.yaml runs inside a container with paths of its own: test_compose.py validates it.
CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, "envoy", "*.yaml"))
                 if os.path.basename(p) != "compose.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.basename(p) for p in CONFIGS])
def test_envoy_validates(path):
    r = subprocess.run([envoy_binary(), "--mode", "validate", "-c", path, "--disable-hot-restart"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_demo_serves_every_example():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "e2e", "demo.py"), "--check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    assert f"{len(EXAMPLES)} passed, 0 failed" in r.stdout


def test_demo_config_is_the_canonical_one():
    """envoy/demo.yaml inlines demo/authgate.json; they must not drift apart."""
    import json
    import yaml
    doc = yaml.safe_load(open(os.path.join(ROOT, "envoy", "demo.yaml")))
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    inline = hcm["http_filters"][0]["typed_config"]["config"]["configuration"]["value"]
    assert json.loads(inline) == json.load(open(os.path.join(ROOT, "demo", "authgate.json")))


def test_the_mcp_gateway_config_is_the_documented_one():
    """envoy/mcp-gateway.yaml inlines docs/mcp-gateway.md's configuration (origins on 127.0.0.1)."""
    import json
    import yaml
    from test_mcp_gateway import documented_configuration
    doc = yaml.safe_load(open(os.path.join(ROOT, "envoy", "mcp-gateway.yaml")))
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    wasm = hcm["http_filters"][0]["typed_config"]["config"]
    assert wasm["allow_on_headers_stop_iteration"] is True
    inline = json.loads(wasm["configuration"]["value"])
    assert inline == documented_configuration("http://127.0.0.1:8080", "http://127.0.0.1:8090")
