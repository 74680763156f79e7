"""The Envoy Gateway example (envoy-gateway/): what a cluster cannot show here (no Kubernetes in
this workplace), the manifests' parts that must agree with each other and with the module
(module name, library file, search path), and that the policy's `config`, passed to the module
as Envoy Gateway passes it (the JSON of `config` as the filter's `filter_config`: a Struct or a
string), loads in a real Envoy 1.40 with dist/libauthgate.so and decides as the example says."""

import json
import os

import pytest
import yaml

from harness import NATIVE, ROOT, Stack

pytestmark = pytest.mark.skipif(not os.path.exists(NATIVE), reason="dist/libauthgate.so is built by ./build.sh test")

DIR = os.path.join(ROOT, "envoy-gateway")


def load(name):
    with open(os.path.join(DIR, name)) as f:
        return yaml.safe_load(f)


PROXY, POLICY = load("envoyproxy.yaml"), load("extension-policy.yaml")


def test_the_manifests_agree_with_each_other_and_the_module():
    registered = {m["name"]: m for m in PROXY["spec"]["dynamicModules"]}
    (used,) = POLICY["spec"]["dynamicModule"]
    module = registered[used["name"]]
    assert f"lib{module['libraryName']}.so" == os.path.basename(NATIVE)
    assert module["doNotClose"] is True, "key sets and caches live in the module's memory"
    assert used["filterName"] == "authgate"
    container = PROXY["spec"]["provider"]["kubernetes"]["envoyDeployment"]["container"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["ENVOY_DYNAMIC_MODULES_SEARCH_PATH"] == mounts["authgate"]


@pytest.mark.parametrize("as_struct", [True, False], ids=["Struct", "JSON string"])
def test_the_policys_config_runs_in_the_module(as_struct):
    config = POLICY["spec"]["dynamicModule"][0]["config"]
    gw = Stack(config if as_struct else json.dumps(config),
               extra={"native": True, "as_struct": as_struct})
    try:
        assert gw.envoy.proc.poll() is None, gw.envoy.log()[-3000:]
        r = gw.get("/orders")
        assert r.status == 401 and r.header("www-authenticate") is not None
        assert gw.get("/orders", [("x-api-key", "wrong")]).status == 401
        before = len(gw.upstream.seen)
        assert gw.get("/orders", [("x-api-key", "eg-example-key")]).status == 200
        assert gw.upstream.seen[before].header("x-auth-client") == "acme"
        assert gw.get("/healthz").status == 200
    finally:
        gw.close()
