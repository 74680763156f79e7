"""A person signs in and out through Envoy + authgate, as they would: headless Chromium
(Debian's package, driven by WebDriver through Debian's chromedriver and the `selenium`
client) opens a protected page, lands on the login page of a real OpenID Provider (panva's
oidc-provider from npm, tests/e2e/oidc_provider.mjs), signs in, consents, and is back on the
page with the upstream seeing who they are; the next page needs no sign-in; signing out sends
them through the provider's end-session page, after which the site asks them to sign in again.
A script without a session keeps its 401. Envoy's and the provider's logs are printed when a
step fails."""

import os
import shutil
import tempfile
import time

import pytest

from harness import Envoy, NodeServer, Upstream, bootstrap, free_port, request

HERE = os.path.dirname(os.path.abspath(__file__))
OIDC_PROVIDER = os.path.join(HERE, "..", "..", ".tools", "node_modules", "oidc-provider", "lib", "index.js")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT = 20
COOKIE_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, base64
ARTIFACTS = os.path.join(HERE, "artifacts")


class Provider(NodeServer):
    """oidc-provider in a Node.js process on 127.0.0.1, for the site on `site_port`."""

    def __init__(self, port, site_port):
        super().__init__("the OpenID Provider", os.path.join(HERE, "oidc_provider.mjs"), OIDC_PROVIDER, port, site_port)


@pytest.fixture(scope="module")
def site():
    if not os.path.exists(OIDC_PROVIDER):
        pytest.fail("oidc-provider is not installed in .tools (./build.sh test installs it)")
    site_port, op_port = free_port(), free_port()
    op = Provider(op_port, site_port)
    upstream = Upstream()
    config = {
        "providers": {"web": {
            "type": "oidc", "issuer": f"http://127.0.0.1:{op_port}", "discovery": {"cluster": "idp"},
            "client_id": "web", "client_secret_env": "WEB_SECRET", "cookie_secrets_env": "COOKIE_KEYS",
            "scopes": ["email"], "post_logout_redirect_uri": f"http://localhost:{site_port}/oauth2/logout",
            "claim_to_headers": [{"claim_name": "email", "header_name": "x-email"}],
        }, "api": {
            "type": "jwt", "issuer": f"http://127.0.0.1:{op_port}", "audiences": ["api"],
            "discovery": {"cluster": "idp"},
        }},
        # People with a session and programs with tokens, on the same route.
        "rules": [{"match": {"prefix": "/"}, "requires": {"any": ["web", "api"]}}],
    }
    envoy = Envoy(bootstrap(config, site_port, free_port(), upstream.port, clusters={"idp": op_port},
                            vm_env={"WEB_SECRET": "web-secret", "COOKIE_KEYS": COOKIE_KEY})).start()
    yield {"port": site_port, "op": op, "envoy": envoy, "upstream": upstream,
           "issuer": f"http://127.0.0.1:{op_port}"}
    envoy.stop()
    upstream.close()
    op.stop()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            pytest.fail(f"{path} is missing (./build.sh test installs chromium and chromium-driver)")
    profile = tempfile.mkdtemp(prefix="authgate-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--user-data-dir={profile}", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-extensions",
              # Nothing leaves loopback: the provider's pages import web fonts.
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]:
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(WAIT)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def logs(site):
    return f"--- Envoy ---\n{site['envoy'].log()[-6000:]}\n--- OpenID Provider ---\n{site['op'].log()[-3000:]}"


def until(drv, what, condition):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(drv, WAIT).until(condition)
    except Exception as e:
        raise AssertionError(f"{what}: not reached at {drv.current_url}\n{drv.page_source[:1500]}") from e


def sign_in(drv, login):
    """The provider's login page, then its consent page."""
    from selenium.webdriver.common.by import By
    until(drv, "the login page", lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=login]"))
    drv.find_element(By.CSS_SELECTOR, "input[name=login]").send_keys(login)
    drv.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("any password")
    drv.find_element(By.CSS_SELECTOR, "button[type=submit].login-submit").click()
    until(drv, "the consent page", lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=prompt][value=consent]"))
    drv.find_element(By.CSS_SELECTOR, "button[type=submit].login-submit").click()


