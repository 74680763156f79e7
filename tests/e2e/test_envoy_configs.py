"""Every Envoy config shipped in envoy/ passes `envoy --mode validate`, and the demo serves
what the README says it does."""

import glob
import os
import subprocess
import sys

import pytest

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
    assert "12 passed, 0 failed" in r.stdout
