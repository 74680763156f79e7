"""monitoring/'s rules against the real names: Debian's Prometheus scrapes Envoy's
`/stats/prometheus` (and the service's `/metrics`) for each artifact, loads
monitoring/authgate.rules.yml and authgate.thresholds.yml, and the recording rules give the
refusals per error and per provider that were sent, every rule evaluating without an error.
(`promtool test rules` checks each rule and alert on made-up series; this checks that the
series authgate really writes are the ones the rules read.)"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from conftest import close_stack, make_stack
from harness import ROOT, free_port, request

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
RULES = [os.path.join(ROOT, "monitoring", f) for f in ("authgate.rules.yml", "authgate.thresholds.yml")]

CONFIG = {
    "providers": {
        "partner_keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]},
    },
}


class Prometheus:
    """Prometheus on 127.0.0.1, scraping `targets` ([(host:port, path)]) every second."""

    def __init__(self, targets):
        self.dir = tempfile.mkdtemp(prefix="authgate-prometheus-")
        self.port = free_port()
        jobs = [{"job_name": f"authgate{n}", "metrics_path": path, "scrape_interval": "1s",
                 "static_configs": [{"targets": [target]}]} for n, (target, path) in enumerate(targets)]
        config = {"global": {"evaluation_interval": "1s"}, "rule_files": RULES, "scrape_configs": jobs}
        path = os.path.join(self.dir, "prometheus.yml")
        with open(path, "w") as f:
            json.dump(config, f)  # JSON is YAML
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={path}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def api(self, path, **params):
        r = request(self.port, "GET", f"/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=5)
        return r.json()["data"]

    def logs(self):
        return open(os.path.join(self.dir, "prometheus.log")).read()[-4000:]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


# Recording rules whose counters every configuration has (Envoy lists a counter from its
# definition on, at 0): each must give a series, or its regular expression misses the names.
EVERY_CONFIGURATION = ["authgate:allowed:rate1m", "authgate:denied_all:rate1m", "authgate:requests:rate1m",
                       "authgate:denied:rate1m", "authgate:provider_allowed:rate1m",
                       "authgate:provider_denied:rate1m", "authgate:report_would_deny_all:rate1m",
                       "authgate:report_would_deny:rate1m", "authgate:audit_suppressed:rate1m"]


@pytest.fixture
def stack():
    s = make_stack(CONFIG)
    yield s
    close_stack(s)


def test_the_rules_read_the_names_each_artifact_writes(stack):
    read_by_the_rules(stack)


def test_the_rules_read_the_native_modules_names_without_the_runtime_flag():
    """Without `dynamic_modules_strip_custom_stat_prefix`, Envoy writes the native module's
    counters as envoy_dynamicmodulescustom_authgate_*: the rules read those too."""
    from harness import ARTIFACT
    if ARTIFACT != "native":
        pytest.skip("only the native module's names depend on the flag")
    s = make_stack(CONFIG, extra={"strip_stat_prefix": False})
    try:
        assert "envoy_dynamicmodulescustom_authgate_allowed" in s.envoy.prometheus()
        read_by_the_rules(s)
    finally:
        close_stack(s)


def read_by_the_rules(stack):
    if not os.path.exists(PROMETHEUS):
        pytest.fail("prometheus is missing (apt-get install prometheus; ./build.sh test does it)")
    targets = [(f"127.0.0.1:{stack.envoy.admin_port}", "/stats/prometheus")]
    if stack.envoy.service:
        targets.append((f"127.0.0.1:{stack.envoy.service.spec['admin']}", "/metrics"))
    prom = Prometheus(targets)
    try:
        # Refusals keep coming while Prometheus reads: a rate needs two points of a subquery.
        # A missing credential is no provider's refusal: it is counted per error only.
        want = {("partner_keys", "invalid_credentials")}
        deadline, got = time.time() + 75, {}
        while time.time() < deadline:
            for headers in ([("x-api-key", "wrong")], [("x-api-key", "wrong-2")], [], [("x-api-key", "k-1")]):
                stack.get("/x", headers)
            try:
                by_provider = prom.api("query", query="authgate:provider_denied:rate1m")["result"]
                by_error = prom.api("query", query="authgate:denied:rate1m")["result"]
                allowed = prom.api("query", query="authgate:allowed:rate1m")["result"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.5)
                continue
            got = {(r["metric"].get("provider"), r["metric"].get("error")): float(r["value"][1]) for r in by_provider}
            errors = {r["metric"].get("error") for r in by_error if float(r["value"][1]) > 0}
            if all(got.get(k, 0) > 0 for k in want) and {"invalid_credentials", "missing_credentials"} <= errors \
                    and allowed and float(allowed[0]["value"][1]) > 0:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the rules never saw the refusals: {got}\n{prom.logs()}")
        for rule in EVERY_CONFIGURATION:
            assert prom.api("query", query=rule)["result"], f"{rule} reads none of the names Envoy writes"
        # Every rule of both files evaluated without an error on the real series.
        groups = prom.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) > 20 and all(r["health"] == "ok" for r in rules), \
            [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        # And the thresholds are there: nothing says they are missing.
        firing = [a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]]
        assert "AuthgateThresholdsMissing" not in firing, firing
    finally:
        prom.stop()