def test_a_person_signs_in_and_out(site, browser):
    from selenium.webdriver.common.by import By
    port, upstream = site["port"], site["upstream"]
    try:
        browser.get(f"http://localhost:{port}/orders?id=7")
        assert browser.current_url.startswith(f"http://127.0.0.1:"), browser.current_url
        sign_in(browser, "alice")
        until(browser, "back on the page", lambda d: d.current_url == f"http://localhost:{port}/orders?id=7")
        # (The browser also asks for /favicon.ico, signed in as well.)
        seen = [r for r in upstream.seen if r.path == "/orders?id=7"]
        assert len(seen) == 1, [r.path for r in upstream.seen]
        got = dict(seen[0].headers)
        assert got.get("x-email") == "alice@example.com", got
        assert "__Host-authgate" not in got.get("cookie", ""), "the session cookie never goes upstream"
        cookie = browser.get_cookie("__Host-authgate")
        assert cookie and cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie

        # The next page: no sign-in.
        browser.get(f"http://localhost:{port}/reports")
        assert browser.current_url == f"http://localhost:{port}/reports"
        reports = [r for r in upstream.seen if r.path == "/reports"]
        assert len(reports) == 1 and dict(reports[0].headers)["x-email"] == "alice@example.com"

        # A changed cookie, or an ended session, is no session: a page sends the person to sign
        # in again, an API request gets its 401.
        value = cookie["value"]
        tampered = value[:40] + ("A" if value[40] != "A" else "B") + value[41:]
        import session_seal
        ended = session_seal.session(COOKIE_KEY, "alice", {"email": "alice@example.com"}, int(time.time()) - 1,
                                     site["issuer"])
        for name, c in [("tampered", f"__Host-authgate={tampered}"), ("ended", ended)]:
            nav = request(port, "GET", "/orders", [("cookie", c), ("sec-fetch-mode", "navigate")])
            assert nav.status == 302 and nav.header("location").startswith("http://127.0.0.1:"), (name, nav.status)
            api = request(port, "GET", "/orders", [("cookie", c), ("accept", "application/json")])
            assert api.status == 401, (name, api.status)

        # No open redirect: a sign-in asked to come back elsewhere comes back to this site.
        browser.get(f"http://localhost:{port}/oauth2/login?rd=https%3A%2F%2Fevil.example%2Fsteal")
        until(browser, "back on this site", lambda d: d.current_url.startswith(f"http://localhost:{port}/"))
        assert browser.current_url == f"http://localhost:{port}/", browser.current_url

        # Signing out: the provider's end-session page, then authgate's signed-out page with
        # its sign-in link, which asks for the password again.
        browser.get(f"http://localhost:{port}/oauth2/logout")
        until(browser, "the end-session page", lambda d: d.find_elements(By.CSS_SELECTOR, "button[name=logout][value=yes]"))
        assert browser.get_cookie("__Host-authgate") is None, "the session cookie is cleared"
        browser.find_element(By.CSS_SELECTOR, "button[name=logout][value=yes]").click()
        until(browser, "the signed-out page", lambda d: "You are signed out" in d.page_source)
        os.makedirs(ARTIFACTS, exist_ok=True)
        browser.save_screenshot(os.path.join(ARTIFACTS, "signed-out.png"))
        browser.find_element(By.LINK_TEXT, "Sign in").click()
        until(browser, "the login page again", lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=login]"))
    except AssertionError as e:
        raise AssertionError(f"{e}\n{logs(site)}") from e


