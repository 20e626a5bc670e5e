"""OAuth to the letter (findings: PKCE ignored; `website=javascript:…`
stored and echoed; redirect URIs needing only `://`, a CR making the deny
redirect answer 500; unbounded names and URI lists; no CSRF token, no
X-Frame-Options or CSP on the authorize page; deny without a login)."""
import base64
import hashlib
import re
import secrets

import pytest
import requests

from conftest import PASSWORD, Account

CB = "https://app.example/cb"


def web_app(server):
    r = requests.post(server.url + "/api/v1/apps", json={
        "client_name": "web", "redirect_uris": CB, "scopes": "read"}, timeout=10)
    r.raise_for_status()
    return r.json()


def authorize(server, app, who, extra=None, decision="approve", csrf=True):
    """Logs in on the authorize page as a browser would; the answer to the
    form (not followed)."""
    session = requests.Session()
    query = {"client_id": app["client_id"], "redirect_uri": CB, "response_type": "code", "scope": "read",
             "state": "s", **(extra or {})}
    page = session.get(server.url + "/oauth/authorize", params=query, timeout=10)
    assert page.status_code == 200, page.text
    form = dict(query)
    if csrf:
        form["authenticity_token"] = re.search(r'name="authenticity_token" value="([^"]+)"', page.text).group(1)
    else:
        session.cookies.clear()
    if who is not None:
        form.update({"login": who.email, "password": PASSWORD})
    form["decision"] = decision
    return session.post(server.url + "/oauth/authorize", data=form, allow_redirects=False, timeout=30)


def code_from(answer):
    assert answer.status_code in (302, 303), (answer.status_code, answer.text)
    return re.search(r"[?&]code=([^&]+)", answer.headers["Location"]).group(1)


def redeem(server, app, code, verifier=None):
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": CB,
            "client_id": app["client_id"], "client_secret": app["client_secret"]}
    if verifier is not None:
        body["code_verifier"] = verifier
    return requests.post(server.url + "/oauth/token", data=body, timeout=10)


def s256(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.mark.parametrize("verifier", [None, "wrong-" + "v" * 50])
def test_pkce_refuses_a_missing_or_wrong_verifier(server, account, verifier):
    app = web_app(server)
    right = secrets.token_urlsafe(48)
    challenge = {"code_challenge": s256(right), "code_challenge_method": "S256"}
    code = code_from(authorize(server, app, account, challenge))
    r = redeem(server, app, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", (r.status_code, r.text)
    # And the right verifier works on a fresh code.
    code = code_from(authorize(server, app, account, challenge))
    assert redeem(server, app, code, right).status_code == 200


@pytest.mark.parametrize("body", [
    {"website": "javascript:alert(document.cookie)"},
    {"redirect_uris": "javascript://x%0aalert(1)"},
    {"redirect_uris": "https://app.example/cb\rSet-Cookie: x=y"},
    {"redirect_uris": "\n".join([CB] * 500)},
    {"client_name": "n" * 10_000},
], ids=["website-javascript", "redirect-javascript", "redirect-cr", "redirect-list", "long-name"])
def test_hostile_app_metadata_is_refused(server, body):
    full = {"client_name": "x", "redirect_uris": CB, "scopes": "read", **body}
    r = requests.post(server.url + "/api/v1/apps", json=full, timeout=10)
    assert r.status_code == 422, (r.status_code, r.text[:200])
    assert r.json()["error"].startswith("Validation failed"), r.text[:200]


def test_the_authorize_page_cannot_be_framed_and_needs_its_csrf_token(server, account):
    app = web_app(server)
    page = requests.get(server.url + "/oauth/authorize", params={
        "client_id": app["client_id"], "redirect_uri": CB, "response_type": "code"}, timeout=10)
    assert page.headers.get("X-Frame-Options") == "DENY"
    assert "frame-ancestors 'none'" in page.headers.get("Content-Security-Policy", "")
    assert page.headers.get("Cache-Control") == "no-store"
    forged = authorize(server, app, account, csrf=False)
    assert forged.status_code == 403, forged.status_code
    assert "Location" not in forged.headers


def test_deny_without_a_login_does_not_redirect(server, account):
    app = web_app(server)
    r = authorize(server, app, None, decision="deny")
    assert r.status_code == 401 and "Location" not in r.headers, (r.status_code, r.headers)
    r = authorize(server, app, account, decision="deny")
    assert r.status_code in (302, 303) and "error=access_denied" in r.headers["Location"]


def test_the_server_metadata_lists_pkce(server):
    meta = requests.get(server.url + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert "S256" in meta["code_challenge_methods_supported"]
    assert meta["token_endpoint"].endswith("/oauth/token")
