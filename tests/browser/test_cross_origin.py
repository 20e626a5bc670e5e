"""A browser client on another origin, in headless Chromium: it registers
an app, logs in through the authorize page with PKCE, exchanges the code at
/oauth/token, reads the home timeline, follows its Link header to the next
page and reads X-RateLimit-Remaining — each a cross-origin request the
browser allows only with the server's CORS answers.

Needs Debian's `chromium` and `chromium-driver` and PyPI `selenium`
(.ci/run installs them); a missing one fails the test, never skips it.
"""
import functools
import http.server
import json
import os
import shutil
import threading
import uuid

import pytest
from mastodon import Mastodon
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SITE = os.path.join(os.path.dirname(__file__), "site")
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def app_origin():
    """The client's own origin: a static server on another port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=SITE)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    binary = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("headless Chromium is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]:
        options.add_argument(arg)
    b = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    b.set_page_load_timeout(30)
    yield b
    b.quit()


@pytest.fixture
def reader(base_url):
    """An account whose home timeline holds five posts: three pages of two."""
    cid, secret = Mastodon.create_app("browser setup", api_base_url=base_url, scopes=["read", "write"])
    m = Mastodon(client_id=cid, client_secret=secret, api_base_url=base_url)
    name = f"web_{uuid.uuid4().hex[:8]}"
    m.create_account(name, PASSWORD, f"{name}@example.org", agreement=True, scopes=["read", "write"])
    posted = [m.status_post(f"post {i}")["id"] for i in range(5)]
    return name, [str(i) for i in reversed(posted)]


def test_a_page_on_another_origin_logs_in_and_pages_the_home_timeline(base_url, app_origin, browser, reader):
    name, newest_first = reader
    browser.get(f"{app_origin}/index.html?server={base_url}")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: b.current_url.startswith(f"{base_url}/oauth/authorize") or b.title == "failed")
    assert browser.title != "failed", browser.find_element(By.ID, "log").text
    browser.find_element(By.ID, "login").send_keys(f"{name}@example.org")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    wait.until(lambda b: b.current_url.startswith(f"{app_origin}/callback.html") and b.title == "done")
    result = json.loads(browser.find_element(By.ID, "result").text)
    assert "error" not in result, result
    assert result["state"] == "st4te"
    assert result["token_status"] == 200, result
    assert result["first_status"] == 200 and result["second_status"] == 200, result
    assert result["first"] == newest_first[:2], result
    assert result["second"] == newest_first[2:4], result
    assert 'rel="next"' in result["link"], result
    # Readable only because the server exposes them to other origins.
    assert result["rate_limit_remaining"] is not None and int(result["rate_limit_remaining"]) > 0, result
    assert result["request_id"], result
