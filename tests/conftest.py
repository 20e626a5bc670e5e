"""Shared by the suites that drive a running server (tests/clients,
tests/browser): the server under test comes from AVIARY_URL. The Rust test
harness starts a fresh server for each suite and sets it; by hand:
AVIARY_URL=http://127.0.0.1:8080 python3 -m pytest tests/clients"""
import os

import pytest


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("AVIARY_URL")
    if not url:
        pytest.fail("AVIARY_URL is not set: point it at a running Aviary")
    return url
