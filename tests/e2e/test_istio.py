"""The Istio manifests in istio/ are what a cluster would accept and what authgate would load:
every WasmPlugin validates against Istio's own CRD schema (istio/schema/wasmplugin-crd.yaml,
vendored from istio/api: see istio/schema/README.md), the mesh-wide and per-workload ones have
the shape the docs promise, and each pluginConfig starts a real Envoy 1.40 with dist/authgate.wasm
(authgate refuses a bad configuration at load, so a running Envoy means authgate accepted it)."""

import copy
import glob
import json
import os
import re

import jsonschema
import pytest
import yaml

from harness import ROOT, Stack, free_port

CRD = os.path.join(ROOT, "istio", "schema", "wasmplugin-crd.yaml")
MANIFESTS = sorted(glob.glob(os.path.join(ROOT, "istio", "*.yaml")))


def documents():
    """(file name, document) for every document of every manifest file (multi-document safe)."""
    out = []
    for path in MANIFESTS:
        with open(path) as f:
            out += [(os.path.basename(path), d) for d in yaml.safe_load_all(f) if d is not None]
    return out


PLUGINS = [(name, d) for name, d in documents() if d.get("kind") == "WasmPlugin"]
IDS = [f"{name}:{d['metadata']['name']}" for name, d in PLUGINS]


def openapi_to_jsonschema(node):
    """The CRD's OpenAPI v3 schema as JSON Schema. Two differences matter here:
    - `nullable: true` is OpenAPI-only (jsonschema ignores it, so `priority: null` would fail
      `type: integer`): turn it into a type list that admits null, as the API server does;
    - `format` (int32, date-time) is an annotation for jsonschema unless a format checker is
      given, which we don't: nothing to do.
    x-kubernetes-* keys are unknown keywords to jsonschema and ignored (the CEL rules in
    x-kubernetes-validations are checked by the API server only)."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
    return out


def refuse_unknown_fields(node):
    """What `kubectl apply` does by default (server-side field validation, Strict): a field the
    schema does not declare is an error, except under `x-kubernetes-preserve-unknown-fields`
    (pluginConfig, status). In JSON Schema terms: `additionalProperties: false` on every object
    schema that lists its properties and says nothing else about extra ones."""
    if isinstance(node, list):
        return [refuse_unknown_fields(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: refuse_unknown_fields(v) for k, v in node.items()}
    if (node.get("type") == "object" and isinstance(node.get("properties"), dict)
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def validator_for(api_version):
    with open(CRD) as f:
        crd = yaml.safe_load(f)
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group
    served = [v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served")]
    assert served, f"the CRD serves no version {version}"
    schema = copy.deepcopy(served[0]["schema"]["openAPIV3Schema"])
    # Every object has these at the top; the API server checks them itself, the CRD omits them.
    schema["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                            "metadata": {"type": "object"}, **schema["properties"]}
    schema = refuse_unknown_fields(openapi_to_jsonschema(schema))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(doc):
    return sorted(e.message for e in validator_for(doc["apiVersion"]).iter_errors(doc))


def schema_error_paths(doc):
    """Where the errors are, as dotted paths (spec.match.0.mode)."""
    return sorted(".".join(map(str, e.absolute_path))
                  for e in validator_for(doc["apiVersion"]).iter_errors(doc))


def test_schema_is_vendored_in_the_repository():
    """The schema is the repository's own copy, not one from outside the checkout."""
    assert os.path.isfile(CRD), CRD
    assert os.path.commonpath([os.path.realpath(CRD), os.path.realpath(ROOT)]) == os.path.realpath(ROOT)
    with open(CRD) as f:
        crd = yaml.safe_load(f)
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["spec"]["names"]["kind"] == "WasmPlugin"


def test_manifests_found():
    names = {d["metadata"]["name"] for _, d in PLUGINS}
    assert {"authgate-mesh", "authgate-orders"} <= names, names


@pytest.mark.parametrize("name,doc", PLUGINS, ids=IDS)
def test_valid_against_istio_crd(name, doc):
    assert doc["apiVersion"] == "extensions.istio.io/v1alpha1"
    assert doc["metadata"].get("namespace"), "a WasmPlugin must name its namespace"
    assert schema_errors(doc) == []
    # The CRD's CEL rule that jsonschema cannot run: at most one of selector/targetRef/targetRefs.
    assert sum(k in doc["spec"] for k in ("selector", "targetRef", "targetRefs")) <= 1
    # The CEL rule on url, reduced to what we use.
    assert re.match(r"^(oci|https?|file)://", doc["spec"]["url"])


@pytest.mark.parametrize("field,value", [
    pytest.param("failStrategy", "SOMETIMES", id="failStrategy-SOMETIMES"),
    pytest.param("failStrategy", "FAIL_SOMETIMES", id="failStrategy-enum-FAIL_SOMETIMES"),
    pytest.param("failStrategy", "fail_close", id="failStrategy-enum-lower-case"),
    pytest.param("phase", "EARLY", id="phase-EARLY"),
    pytest.param("phase", "NOPE", id="phase-enum-NOPE"),
    pytest.param("imagePullPolicy", "Never", id="imagePullPolicy-enum-Never"),
    pytest.param("type", "TCP", id="type-enum-TCP"),
    pytest.param("sha256", "ABC", id="sha256-ABC"),
    pytest.param("sha256", "0" * 63, id="sha256-too-short-63"),
    pytest.param("sha256", "0" * 65, id="sha256-too-long-65"),
    pytest.param("sha256", "A" * 64, id="sha256-upper-case-hex"),
    pytest.param("sha256", "g" * 64, id="sha256-not-hex"),
    pytest.param("sha256", "sha256:" + "0" * 64, id="sha256-with-prefix"),
    pytest.param("priority", "high", id="priority-not-integer"),
    pytest.param("url", "", id="url-empty"),
])
def test_schema_rejects_invalid_field(field, value):
    """The validation is real: one bad value in a copy of a valid manifest is refused."""
    doc = copy.deepcopy(PLUGINS[0][1])
    doc["spec"][field] = value
    assert schema_errors(doc), f"{field}: {value!r} was accepted"
    # ... and refused for that field, not for something else.
    assert schema_error_paths(doc) == [f"spec.{field}"], schema_errors(doc)


