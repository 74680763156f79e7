"""The container demo run for real: a container engine (started here when none runs), stand-in
images under the tags docker-compose.yml names (compose_standins.py; tests/compose/README.md
says what each reproduces), `docker-compose up`, every example of the README's demo block run
with curl against it and checked as test_readme checks them against `./build.sh demo`, the admin
port reachable only on 127.0.0.1, a `down` that stops every service at once (no SIGKILL after
10 s), and nothing left behind: no container, no network, no daemon this test started.
Without an engine that can start, the module is skipped with one line saying why — unless
AUTHGATE_COMPOSE_TEST=required (.ci/run sets it), then it fails."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import compose_standins
from harness import ROOT, free_port, request
from test_readme import run_examples
from test_sign_in import browser  # noqa: F401 (the fixture)

REQUIRED = os.environ.get("AUTHGATE_COMPOSE_TEST") == "required"


def unavailable(why):
    if REQUIRED:
        pytest.fail(f"AUTHGATE_COMPOSE_TEST=required, but {why}")
    pytest.skip(f"the compose test was skipped: {why}")


def engine_answers():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def missing():
    """Why no engine can be had here, or None."""
    if not shutil.which("docker"):
        return "there is no docker command (apt-get install docker.io)"
    if not engine_answers() and not shutil.which("dockerd"):
        return "no container engine runs and there is no dockerd to start"
    return None


# One line for the whole module when there is no engine at all (pytest -rs prints it).
if missing() and not REQUIRED:
    pytest.skip(f"the compose test was skipped: {missing()}", allow_module_level=True)


@pytest.fixture(scope="module")
def engine():
    """A running container engine; one this fixture started is stopped again afterwards."""
    if missing():
        unavailable(missing())
    started = None
    if not engine_answers():
        log = tempfile.NamedTemporaryFile(prefix="authgate-dockerd-", suffix=".log", delete=False)
        started = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not engine_answers():
            if started.poll() is not None or time.time() > deadline:
                started.kill()
                unavailable("dockerd did not start: " + open(log.name).read()[-2000:])
            time.sleep(0.5)
    yield
    if started:
        started.terminate()
        started.wait(timeout=60)
        assert not engine_answers(), "the container engine this test started is still running"


def compose_cmd():
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    unavailable("neither 'docker compose' nor docker-compose is installed")


class Demo:
    def __init__(self, cwd=ROOT, files=()):
        self.project = f"authgate-test-{os.getpid()}" + ("-svc" if files else "")
        self.files = [a for f in files for a in ("-f", f)]
        self.port, self.admin = free_port(), free_port()
        self.prometheus, self.alertmanager = free_port(), free_port()
        self.env = dict(os.environ, AUTHGATE_HTTP_PORT=str(self.port), AUTHGATE_ADMIN_PORT=str(self.admin),
                        AUTHGATE_OIDC_PORT=str(free_port()), AUTHGATE_PROMETHEUS_PORT=str(self.prometheus),
                        AUTHGATE_ALERTMANAGER_PORT=str(self.alertmanager))
        self.cwd = cwd

    def compose(self, *args, timeout=300, check=True):
        return subprocess.run(compose_cmd() + self.files + ["-p", self.project, *args], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=check)

    def containers(self, *flags):
        r = subprocess.run(["docker", "ps", "-q", *flags, "--filter", f"label=com.docker.compose.project={self.project}"],
                           capture_output=True, text=True, check=True)
        return r.stdout.split()

    def networks(self):
        r = subprocess.run(["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={self.project}"],
                           capture_output=True, text=True, check=True)
        return r.stdout.split()

    def logs(self):
        return self.compose("logs", "--no-color", check=False).stdout[-6000:]


@contextlib.contextmanager
def up(files=(), build=False, ready_path="/ready"):
    """The demo started (with `files` laid over docker-compose.yml), once Envoy is ready (and,
    with `ready_path` on the listener, once it answers 200 there)."""
    built = compose_standins.ensure(log=lambda m: print("compose:", m))
    print("compose images:", json.dumps(built))
    d = Demo(files=files)
    try:
        d.compose("up", "-d", *(["--build"] if build else []), timeout=600)
        deadline = time.time() + 90
        while True:
            try:
                port = d.admin if ready_path == "/ready" else d.port
                if request(port, "GET", ready_path, timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "Envoy did not become ready:\n" + d.logs()
            time.sleep(0.5)
        yield d
    finally:
        if d.containers("-a"):
            d.compose("down", "-t", "10", check=False)


@pytest.fixture(scope="module")
def demo(engine):
    with up() as d:
        yield d


class Echoed:
    """What the echo upstream says it received, read like the recording upstream's `seen`."""

    def __init__(self, body):
        self.headers = json.loads(body)["headers"]

    def header(self, name):
        return self.headers.get(name)


