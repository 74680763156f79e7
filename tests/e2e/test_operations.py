"""Operating it: counters in Envoy's /stats, audit lines in Envoy's log, and report-only mode,
all through real Envoy."""

import re

from common import allowed, assert_problem, basic
from conftest import close_stack, make_stack
from harness import log_tag
from jwtkit import Keys, claims

KEYS = Keys()

CONFIG = {
    "realm": "ops",
    "providers": {
        "keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]},
        "staff": {"type": "basic", "htpasswd": "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm"},
        "idp": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": KEYS.jwks(["p256"])},
    },
    "log_allowed": True,
}


def counters(fresh_gw):
    """The counters once they have settled: authgate hands counts to Envoy on its tick."""
    import time
    last, deadline = None, time.time() + 5
    while time.time() < deadline:
        time.sleep(0.3)
        now = {k[len("wasmcustom."):]: v for k, v in fresh_gw.envoy.stats("wasmcustom.authgate").items()}
        if now == last:
            return now
        last = now
    return last


def audit_lines(fresh_gw):
    return [l.split("wasm log authgate ", 1)[1] for l in fresh_gw.envoy.log().splitlines()
            if "wasm log authgate" in l and "authgate: allowed" in l or "authgate: denied" in l or "would deny" in l]


def test_counters_in_stats(fresh_gw):
    token = KEYS.token("ES256", claims(aud=None))
    requests = [
        ([("x-api-key", "k-1")], 200), ([("x-api-key", "nope")], 401), ([], 401),
        ([("authorization", basic("alice", "secret"))], 200), ([("authorization", basic("alice", "secret"))], 200),
        ([("authorization", basic("alice", "bad"))], 401),
        ([("authorization", f"Bearer {token}")], 200), ([("authorization", f"Bearer {token}")], 200),
        ([("authorization", "Digest x=1")], 401), ([("x-api-key", "a"), ("x-api-key", "b")], 400),
    ]
    for headers, status in requests:
        assert fresh_gw.get("/x", headers).status == status
    c = counters(fresh_gw)
    want = {
        "authgate.allowed": 5, "authgate.denied": 5,
        "authgate.denied.invalid_credentials": 2, "authgate.denied.missing_credentials": 1,
        "authgate.denied.unsupported_scheme": 1, "authgate.denied.invalid_request": 1,
        "authgate.provider.keys.allowed": 1, "authgate.provider.keys.denied.invalid_credentials": 1,
        "authgate.provider.staff.allowed": 2, "authgate.provider.staff.denied.invalid_credentials": 1,
        "authgate.provider.idp.allowed": 2,
        "authgate.cache.basic.miss": 2, "authgate.cache.basic.hit": 1,
        "authgate.cache.jwt.miss": 1, "authgate.cache.jwt.hit": 1,
        "authgate.report.would_deny": 0,
    }
    assert {k: c.get(k) for k in want} == want
    # The Prometheus view carries them too, without Envoy's `wasmcustom` namespace (the native
    # module's lose `dynamicmodulescustom` by the runtime flag docs/deploying.md gives; the
    # service's are on its own admin address, with no labels).
    prom = fresh_gw.envoy.prometheus()
    assert re.search(r"^authgate_denied_invalid_credentials(\{\})? 2$", prom, re.M), prom[:2000]


def test_audit_lines(fresh_gw):
    fresh_gw.get("/orders?api_key=leaky", [("x-api-key", "sekrit-1"), ("x-request-id", "rid-42")])
    fresh_gw.get("/orders", [("x-api-key", "sekrit-1")])
    fresh_gw.get("/orders", [("x-api-key", "k-1")])
    log = fresh_gw.envoy.log()
    denied = [l for l in log.splitlines() if "authgate: denied" in l]
    assert len(denied) == 2
    line = denied[0]
    for part in ["status=401", "error=invalid_credentials", "rule=default", "provider=keys",
                 'method="GET"', 'path="/orders"', 'client="127.0.0.1:', 'request_id="rid-42"',
                 'reason="invalid credentials: unknown API key"']:
        assert part in line, (part, line)
    fp = re.search(r"credential=([0-9a-f]{6}) ", line).group(1)
    assert f"credential={fp} " in denied[1], "the same credential must have the same fingerprint"
    assert "sekrit" not in log and "leaky" not in log
    allowed = [l for l in log.splitlines() if "authgate: allowed" in l]
    assert len(allowed) == 1 and 'provider=keys identity="acme"' in allowed[0]
    assert log_tag("info") in denied[0]


