"""The service's deployment files are what a cluster would accept and what authgate would run:
istio/ext-authz.yaml's AuthorizationPolicy validates against Istio's own CRD schema and
envoy-gateway/ext-authz-policy.yaml's SecurityPolicy against Envoy Gateway's (both vendored:
istio/schema/, envoy-gateway/schema/), the validation bites, the documents agree with each
other (provider, Service, ports, probes, the ConfigMap's path), the ConfigMap's configuration
runs in `authgate serve` behind a real Envoy, and service/Dockerfile's base holds every library
dist/authgate needs. Runs once (conftest.py ONCE)."""

import copy
import json
import os
import subprocess

import pytest
import yaml

from common import assert_problem
from harness import ROOT, request
from test_istio import openapi_to_jsonschema, refuse_unknown_fields
from test_service import CLI, Service, asked_by_envoy

import jsonschema

ISTIO = os.path.join(ROOT, "istio", "ext-authz.yaml")
EG = os.path.join(ROOT, "envoy-gateway", "ext-authz-policy.yaml")


def documents(path):
    with open(path) as f:
        return {d["kind"]: d for d in yaml.safe_load_all(f) if d}


def validator(crd_path, api_version):
    """The CRD's schema for `api_version`, as the API server applies it (strict fields)."""
    with open(crd_path) as f:
        crd = next(d for d in yaml.safe_load_all(f) if d)
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served")]
    schema = copy.deepcopy(served["schema"]["openAPIV3Schema"])
    schema["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                            "metadata": {"type": "object"}, **schema["properties"]}
    schema = refuse_unknown_fields(openapi_to_jsonschema(schema))
    return jsonschema.Draft7Validator(schema)


def errors(crd, doc):
    return sorted(".".join(map(str, e.absolute_path)) + ": " + e.message
                  for e in validator(crd, doc["apiVersion"]).iter_errors(doc))


POLICY_CRD = os.path.join(ROOT, "istio", "schema", "authorizationpolicy-crd.yaml")
SECURITY_CRD = os.path.join(ROOT, "envoy-gateway", "schema", "securitypolicy-crd.yaml")
ISTIO_DOCS, EG_DOCS = documents(ISTIO), documents(EG)
# Istio's EnvoyExternalAuthorizationGrpcProvider (istio/api mesh/v1alpha1/config.proto, the
# commit of istio/schema/README.md): the mesh configuration is no CRD, so its fields by hand.
GRPC_PROVIDER_FIELDS = {"service", "port", "timeout", "failOpen", "clearRouteCache", "statusOnError",
                        "includeRequestBodyInCheck"}


def test_the_authorization_policy_is_valid_and_the_validation_bites():
    policy = ISTIO_DOCS["AuthorizationPolicy"]
    assert errors(POLICY_CRD, policy) == []
    for field, value in (("action", "CUSTOMISE"), ("provider", {"nam": "authgate"})):
        bad = copy.deepcopy(policy)
        bad["spec"][field] = value
        assert errors(POLICY_CRD, bad), f"{field}: {value!r} was accepted"


def test_the_istio_documents_agree_with_each_other():
    (provider,) = ISTIO_DOCS["IstioOperator"]["spec"]["meshConfig"]["extensionProviders"]
    grpc = provider["envoyExtAuthzGrpc"]
    assert set(grpc) <= GRPC_PROVIDER_FIELDS, set(grpc) - GRPC_PROVIDER_FIELDS
    assert grpc["failOpen"] is False and grpc["statusOnError"] == "503"
    assert ISTIO_DOCS["AuthorizationPolicy"]["spec"]["provider"]["name"] == provider["name"]
    svc, dep, cm = ISTIO_DOCS["Service"], ISTIO_DOCS["Deployment"], ISTIO_DOCS["ConfigMap"]
    assert grpc["service"] == f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local"
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert ports["grpc"]["port"] == grpc["port"] and ports["grpc"]["appProtocol"] == "grpc"
    assert svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    listen, admin = args[args.index("--listen") + 1], args[args.index("--admin") + 1]
    assert int(listen.rsplit(":", 1)[1]) == ports["grpc"]["targetPort"]
    admin_port = int(admin.rsplit(":", 1)[1])
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": admin_port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": admin_port}
    (mount,) = container["volumeMounts"]
    (key,) = cm["data"]
    assert args[args.index("--config") + 1] == f"{mount['mountPath']}/{key}"
    (volume,) = dep["spec"]["template"]["spec"]["volumes"]
    assert volume["configMap"]["name"] == cm["metadata"]["name"] and mount["name"] == volume["name"]


def test_the_configmaps_configuration_runs_in_the_service():
    """The ConfigMap's JSON as the Deployment gives it: its key sets are out of reach here, so
    /ready comes once their first fetch had its time, and the documented key passes."""
    config = json.loads(ISTIO_DOCS["ConfigMap"]["data"]["authgate.json"])
    with asked_by_envoy(Service(config), ready_timeout=30) as (port, upstream, _):
        r = request(port, "GET", "/orders", [("x-api-key", "shop-example-key")])
        assert r.status == 200, (r.status, r.body)
        assert upstream.seen[-1].header("x-auth-client") == "acme"
        assert_problem(request(port, "GET", "/orders"), 401, "missing_credentials")


def test_the_security_policy_is_valid_points_at_the_service_and_the_validation_bites():
    policy = EG_DOCS["SecurityPolicy"]
    assert errors(SECURITY_CRD, policy) == []
    ext = policy["spec"]["extAuth"]
    (ref,) = ext["grpc"]["backendRefs"]
    svc = ISTIO_DOCS["Service"]
    assert (ref["name"], ref["namespace"]) == (svc["metadata"]["name"], svc["metadata"]["namespace"])
    assert ref["port"] == next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "grpc")
    assert ext["failOpen"] is False and ext["statusOnError"] == 503
    grant = EG_DOCS["ReferenceGrant"]
    assert grant["metadata"]["namespace"] == ref["namespace"]
    assert grant["spec"]["from"] == [{"group": "gateway.envoyproxy.io", "kind": "SecurityPolicy",
                                      "namespace": policy["metadata"]["namespace"]}]
    for path, value in ((("statusOnError",), 200), (("timeout",), "five seconds"), (("grpc", "backendRefz"), [])):
        bad = copy.deepcopy(policy)
        target = bad["spec"]["extAuth"]
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        assert errors(SECURITY_CRD, bad), f"{path}: {value!r} was accepted"


@pytest.mark.skipif(not os.path.exists(CLI), reason="dist/authgate is built by ./build.sh test")
def test_the_image_base_holds_every_library_the_binary_needs():
    """distroless/cc-debian12 has glibc 2.36, libm and libgcc_s: the binary may ask no more."""
    with open(os.path.join(ROOT, "service", "Dockerfile")) as f:
        dockerfile = f.read()
    assert "FROM gcr.io/distroless/cc-debian12" in dockerfile
    assert "COPY dist/authgate /usr/local/bin/authgate" in dockerfile
    dynamic = subprocess.run(["readelf", "-d", CLI], capture_output=True, text=True, check=True).stdout
    needed = {line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line}
    assert needed <= {"libc.so.6", "libm.so.6", "libgcc_s.so.1", "libpthread.so.0", "libdl.so.2",
                      "librt.so.1", "ld-linux-x86-64.so.2"}, needed
    symbols = subprocess.run(["objdump", "-T", CLI], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(n) for n in v.split("_")[1].split(".")) for v in
                __import__("re").findall(r"GLIBC_[0-9.]+", symbols)}
    assert max(versions) <= (2, 36), max(versions)