def test_every_readme_demo_line_holds_against_the_containers(demo):
    try:
        run_examples(demo.port, lambda: None,
                     lambda _, status, body: Echoed(body) if status == 200 else None)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{demo.logs()}") from e


def test_the_admin_port_is_published_on_127_0_0_1_only(demo):
    (envoy,) = demo.compose("ps", "-q", "envoy").stdout.split()
    ports = subprocess.run(["docker", "port", envoy], capture_output=True, text=True, check=True).stdout.split("\n")
    published = [p.split(" -> ")[1] for p in ports if " -> " in p]
    assert published and all(p.startswith("127.0.0.1:") for p in published), ports
    assert request(demo.admin, "GET", "/ready").status == 200


def test_a_burst_of_wrong_keys_fires_the_brute_force_alert(demo, browser):
    """The live view: wrong API keys at ~20 a second (the alert's threshold is 5) until
    Alertmanager lists AuthgateBruteForce, which monitoring/'s rule fires after a minute over
    it; then Prometheus's graph of refusals by error, in headless Chromium, kept as a screenshot."""
    import urllib.parse
    from test_sign_in import ARTIFACTS, until

    def firing():
        try:
            alerts = request(demo.alertmanager, "GET", "/api/v2/alerts", timeout=5).json()
        except (OSError, ValueError):
            return []
        return [a for a in alerts if a["labels"].get("alertname") == "AuthgateBruteForce"]

    assert not firing()
    deadline = time.time() + 240
    sent = 0
    while not firing():
        assert time.time() < deadline, f"no AuthgateBruteForce after {sent} wrong keys\n" + \
            demo.compose("logs", "--no-color", "--tail", "40", "prometheus", "alertmanager", check=False).stdout
        for _ in range(10):
            assert request(demo.port, "GET", "/orders", [("x-api-key", f"guess-{sent}")]).status == 401
            sent += 1
        time.sleep(0.5)
    (alert,) = firing()
    assert alert["labels"]["severity"] == "warning" and alert["labels"]["job"] == "envoy", alert
    assert alert["annotations"]["runbook"], alert
    print(f"AuthgateBruteForce fired in Alertmanager after {sent} wrong keys")

    expr = urllib.parse.quote("authgate:denied:rate1m")
    browser.set_window_size(1200, 1150)
    browser.get(f"http://127.0.0.1:{demo.prometheus}/graph?g0.expr={expr}&g0.tab=0&g0.range_input=5m")
    until(browser, "the graph", lambda d: "invalid_credentials" in d.page_source)
    time.sleep(1)  # the lines are drawn after the legend
    os.makedirs(ARTIFACTS, exist_ok=True)
    browser.save_screenshot(os.path.join(ARTIFACTS, "compose-prometheus-refusals.png"))
    from selenium.webdriver.common.by import By
    browser.find_element(By.LINK_TEXT, "Alerts").click()
    until(browser, "the alerts page", lambda d: "AuthgateBruteForce" in d.page_source)
    browser.save_screenshot(os.path.join(ARTIFACTS, "compose-prometheus-alerts.png"))


def test_the_envoy_image_runs_envoy_as_uid_101_and_reads_the_module(demo):
    (envoy,) = demo.compose("ps", "-q", "envoy").stdout.split()
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", envoy], capture_output=True, text=True,
                         check=True).stdout.strip()
    status = open(f"/proc/{pid}/status").read()
    assert "Name:\tenvoy" in status and "\nUid:\t101\t" in status, status[:400]
    assert os.stat(os.path.join(ROOT, "dist", "authgate.wasm")).st_mode & 0o004, "dist/authgate.wasm is not world-readable"