def test_report_mode_lets_everything_through_and_says_why():
    fresh_gw = make_stack(dict(CONFIG, mode="report", log_allowed=False))
    try:
        before = len(fresh_gw.upstream.seen)
        for headers in ([], [("x-api-key", "nope")], [("x-api-key", "k-1"), ("x-authgate-would-deny", "forged")]):
            assert fresh_gw.get("/x", headers).status == 200
        assert len(fresh_gw.upstream.seen) == before + 3
        marks = [s.header("x-authgate-would-deny") for s in fresh_gw.upstream.seen[-3:]]
        assert marks == ["missing_credentials; rule=default", "invalid_credentials; rule=default", None]
        c = counters(fresh_gw)
        assert (c["authgate.report.would_deny"], c["authgate.report.would_deny.missing_credentials"],
                c["authgate.report.would_deny.invalid_credentials"], c["authgate.denied"], c["authgate.allowed"]) == (2, 1, 1, 0, 1)
        lines = [l for l in fresh_gw.envoy.log().splitlines() if "authgate: would deny (report mode)" in l]
        assert len(lines) == 2 and "error=missing_credentials" in lines[0]
    finally:
        close_stack(fresh_gw)


def test_forged_report_header_is_removed_in_enforce_mode(fresh_gw):
    """An upstream that reads the would-deny header is never fooled by a client, whatever the
    mode: the header is stripped from incoming requests in enforce mode too."""
    seen = allowed(fresh_gw, "/x", [("x-api-key", "k-1"), ("x-authgate-would-deny", "forged")])
    assert seen.header("x-authgate-would-deny") is None
    seen = allowed(fresh_gw, "/x", [("x-api-key", "k-1"), ("X-Authgate-Would-Deny", "forged"),
                              ("x-authgate-would-deny", "again")])
    assert seen.all("x-authgate-would-deny") == []


def test_report_header_name_and_audit_level_are_configurable():
    fresh_gw = make_stack(dict(CONFIG, mode="report", report_header="x-auth-dryrun", audit_level="warn"))
    try:
        assert fresh_gw.get("/x").status == 200
        assert fresh_gw.upstream.seen[-1].header("x-auth-dryrun") == "missing_credentials; rule=default"
        assert any(log_tag("warning") in l and "would deny" in l for l in fresh_gw.envoy.log().splitlines())
    finally:
        close_stack(fresh_gw)


def test_audit_lines_are_rate_limited():
    import time
    fresh_gw = make_stack(dict(CONFIG, audit_lines_per_second=5, log_allowed=False))
    try:
        for _ in range(40):
            assert fresh_gw.get("/x", [("x-api-key", "nope")]).status == 401
        time.sleep(1.1)
        assert fresh_gw.get("/x").status == 401
        # The summary comes from the tick once the second is over; on a loaded machine that
        # and the log write may take a moment.
        summary = "audit lines left out in the last second (audit_lines_per_second = 5)"
        deadline = time.time() + 5
        while summary not in fresh_gw.envoy.log() and time.time() < deadline:
            time.sleep(0.1)
        c = counters(fresh_gw)
        log = fresh_gw.envoy.log()
        lines = [l for l in log.splitlines() if "authgate: denied" in l]
        assert 5 <= len(lines) <= 16, len(lines)
        assert summary in log
        assert c["authgate.audit.suppressed"] + len(lines) == 41
        assert c["authgate.denied"] == 41, "counters count every refusal, logged or not"
    finally:
        close_stack(fresh_gw)


