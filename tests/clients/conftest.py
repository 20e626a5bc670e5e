"""The Mastodon.py suite's fixtures: an app and logged-in accounts on the
server tests/conftest.py names (AVIARY_URL)."""
import uuid

import pytest
from mastodon import Mastodon

SCOPES = ["read", "write", "follow"]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def app(base_url):
    return Mastodon.create_app("mastodon-py compatibility", api_base_url=base_url, scopes=SCOPES,
                               redirect_uris="urn:ietf:wg:oauth:2.0:oob")


def new_account(base_url, app, prefix):
    """Signs up an account, then logs in with the password grant, as a
    client would on a second device; returns the logged-in client."""
    client_id, client_secret = app
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.org"
    signup = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
    token = signup.create_account(name, PASSWORD, email, agreement=True, scopes=SCOPES)
    assert token
    m = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
    # The server publishes its OAuth endpoints (RFC 8414); Mastodon.py
    # insists they be https unless told that this one is served over http.
    m.log_in(username=email, password=PASSWORD, scopes=SCOPES, allow_http=base_url.startswith("http://"))
    return m