def test_a_script_without_a_session_keeps_its_401(site):
    r = request(site["port"], "GET", "/orders", [("sec-fetch-mode", "cors"), ("accept", "application/json")])
    assert r.status == 401, logs(site)
    assert r.all("www-authenticate") == ['Session realm="authgate", login="/oauth2/login"', 'Bearer realm="authgate"'], r.headers
    assert r.json()["login"] == "/oauth2/login?rd=%2Forders", r.body
    # The address in the body starts a sign-in that comes back to the page.
    go = request(site["port"], "GET", r.json()["login"], [("sec-fetch-mode", "navigate")])
    assert go.status == 302 and "redirect_uri=http%3A%2F%2F127.0.0.1" in go.header("location"), go.headers
    nav = request(site["port"], "GET", "/orders", [("sec-fetch-mode", "navigate")])
    assert nav.status == 302 and nav.header("location").startswith("http://127.0.0.1:"), (nav.status, nav.headers)
    assert nav.header("set-cookie").startswith("__Host-authgate-login="), nav.headers


def test_a_forged_callback_signs_no_one_in(site):
    r = request(site["port"], "GET", "/oauth2/callback?code=stolen&state=guessed", [("sec-fetch-mode", "navigate")])
    assert r.status == 400, logs(site)
    assert b"Sign in again" in r.body
    assert not [c for c in r.all("set-cookie") if c.startswith("__Host-authgate=")], r.headers


def test_a_session_sealed_by_another_implementation_opens(site):
    """libsodium's XChaCha20-Poly1305 and cryptography's HKDF seal a session; authgate opens
    it. Sealed under another cookie's name, or ended, it is no session."""
    import session_seal
    now = int(time.time())
    good = session_seal.session(COOKIE_KEY, "carol", {"email": "carol@example.com"}, now + 600, site["issuer"])
    r = request(site["port"], "GET", "/sealed", [("cookie", good)])
    assert r.status == 200, (r.status, r.body, logs(site))
    seen = [s for s in site["upstream"].seen if s.path == "/sealed"][-1]
    assert dict(seen.headers)["x-email"] == "carol@example.com"
    body = b'{"sub":"carol","exp":%d,"claims":{}}' % (now + 600)
    renamed = "__Host-authgate=" + session_seal.seal(COOKIE_KEY, "__Host-authgate-login", body, site["issuer"], "web")
    ended = session_seal.session(COOKIE_KEY, "carol", {}, now - 1, site["issuer"])
    # Issue 35: the seal names the provider that made the session, not only the cookie.
    other_issuer = session_seal.session(COOKIE_KEY, "carol", {}, now + 600, "https://public.example")
    other_client = session_seal.session(COOKIE_KEY, "carol", {}, now + 600, site["issuer"], client_id="admin")
    for name, cookie in [("sealed for another cookie", renamed), ("ended", ended),
                         ("made by another issuer's sign-in", other_issuer),
                         ("made by another client's sign-in", other_client)]:
        r = request(site["port"], "GET", "/sealed", [("cookie", cookie), ("accept", "application/json")])
        assert r.status == 401, (name, r.status)


def test_the_provider_refusing_is_a_page_that_says_so(site, browser):
    """The person cancels at the provider's login page: back at the callback with
    error=access_denied, they get authgate's 403 page with a way to sign in again."""
    from selenium.webdriver.common.by import By
    try:
        browser.get(f"http://localhost:{site['port']}/private")
        until(browser, "the login page", lambda d: d.find_elements(By.CSS_SELECTOR, ".login-help a[href$='/abort']"))
        browser.find_element(By.CSS_SELECTOR, ".login-help a[href$='/abort']").click()
        until(browser, "the refusal page", lambda d: "Access denied" in d.page_source)
        assert "access_denied" in browser.page_source and browser.find_element(By.LINK_TEXT, "Sign in again")
        assert browser.get_cookie("__Host-authgate") is None
    except AssertionError as e:
        raise AssertionError(f"{e}\n{logs(site)}") from e