def test_audit_summary_comes_from_the_tick_after_a_burst_and_silence():
    """A burst over the limit and then no request at all: the summary line is still written,
    by the tick, within about a second, and only once."""
    import time
    fresh_gw = make_stack(dict(CONFIG, audit_lines_per_second=3, log_allowed=False))
    try:
        for _ in range(20):
            assert fresh_gw.get("/x", [("x-api-key", "nope")]).status == 401
        summary = "audit lines left out in the last second (audit_lines_per_second = 3)"

        def tally():
            log = fresh_gw.envoy.log()
            written = len([l for l in log.splitlines() if "authgate: denied" in l])
            left_out = sum(int(m) for m in re.findall(r"authgate: (\d+) audit lines left out", log))
            return written, left_out, log.count(summary)

        deadline = time.time() + 5
        while sum(tally()[:2]) < 20 and time.time() < deadline:
            time.sleep(0.1)
        written, left_out, summaries = tally()
        assert written + left_out == 20 and left_out > 0 and summaries >= 1, (written, left_out)
        time.sleep(1.5)
        assert tally() == (written, left_out, summaries), "each left-out line is summarised once"
    finally:
        close_stack(fresh_gw)


def json_audit_lines(log):
    """Every audit line of a log written with `audit_format: "json"`: the message after Envoy's
    prefix (or the service's), parsed as one JSON object."""
    import json
    out = []
    for l in log.splitlines():
        at = l.find('{"authgate":')
        if at >= 0:
            out.append(json.loads(l[at:]))
    return out


def json_audit_lines_of(fresh_gw, at_least):
    """The JSON audit lines of `fresh_gw`'s log once it has `at_least` of them (the log is
    written by another thread: a moment may pass), or those it has after 5 s."""
    import time
    deadline = time.time() + 5
    while len(lines := json_audit_lines(fresh_gw.envoy.log())) < at_least and time.time() < deadline:
        time.sleep(0.1)
    return lines


def test_json_audit_lines_parse_from_envoys_log():
    """`audit_format: "json"`: every audit line Envoy wrote is one JSON object with the text
    line's fields, typed, and escaping holds for what a client controls."""
    fresh_gw = make_stack(dict(CONFIG, audit_format="json", audit_lines_per_second=0))
    try:
        rid = 'rid "4\\2"\tend'
        assert fresh_gw.get("/orders?api_key=leaky", [("x-api-key", "sekrit-1"), ("x-request-id", rid)]).status == 401
        assert fresh_gw.get("/orders", [("x-api-key", "k-1"), ("x-request-id", "r-2")]).status == 200
        assert fresh_gw.get("/x", [("x-request-id", "r-3")]).status == 401
        assert fresh_gw.get("/x", [("x-api-key", "a"), ("x-api-key", "b"), ("x-request-id", "r-4")]).status == 400
        long_path = "/" + "p" * 300
        assert fresh_gw.get(long_path + "?api_key=leaky", [("x-request-id", "r-5")]).status == 401
        lines = {l["request_id"]: l for l in json_audit_lines_of(fresh_gw, 5)}
        log = fresh_gw.envoy.log()
        assert "sekrit" not in log and "leaky" not in log
        assert not any("authgate: denied" in l or "authgate: allowed" in l for l in log.splitlines())
        first = lines[rid]
        assert first["authgate"] == "denied" and first["status"] == 401, first
        assert {k: first[k] for k in ("error", "rule", "provider", "method", "path", "reason")} == {
            "error": "invalid_credentials", "rule": "default", "provider": "keys", "method": "GET",
            "path": "/orders", "reason": "invalid credentials: unknown API key"}
        assert re.fullmatch(r"[0-9a-f]{6}", first["credential"]) and first["client"].startswith("127.0.0.1:")
        assert lines["r-2"]["authgate"] == "allowed" and lines["r-2"]["identity"] == "acme"
        assert lines["r-3"]["provider"] is None and lines["r-3"]["credential"] is None
        assert lines["r-3"]["error"] == "missing_credentials"
        assert lines["r-4"]["status"] == 400 and lines["r-4"]["error"] == "invalid_request"
        assert lines["r-5"]["path"] == "/" + "p" * 255 + "...", "cut at 256 characters, as the text form"
    finally:
        close_stack(fresh_gw)


def test_a_json_audit_line_in_report_mode_says_would_deny():
    fresh_gw = make_stack(dict(CONFIG, audit_format="json", mode="report", log_allowed=False))
    try:
        assert fresh_gw.get("/x", [("x-api-key", "nope"), ("x-request-id", "r-9")]).status == 200
        (line,) = json_audit_lines_of(fresh_gw, 1)
        assert (line["authgate"], line["status"], line["error"], line["request_id"]) == \
            ("would_deny", 401, "invalid_credentials", "r-9")
    finally:
        close_stack(fresh_gw)
