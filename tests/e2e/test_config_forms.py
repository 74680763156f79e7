"""The configuration reaches authgate in every form Envoy allows: as a google.protobuf.Struct
instead of a JSON string, under any root_id, with CORS preflight turned off and no rules."""

from common import assert_problem

CONFIG = {
    "providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "s-1"}]}},
    "allow_cors_preflight": False,
}


STACK_OPTIONS = {"extra": {"as_struct": True, "root_id": "any-name-at-all"}}


def test_struct_configuration_and_default_rule(gw):
    assert gw.get("/anything", [("x-api-key", "s-1")]).status == 200
    r = gw.get("/anything")
    assert_problem(r, 401, "missing_credentials", realm="authgate")
    assert r.all("www-authenticate") == ['ApiKey realm="authgate", in="header", name="x-api-key"']


def test_preflight_needs_credentials_when_turned_off(gw):
    before = len(gw.upstream.seen)
    r = gw.get("/x", [("origin", "https://a"), ("access-control-request-method", "GET")], method="OPTIONS")
    assert r.status == 401
    assert len(gw.upstream.seen) == before
