"""Authorization beyond scopes through Envoy: a rule's `claims` conditions (`equals`,
`contains`, `in`, nested names, arrays and space-separated strings) and `identities` (Basic
users, API key clients, token subjects). A credential that authenticates but fails a condition
gets 403 `access_denied` with a detail naming the condition (never the token's value) and no
challenge; it is counted, logged and reported like every other refusal; conditions that cannot
work are refused at load."""

import pytest

from common import ALICE_BCRYPT, BOB_SHA, allowed, assert_problem, basic, refused, refused_at_load
from jwtkit import Keys, claims

KEYS = Keys()
CONFIG = {
    "realm": "api",
    "providers": {
        "idp": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": KEYS.jwks(["p256"])},
        "staff": {"type": "basic", "htpasswd": f"{ALICE_BCRYPT}\n{BOB_SHA}"},
        "keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}, {"client": "globex", "key": "k-2"}]},
    },
    "rules": [
        {"match": {"prefix": "/admin"}, "requires": "idp",
         "claims": [{"claim": "groups", "contains": "admin"}, {"claim": "tenant", "equals": "acme"},
                    {"claim": "org.role", "in": ["owner", "admin"]}, {"claim": "email_verified", "equals": True}]},
        {"match": {"prefix": "/scoped-words"}, "requires": "idp", "claims": [{"claim": "roles", "contains": "writer"}]},
        {"match": {"prefix": "/people"}, "requires": {"any": ["staff", "keys", "idp"]}, "identities": ["alice", "acme", "carol"]},
    ],
}
GOOD = {"groups": ["admin", "ops"], "tenant": "acme", "org": {"role": "owner"}, "email_verified": True}


def bearer(**extra):
    return [("authorization", "Bearer " + KEYS.token("ES256", claims(aud=None, **extra)))]


def test_every_claim_condition_holds(gw):
    allowed(gw, "/admin", bearer(**GOOD))
    allowed(gw, "/scoped-words", bearer(roles="reader writer"))


@pytest.mark.parametrize("name,extra,condition", [
    ("array without the value", dict(GOOD, groups=["ops"]), 'the claim `groups` must contain "admin"'),
    ("another tenant", dict(GOOD, tenant="globex"), 'the claim `tenant` must equal "acme"'),
    ("nested value not in the list", dict(GOOD, org={"role": "viewer"}), "the claim `org.role` must be one of"),
    ("boolean as a string", dict(GOOD, email_verified="true"), "the claim `email_verified` must equal true"),
    ("claim missing", {k: v for k, v in GOOD.items() if k != "tenant"}, "the claim `tenant` must equal"),
], ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_a_failed_condition_is_403_access_denied_without_a_challenge(gw, name, extra, condition):
    r = refused(gw, "/admin", bearer(**extra))
    body = assert_problem(r, 403, "access_denied")
    assert r.all("www-authenticate") == []
    assert condition in body["detail"], body["detail"]


def test_space_separated_strings_hold_whole_words(gw):
    r = refused(gw, "/scoped-words", bearer(roles="rewriter readers"))
    assert_problem(r, 403, "access_denied")


def test_identities_for_basic_api_keys_and_tokens(gw):
    assert allowed(gw, "/people", [("authorization", basic("alice", "secret"))])
    assert allowed(gw, "/people", [("x-api-key", "k-1")])
    assert allowed(gw, "/people", bearer(sub="carol"))
    for headers in ([("authorization", basic("bob", "secret"))], [("x-api-key", "k-2")], bearer(sub="dave")):
        r = refused(gw, "/people", headers)
        body = assert_problem(r, 403, "access_denied")
        assert "identity" in body["detail"]
    # A wrong password is still a 401: conditions apply to credentials that authenticate.
    assert_problem(refused(gw, "/people", [("authorization", basic("alice", "wrong"))]), 401, "invalid_credentials")


def test_counted_and_logged(gw):
    import time
    refused(gw, "/admin", bearer(**dict(GOOD, tenant="x")))
    time.sleep(0.6)
    stats = gw.envoy.stats("wasmcustom.authgate.denied.access_denied")
    assert stats.get("wasmcustom.authgate.denied.access_denied", 0) >= 1, stats
    assert "error=access_denied" in gw.envoy.log()


@pytest.mark.parametrize("name,rule,field", [
    ("claims without a token provider", {"match": {"prefix": "/"}, "requires": "staff", "claims": [{"claim": "a", "equals": 1}]}, "rules[0].claims"),
    ("empty in", {"match": {"prefix": "/"}, "requires": "idp", "claims": [{"claim": "a", "in": []}]}, "rules[0].claims[0].in"),
    ("identities on none", {"match": {"prefix": "/"}, "requires": "none", "identities": ["a"]}, "rules[0].identities"),
    ("two tests", {"match": {"prefix": "/"}, "requires": "idp", "claims": [{"claim": "a", "equals": 1, "contains": 1}]}, "rules[0].claims[0]"),
], ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_conditions_that_cannot_work_are_refused_at_load(name, rule, field):
    line = refused_at_load(dict(CONFIG, rules=[rule]))
    assert f"{field}:" in line, line