def test_a_callback_with_another_state_signs_no_one_in(site):
    """A real sign-in under way in this browser, and a callback whose state is not its own."""
    go = request(site["port"], "GET", "/orders", [("sec-fetch-mode", "navigate")])
    pending = go.header("set-cookie").split(";")[0]
    r = request(site["port"], "GET", "/oauth2/callback?code=c&state=not-this-one", [("cookie", pending)])
    assert r.status == 400 and b"Sign-in expired" in r.body, (r.status, r.body)
    assert not [c for c in r.all("set-cookie") if c.startswith("__Host-authgate=")]


def test_cookies_reach_the_upstream_as_the_browser_sent_them(site):
    """Issue 35: a comma is part of a cookie's value (RFC 6265), not a separator. A cookie any
    sibling subdomain can set, `pref=x,__Host-sid=attacker`, reached the upstream as two
    cookies, one of them a `__Host-` cookie; the rest of the header goes up as it was sent."""
    import session_seal
    good = session_seal.session(COOKIE_KEY, "dave", {"email": "dave@example.com"}, int(time.time()) + 600,
                                site["issuer"])
    for sent, want in [
        (f"pref=x,__Host-sid=attacker; {good}", "pref=x,__Host-sid=attacker"),
        (f'a="quoted value"; {good};b=2', 'a="quoted value"; b=2'),
    ]:
        r = request(site["port"], "GET", "/cookies", [("cookie", sent)])
        assert r.status == 200, (r.status, logs(site))
        seen = [s for s in site["upstream"].seen if s.path == "/cookies"][-1]
        assert dict(seen.headers).get("cookie") == want, seen.headers


def test_the_first_sign_in_after_envoy_starts_completes(browser):
    """Issue 35: right after a start the callback waited 1 s for the issuer's metadata and
    answered 503 without calling the token endpoint (3 of 6 wasm starts in the attack round).
    Four times: a person starts signing in, Envoy restarts while they are at the provider, and
    the callback is the new Envoy's first request; then a fresh Envoy and a sign-in at once."""
    from selenium.webdriver.common.by import By
    if not os.path.exists(OIDC_PROVIDER):
        pytest.fail("oidc-provider is not installed in .tools (./build.sh test installs it)")
    site_port, op_port = free_port(), free_port()
    op = Provider(op_port, site_port)
    upstream = Upstream()
    config = {"providers": {"web": {
        "type": "oidc", "issuer": f"http://127.0.0.1:{op_port}", "discovery": {"cluster": "idp"},
        "client_id": "web", "client_secret_env": "WEB_SECRET", "cookie_secrets_env": "COOKIE_KEYS"}},
        "rules": [{"match": {"prefix": "/"}, "requires": "web"}]}

    def start():
        return Envoy(bootstrap(config, site_port, free_port(), upstream.port, clusters={"idp": op_port},
                               vm_env={"WEB_SECRET": "web-secret", "COOKIE_KEYS": COOKIE_KEY}),
                     concurrency=2).start()

    envoy = None
    try:
        for n in range(5):
            browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
            envoy = start()
            browser.get(f"http://localhost:{site_port}/first?n={n}")
            if n < 4:
                # Envoy stops while the person is at the provider, which sends the browser to a
                # callback nobody answers; Envoy starts, and the callback (reloaded) is its
                # first request.
                until(browser, "the login page", lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=login]"))
                browser.find_element(By.CSS_SELECTOR, "input[name=login]").send_keys(f"user{n}")
                browser.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("any password")
                browser.find_element(By.CSS_SELECTOR, "button[type=submit].login-submit").click()
                until(browser, "the consent page",
                      lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=prompt][value=consent]"))
                envoy.stop()
                browser.find_element(By.CSS_SELECTOR, "button[type=submit].login-submit").click()
                until(browser, "the unanswered callback", lambda d: "/oauth2/callback?" in d.current_url)
                callback = browser.current_url
                envoy = start()
                browser.get(callback)
            else:
                sign_in(browser, f"user{n}")
            until(browser, f"back on the page after start {n}",
                  lambda d: d.current_url == f"http://localhost:{site_port}/first?n={n}")
            envoy.stop()
            envoy = None
        assert len([s for s in upstream.seen if s.path.startswith("/first")]) == 5
    except AssertionError as e:
        log = envoy.log()[-6000:] if envoy else ""
        raise AssertionError(f"{e}\n--- Envoy ---\n{log}\n--- OP ---\n{op.log()[-2000:]}") from e
    finally:
        if envoy:
            envoy.stop()
        upstream.close()
        op.stop()