@pytest.mark.parametrize("path,field", [
    pytest.param("spec", "pluginConfg", id="spec.pluginConfg"),
    pytest.param("spec", "failstrategy", id="spec.failstrategy"),
    pytest.param("spec.match.0", "mod", id="spec.match[0].mod"),
    pytest.param("", "specs", id="top-level-specs"),
])
def test_schema_rejects_unknown_field(path, field):
    """A misspelt field is refused (kubectl apply's strict field validation), not silently
    dropped: `pluginConfg` would otherwise leave authgate with no configuration at all."""
    doc = copy.deepcopy(PLUGINS[0][1])
    target = doc
    for step in filter(None, path.split(".")):
        target = target[int(step)] if isinstance(target, list) else target[step]
    target[field] = "x"
    errors = schema_errors(doc)
    assert errors, f"unknown field {path}.{field} was accepted"
    assert schema_error_paths(doc) == [path], errors
    assert any(repr(field) in e for e in errors), errors


def test_schema_keeps_unknown_fields_where_preserved():
    """The strictness stops where the CRD preserves unknown fields: pluginConfig is authgate's
    (authgate itself refuses unknown fields in it, at load)."""
    doc = copy.deepcopy(PLUGINS[0][1])
    doc["spec"]["pluginConfig"]["anything"] = {"nested": [1, 2]}
    assert schema_errors(doc) == []


def test_schema_rejects_missing_url_and_unknown_enum_in_match():
    doc = copy.deepcopy(PLUGINS[0][1])
    del doc["spec"]["url"]
    assert schema_errors(doc)
    doc = copy.deepcopy(PLUGINS[0][1])
    doc["spec"]["match"] = [{"mode": "INBOUND"}]
    assert schema_errors(doc)


def test_mesh_wide_plugin():
    (doc,) = [d for _, d in PLUGINS if d["metadata"]["name"] == "authgate-mesh"]
    spec = doc["spec"]
    assert doc["metadata"]["namespace"] == "istio-system"   # the root namespace: whole mesh
    assert not {"selector", "targetRef", "targetRefs"} & spec.keys()
    assert spec["phase"] == "AUTHN"
    assert spec["failStrategy"] == "FAIL_CLOSE"
    assert spec["url"].startswith("oci://")
    assert spec["imagePullPolicy"] == "IfNotPresent"
    providers = spec["pluginConfig"]["providers"]
    # No password lists in a mesh-wide policy, and API keys only as digests.
    assert {p["type"] for p in providers.values()} == {"api_key", "jwt"}
    for p in providers.values():
        for c in p.get("credentials", []):
            assert "key" not in c and re.fullmatch(r"[0-9a-f]{64}", c["key_sha256"])
    # remote_jwks goes through an Istio outbound cluster, which the same file's ServiceEntry creates.
    jwks = providers["idp"]["remote_jwks"]
    assert jwks["cluster"] == "outbound|443||idp.example.com"
    entries = [d for n, d in documents() if d.get("kind") == "ServiceEntry"]
    assert any("idp.example.com" in e["spec"]["hosts"] and 443 in [p["number"] for p in e["spec"]["ports"]]
               for e in entries)


def test_per_workload_plugin():
    (doc,) = [d for _, d in PLUGINS if d["metadata"]["name"] == "authgate-orders"]
    spec = doc["spec"]
    assert doc["metadata"]["namespace"] != "istio-system"
    assert spec["selector"]["matchLabels"] == {"app": "orders"}
    assert spec["url"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{64}", spec["sha256"])
    assert spec["failStrategy"] == "FAIL_CLOSE"


def jwks_clusters(plugin_config):
    return {p["remote_jwks"]["cluster"] for p in plugin_config["providers"].values() if "remote_jwks" in p}


@pytest.mark.parametrize("name,doc", PLUGINS, ids=IDS)
def test_plugin_config_loads_in_envoy(name, doc):
    """Envoy 1.40 + authgate with the pluginConfig as the filter configuration (Istio hands it
    over as JSON). The Istio outbound cluster the config names is supplied as a local cluster,
    as a sidecar would have it; nothing is fetched from it before Envoy is ready."""
    config = doc["spec"]["pluginConfig"]
    clusters = {c: free_port() for c in jwks_clusters(config)}
    stack = Stack(json.dumps(config), extra={"clusters": clusters})
    try:
        assert stack.envoy.proc.poll() is None, "authgate refused the pluginConfig:\n" + stack.envoy.log()
        # Up, and enforcing: no credential, 401 with a challenge; /healthz is open.
        r = stack.get("/anything")
        assert r.status == 401, r.body
        assert stack.get("/healthz").status == 200
    finally:
        stack.close()
