"""The demo a person clicks through: `./build.sh demo`'s servers (tests/e2e/demo.py, on free
ports) and headless Chromium (Debian's, through chromedriver): a refused page, the demo OpenID
Provider's login (a wrong password refused, then dora's), the page with her name from the
identity headers, and signing out. The screenshots are kept in tests/e2e/artifacts/ (the README's
tour shows copies of them, docs/images/)."""

import json
import os

from demo import people, run
from harness import free_port, request
from test_sign_in import ARTIFACTS, browser, until  # noqa: F401 (the fixture)


def shot(drv, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    drv.save_screenshot(os.path.join(ARTIFACTS, name))


def test_a_person_signs_in_to_the_demo_and_out(browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    port = free_port()
    upstream, envoy, op = run(port, free_port(), free_port(), free_port(), free_port(), free_port())
    (login, password), = people()
    site = f"http://localhost:{port}"
    try:
        browser.set_window_size(1000, 700)
        # A page of the API (tokens only), opened in a browser: the refusal as a page. (A route
        # that takes Basic would make the browser ask for a password in its own dialog.)
        browser.get(f"{site}/stock")
        until(browser, "the refusal page", lambda d: "401 Unauthorized" in d.page_source)
        assert browser.current_url == f"{site}/stock" and "How to authenticate" in browser.page_source
        shot(browser, "demo-1-refused.png")

        # The website: to the provider's login page.
        browser.get(f"{site}/account")
        until(browser, "the login page", lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=login]"))
        assert browser.current_url.startswith("http://127.0.0.1:"), browser.current_url
        # The password is checked wherever the form is sent: oidc-provider's router also takes
        # the path with a trailing slash or in capitals.
        for path in ("location.pathname + '/'", "location.pathname.toUpperCase()"):
            status = browser.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                f"fetch({path}, {{method: 'POST', redirect: 'manual', headers: {{'content-type':"
                " 'application/x-www-form-urlencoded'}, body: 'prompt=login&login=" + login + "&password=guess'})"
                ".then(r => done(r.status), e => done(String(e)));")
            assert status == 401, (path, status)
        browser.find_element(By.CSS_SELECTOR, "input[name=login]").send_keys(login)
        browser.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("not " + password)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit].login-submit").click()
        until(browser, "the wrong password refused", lambda d: "Wrong login or password" in d.page_source)
        browser.find_element(By.LINK_TEXT, "Try again").click()
        until(browser, "the login page again", lambda d: d.find_elements(By.CSS_SELECTOR, "input[name=login]"))
        browser.find_element(By.CSS_SELECTOR, "input[name=login]").send_keys(login)
        browser.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
        shot(browser, "demo-2-login.png")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit].login-submit").click()

        # Back on the page, which shows who signed in: the echo of the identity headers.
        until(browser, "back on the page", lambda d: d.current_url == f"{site}/account")
        until(browser, "the name on the page", lambda d: "Dora Demo" in d.page_source)
        shot(browser, "demo-3-signed-in.png")
        seen = [r for r in upstream.seen if r.path == "/account"]
        assert seen and dict(seen[-1].headers).get("x-auth-name") == "Dora Demo", seen
        assert dict(seen[-1].headers).get("x-auth-email") == f"{login}@example.com"
        body = json.loads(browser.find_element(By.TAG_NAME, "pre").text)
        assert body["headers"]["x-auth-name"] == "Dora Demo"

        # Signing out: the provider's end-session page, then authgate's signed-out page.
        browser.get(f"{site}/oauth2/logout")
        until(browser, "the end-session page", lambda d: d.find_elements(By.CSS_SELECTOR, "button[name=logout][value=yes]"))
        browser.find_element(By.CSS_SELECTOR, "button[name=logout][value=yes]").click()
        until(browser, "the signed-out page", lambda d: "You are signed out" in d.page_source)
        shot(browser, "demo-4-signed-out.png")
        assert browser.get_cookie("__Host-authgate") is None
        # And the page is closed again.
        r = request(port, "GET", "/account", [("sec-fetch-mode", "navigate")])
        assert r.status == 302 and r.header("location").startswith("http://127.0.0.1:"), r.status
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- Envoy ---\n{envoy.log()[-5000:]}\n--- OpenID Provider ---\n{op.log()[-3000:]}") from e
    finally:
        envoy.stop()
        upstream.close()
        op.stop()