# Return addresses an attacker may try (issue 35's attack round: `/.//evil.example` came back
# unchanged). Each is read from the sealed cookie of the sign-in it starts.
RD_FORMS = [
    ("/.//evil.example", "/evil.example"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
    ("https://evil.example/", "/"), ("/%2F%2Fevil.example", "/"), ("/%5Cevil.example", "/"),
    ("/x/..//evil.example", "/evil.example"), ("/a/./b/../c?x=1", "/a/c?x=1"), ("/orders?id=7", "/orders?id=7"),
    ("/%2e%2e/%2e%2e//evil.example", "/evil.example"), ("/\t/evil.example", "/"),
]


@pytest.mark.parametrize("rd, to", RD_FORMS, ids=[r for r, _ in RD_FORMS])
def test_a_return_address_stays_on_the_site_in_its_normal_form(site, rd, to):
    import json
    import urllib.parse
    import session_seal
    go = request(site["port"], "GET", "/oauth2/login?rd=" + urllib.parse.quote(rd, safe=""),
                 [("sec-fetch-mode", "navigate")])
    assert go.status == 302, (go.status, go.body)
    pending = go.header("set-cookie").split(";")[0].split("=", 1)[1]
    opened = session_seal.open_value(COOKIE_KEY, "__Host-authgate-login", pending, site["issuer"], "web")
    assert json.loads(opened)["to"] == to, opened


def test_a_cross_site_request_signs_no_one_out(site):
    """Signing out changes state: a link, an image or a form on another site gets a page with a
    same-site button, and the session's cookies stay."""
    import session_seal
    cookie = session_seal.session(COOKIE_KEY, "erin", {}, int(time.time()) + 600, site["issuer"])
    for name, method, headers in [
        ("a cross-site link", "GET", [("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "navigate")]),
        ("an image elsewhere, no fetch metadata", "GET", []),
        ("a form on another site", "POST", [("origin", "https://evil.example")]),
        ("a same-site subdomain", "GET", [("sec-fetch-site", "same-site")]),
    ]:
        r = request(site["port"], method, "/oauth2/logout", [("cookie", cookie), *headers], body=b"" if method == "POST" else None)
        assert r.status == 200 and b"Sign out" in r.body, (name, r.status, r.body[:300])
        assert not r.all("set-cookie"), (name, r.headers)
    r = request(site["port"], "GET", "/oauth2/logout", [("cookie", cookie), ("sec-fetch-site", "same-origin")])
    assert r.status == 302 and any(c.startswith("__Host-authgate=;") or "Max-Age=0" in c for c in r.all("set-cookie")), r.headers


@pytest.mark.parametrize("query", [
    "code=c&code=d&state=s", "code=c&state=s&state=t", "state=s", "code=c", "code=c&state=",
    "code=c%00&state=s", "error=access_denied%0d%0aSet-Cookie:%20x=1&state=s",
])
def test_a_callback_that_is_not_one_honest_answer_signs_no_one_in(site, query):
    go = request(site["port"], "GET", "/orders", [("sec-fetch-mode", "navigate")])
    pending = go.header("set-cookie").split(";")[0]
    r = request(site["port"], "GET", f"/oauth2/callback?{query}", [("cookie", pending)])
    assert r.status in (400, 401, 403), (query, r.status, r.body[:300])
    assert not [c for c in r.all("set-cookie") if c.startswith("__Host-authgate=") and "Max-Age=0" not in c], r.headers
    assert not [c for c in r.all("set-cookie") if c.startswith("x=")], r.headers
