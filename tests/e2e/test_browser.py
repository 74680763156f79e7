"""A denied request from a real browser: Debian's headless Chromium loads a protected page
through Envoy + authgate and gets the small HTML page (same status and challenges as the
problem+json reply), with the configured detail and docs link. Keeps a screenshot of the
page in tests/e2e/artifacts/reply-401.png.

Because the page accepts Basic, a browser answers the 401 with its native login prompt
before it shows the page. Headless Chromium has no prompt: under plain `--dump-dom` or
`--screenshot` the load fails with net::ERR_INVALID_AUTH_CREDENTIALS and nothing is printed
(exit status still 0). So the browser is driven over the DevTools pipe, and the login prompt
is dismissed the way a person presses Cancel (Fetch.authRequired -> CancelAuth); the page is
then exactly what that person sees.

Needs /usr/bin/chromium (Debian package `chromium`). It is installed in CI, so a missing
browser fails the test rather than skipping it."""

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from common import challenges
from conftest import close_stack, make_stack

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 60
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "artifacts")
SCREENSHOT = os.path.join(ARTIFACTS, "reply-401.png")

DOCS = "https://docs.example.com/auth"
DETAIL = "Sign in to see your orders."
CONFIG = {
    "realm": "shop",
    "providers": {
        "staff": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
        "partners": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]},
    },
    "rules": [{"match": {"prefix": "/"}, "requires": {"any": ["staff", "partners"]}}],
    "response": {"docs_url": DOCS, "detail": {"missing_credentials": DETAIL}},
}
BASIC = 'Basic realm="shop", charset="UTF-8"'
APIKEY = 'ApiKey realm="shop", in="header", name="x-api-key"'

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic"]


