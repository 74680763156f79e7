"""A denied request from a real browser: Debian's headless Chromium loads a protected page
through Envoy + authgate and gets the small HTML page (same status and challenges as the
problem+json reply), with the configured detail and docs link. Keeps a screenshot of the
page in tests/e2e/artifacts/reply-401.png.

Needs /usr/bin/chromium (Debian package `chromium`). It is installed in CI, so a missing
browser fails the test rather than skipping it."""

import os
import shutil
import signal
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from common import BOB_SHA, challenges
from conftest import close_stack, make_stack
from harness import Upstream

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


def chromium(*args):
    """Runs headless Chromium once with a fresh profile; returns its stdout. The whole process
    group is killed afterwards, whatever happened."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` "
                    "(apt-get install -y --no-install-recommends chromium)", pytrace=False)
    profile = tempfile.mkdtemp(prefix="authgate-chromium-")
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        out, err = b"", b""
        pytest.fail(f"chromium did not finish within {TIMEOUT}s: {args}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: Chromium and its helpers only
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{err.decode(errors='replace')[-3000:]}"
    return out.decode("utf-8", "replace")


class Visible(HTMLParser):
    """The text a person sees (no <head>, <style>, <script>), one line per block, plus links."""

    HIDDEN = {"head", "title", "style", "script"}
    BLOCKS = {"h1", "h2", "p", "li", "ul", "div", "body"}

    def __init__(self):
        super().__init__()
        self.parts, self.links, self.hidden = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden -= 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)

    def lines(self):
        return [" ".join(l.split()) for l in "".join(self.parts).splitlines() if l.strip()]


@pytest.fixture(scope="module")
def shop():
    stack = make_stack(CONFIG)
    yield stack
    close_stack(stack)


@pytest.fixture(scope="module")
def chromium_accept():
    """The Accept header Chromium really sends for a page load, recorded by a throwaway server."""
    recorder = Upstream()
    try:
        chromium("--dump-dom", f"http://127.0.0.1:{recorder.port}/orders")
        pages = [s for s in recorder.seen if s.path == "/orders"]
        assert pages, "chromium did not request the page"
        accept = pages[0].header("accept")
    finally:
        recorder.close()
    assert accept and accept.startswith("text/html"), accept
    return accept


def test_plain_request_with_browser_accept(shop, chromium_accept):
    before = len(shop.upstream.seen)
    html = shop.get("/orders", [("accept", chromium_accept)])
    as_json = shop.get("/orders", [("accept", "application/json")])
    assert len(shop.upstream.seen) == before, "a refused request reached upstream"

    assert html.status == 401, (html.status, html.body)
    assert html.header("content-type") == "text/html; charset=utf-8"
    assert html.header("cache-control") == "no-store"
    assert as_json.status == 401
    assert as_json.header("content-type") == "application/problem+json"
    assert challenges(html) == challenges(as_json) == [BASIC, APIKEY]
    assert as_json.json()["detail"] == DETAIL and as_json.json()["type"] == DOCS


def test_chromium_sees_the_page(shop):
    url = f"http://127.0.0.1:{shop.port}/orders"
    before = len(shop.upstream.seen)

    page = Visible()
    page.feed(chromium("--dump-dom", url))
    lines = page.lines()
    text = "\n".join(lines)

    assert lines[0] == "401 Unauthorized", text
    assert DETAIL in lines, text
    assert "How to authenticate" in lines, text
    assert "Basic: Authorization: Basic <base64 of user:password>" in lines, text
    assert "ApiKey: x-api-key: <key>" in lines, text
    assert DOCS in lines and page.links == [DOCS], (text, page.links)
    assert "Error: missing_credentials" in lines, text
    # nothing of the credential machinery or a default message leaks in
    assert "no credentials were sent" not in text

    os.makedirs(ARTIFACTS, exist_ok=True)
    if os.path.exists(SCREENSHOT):
        os.remove(SCREENSHOT)
    chromium(f"--screenshot={SCREENSHOT}", "--window-size=1000,700", url)
    assert os.path.exists(SCREENSHOT), "chromium wrote no screenshot"
    with open(SCREENSHOT, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG"
    size = os.path.getsize(SCREENSHOT)
    assert size > 5 * 1024, f"screenshot is only {size} bytes: a blank page?"

    assert len(shop.upstream.seen) == before, "the browser's requests reached upstream"