def test_down_stops_every_service_at_once_and_leaves_nothing(demo):
    ids = demo.containers("-a")
    started = time.time()
    demo.compose("stop", "-t", "10")
    took = time.time() - started
    codes = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.State.ExitCode}}", *ids],
                           capture_output=True, text=True, check=True).stdout.split("\n")
    assert took < 8, f"stopping took {took:.1f} s (a service ignored SIGTERM): {codes}"
    assert all(l.endswith(" 0") for l in codes if l), codes
    demo.compose("down", "-t", "10")
    assert demo.containers("-a") == [] and demo.networks() == []


def test_compose_before_the_build_is_an_error_that_names_the_module(engine):
    """Started before ./build.sh, the demo must not leave Docker's empty root-owned directory
    where dist/authgate.wasm goes (Envoy could not load it, the next build could not replace it)."""
    with tempfile.TemporaryDirectory(prefix="authgate-nobuild-") as tmp:
        for f in ("docker-compose.yml", "envoy/compose.yaml", "demo/jwks.json", "demo/introspection.json",
                  "tests/e2e/introspection_server.py", "tests/e2e/oidc_provider.mjs", "demo/users.json",
                  "monitoring/compose/prometheus.yml", "monitoring/compose/alertmanager.yml",
                  "monitoring/authgate.rules.yml", "monitoring/authgate.thresholds.yml"):
            os.makedirs(os.path.dirname(os.path.join(tmp, f)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, f), os.path.join(tmp, f))
        os.symlink(os.path.join(ROOT, ".tools"), os.path.join(tmp, ".tools"))
        compose_standins.ensure(log=lambda m: None)
        d = Demo(cwd=tmp)
        try:
            r = d.compose("up", "-d", check=False)
            assert r.returncode != 0, r.stdout + r.stderr
            assert "authgate.wasm" in r.stdout + r.stderr, r.stdout + r.stderr
            assert not os.path.exists(os.path.join(tmp, "dist", "authgate.wasm"))
        finally:
            d.compose("down", "-t", "10", check=False)
        assert d.containers("-a") == [] and d.networks() == []


def test_every_readme_demo_line_holds_through_the_ext_authz_service(engine):
    """docker-compose.ext-authz.yml over docker-compose.yml: Envoy's ext_authz filter asking
    `authgate serve` (built from service/Dockerfile, on the distroless base) gives every answer
    the README's demo lines expect of the wasm filter; `down` stops it at once."""
    files = ("docker-compose.yml", "docker-compose.ext-authz.yml")
    # /healthz needs no credential, but is asked of the service: 200 once it answers.
    with up(files, build=True, ready_path="/healthz") as d:
        try:
            run_examples(d.port, lambda: None,
                         lambda _, status, body: Echoed(body) if status == 200 else None)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{d.logs()}") from e
        # Prometheus reads the service's counters (its /metrics), where this variant keeps them.
        import urllib.parse
        deadline, got = time.time() + 60, None
        while time.time() < deadline:
            try:
                got = request(d.prometheus, "GET", "/api/v1/query?" + urllib.parse.urlencode(
                    {"query": 'up{job="authgate"}'}), timeout=5).json()["data"]["result"]
            except (OSError, ValueError, KeyError):
                got = None
            if got and got[0]["value"][1] == "1":
                break
            time.sleep(1)
        else:
            raise AssertionError(f"Prometheus does not read the service: {got}\n{d.logs()}")
        # The answers were the service's: its own lines say so.
        said = d.compose("logs", "--no-color", "authgate", check=False).stdout
        assert "authgate: ext_authz service on 0.0.0.0:9191" in said and "authgate: denied status=401" in said, said[-3000:]
        started = time.time()
        d.compose("stop", "-t", "10")
        assert time.time() - started < 8, "a service ignored SIGTERM"
        d.compose("down", "-t", "10")
        assert d.containers("-a") == [] and d.networks() == []