class Chromium:
    """Headless Chromium with a fresh profile, driven over --remote-debugging-pipe (the
    browser reads commands on fd 3 and writes replies on fd 4, NUL-separated JSON). Every
    wait is bounded; `close()` kills the browser's whole session (its own, nothing else)."""

    def __init__(self):
        if not os.path.exists(CHROMIUM):
            pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` "
                        "(apt-get install -y --no-install-recommends chromium)", pytrace=False)
        self.profile = tempfile.mkdtemp(prefix="authgate-chromium-")
        self.stderr = tempfile.TemporaryFile()
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()

        def fds():
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "--window-size=1000,700",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)
        os.close(cmd_r)
        os.close(out_w)
        self.buf, self.next_id, self.session = b"", 0, None
        self.deadline = time.monotonic() + TIMEOUT

    def log(self):
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", "replace").splitlines()
        return "\n".join(l for l in lines if "dbus" not in l)[-3000:]

    def send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def recv(self):
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            ready = select.select([self.out_r], [], [], max(left, 0))[0]
            if not ready:
                pytest.fail(f"chromium did not answer within {TIMEOUT}s:\n{self.log()}")
            chunk = os.read(self.out_r, 1 << 16)
            if not chunk:
                pytest.fail(f"chromium exited ({self.proc.poll()}):\n{self.log()}")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True, on_event=None):
        want = self.send(method, params, session)
        while True:
            msg = self.recv()
            if msg.get("id") == want:
                assert "error" not in msg, (method, msg["error"])
                return msg["result"]
            if on_event:
                on_event(msg)

    def open(self, url):
        """Loads `url` in the first tab, pressing Cancel on any login prompt. Returns the
        request headers the browser sent for the page."""
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        tab = next(t["targetId"] for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", {"targetId": tab, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Fetch.enable", {"handleAuthRequests": True})
        self.call("Page.enable")
        sent, loaded = {}, []

        def event(msg):
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Fetch.requestPaused":
                if params["request"]["url"] == url:
                    sent.update(params["request"]["headers"])
                self.send("Fetch.continueRequest", {"requestId": params["requestId"]})
            elif method == "Fetch.authRequired":
                self.send("Fetch.continueWithAuth", {"requestId": params["requestId"],
                                                     "authChallengeResponse": {"response": "CancelAuth"}})
            elif method == "Page.loadEventFired":
                loaded.append(True)

        nav = self.call("Page.navigate", {"url": url}, on_event=event)
        assert "errorText" not in nav, (nav, self.log())
        while not loaded:
            event(self.recv())
        self.event = event  # keeps answering paused requests (the favicon) while we look
        return sent

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                         on_event=self.event)["result"]["value"]

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"}, on_event=self.event)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        os.close(self.cmd_w)
        os.close(self.out_r)
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shop():
    stack = make_stack(CONFIG)
    yield stack
    close_stack(stack)


@pytest.fixture(scope="module")
def seen(shop):
    """One browser visit to /orders: what it sent, showed and screenshotted, and how many
    requests the upstream got meanwhile."""
    url = f"http://127.0.0.1:{shop.port}/orders"
    before = len(shop.upstream.seen)
    os.makedirs(ARTIFACTS, exist_ok=True)
    if os.path.exists(SCREENSHOT):
        os.remove(SCREENSHOT)
    browser = Chromium()
    try:
        sent = browser.open(url)
        visit = {
            "accept": sent.get("Accept") or sent.get("accept"),
            "title": browser.evaluate("document.title"),
            # innerText is layout-aware: only what is rendered, one line per block
            "lines": [" ".join(l.split()) for l in browser.evaluate("document.body.innerText").splitlines()
                      if l.strip()],
            "links": browser.evaluate("[...document.links].map(a => [a.textContent, a.href])"),
            "dom": browser.evaluate("document.documentElement.outerHTML"),
        }
        browser.screenshot(SCREENSHOT)
    finally:
        browser.close()
    visit["reached_upstream"] = len(shop.upstream.seen) - before
    return visit


def test_browser_sees_the_page(seen):
    lines, text = seen["lines"], "\n".join(seen["lines"])
    assert seen["title"] == "401 Unauthorized"
    assert lines[0] == "401 Unauthorized", text
    assert DETAIL in lines, text
    assert "no credentials were sent" not in text  # the configured detail replaces the default
    assert "How to authenticate" in lines, text
    assert "Basic: Authorization: Basic <base64 of user:password>" in lines, text
    assert "ApiKey: x-api-key: <key>" in lines, text
    assert f"More about signing in: {DOCS}" in lines, text
    assert seen["links"] == [[DOCS, DOCS]], seen["links"]
    assert "Error: missing_credentials" in lines, text
    assert any(l.startswith("Request ID: ") and len(l) > len("Request ID: ") for l in lines), text
    assert "<script" not in seen["dom"]
    assert seen["reached_upstream"] == 0, "the browser's requests reached upstream"


def test_screenshot_kept(seen):
    assert os.path.exists(SCREENSHOT), "no screenshot written"
    with open(SCREENSHOT, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG"
    size = os.path.getsize(SCREENSHOT)
    assert size > 5 * 1024, f"screenshot is only {size} bytes: a blank page?"


def test_plain_request_with_browser_accept(shop, seen):
    accept = seen["accept"]
    assert accept and accept.startswith("text/html"), accept
    before = len(shop.upstream.seen)
    html = shop.get("/orders", [("accept", accept)])
    as_json = shop.get("/orders", [("accept", "application/json")])
    assert len(shop.upstream.seen) == before, "a refused request reached upstream"

    assert html.status == 401, (html.status, html.body)
    assert html.header("content-type") == "text/html; charset=utf-8"
    assert html.header("cache-control") == "no-store"
    assert as_json.status == 401
    assert as_json.header("content-type") == "application/problem+json"
    assert challenges(html) == challenges(as_json) == [BASIC, APIKEY]
    body = as_json.json()
    assert body["detail"] == DETAIL and body["type"] == DOCS and body["error"] == "missing_credentials"
