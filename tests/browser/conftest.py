"""The server under test comes from AVIARY_URL (see tests/clients)."""
import os

import pytest


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("AVIARY_URL")
    if not url:
        pytest.fail("AVIARY_URL is not set: point it at a running Aviary")
    return url
