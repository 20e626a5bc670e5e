"""The attack suite's servers: each test starts the `aviary` binary
(AVIARY_BIN, default target/debug/aviary) all-in-one in a temporary
directory on a random port, with the settings it needs as AVIARY_*
environment variables, and stops it afterwards.

The Rust test `attacks` (crates/aviary/tests/attacks.rs) runs this suite
with the binary cargo just built; by hand:
AVIARY_BIN=target/release/aviary python3 -m pytest tests/attacks
"""
import collections
import json
import os
import pathlib
import re
import signal
import subprocess
import threading
import time
import uuid

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


class Server:
    def __init__(self, env, data_dir, args=()):
        binary = os.environ.get("AVIARY_BIN", str(ROOT / "target" / "debug" / "aviary"))
        if not os.path.exists(binary):
            pytest.fail(f"no aviary binary at {binary}: build it (cargo build -p aviary) or set AVIARY_BIN")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AVIARY_")}
        full_env.update({"AVIARY_LOG_FORMAT": "json", "AVIARY_SHUTDOWN_DRAIN_MS": "0",
                         "AVIARY_SHUTDOWN_GRACE_SECS": "2"})
        full_env.update(env)
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data", str(data_dir), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env, text=True)
        self.log = collections.deque(maxlen=200)
        address = threading.Event()
        self.addr = None

        def read():
            for line in self.proc.stdout:
                self.log.append(line.rstrip())
                if self.addr is None and "aviary serving" in line:
                    self.addr = json.loads(line)["address"]
                    address.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 60
        while not address.wait(0.1) and self.proc.poll() is None and time.monotonic() < deadline:
            pass
        if self.addr is None:
            time.sleep(0.2)  # the rest of the log of a process that ended
            self.stop()
            pytest.fail("aviary did not start:\n" + "\n".join(self.log))
        self.host, port = self.addr.rsplit(":", 1)
        self.port = int(port)
        self.url = f"http://{self.addr}"

    @property
    def pid(self):
        return self.proc.pid

    def rss_kib(self):
        """Resident memory now, from /proc."""
        status = pathlib.Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))

    def peak_rss_kib(self):
        status = pathlib.Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start(tmp_path):
    """start(*args, **env) → a running Server; every one is stopped after the test."""
    servers = []

    def _start(*args, **env):
        s = Server({k: str(v) for k, v in env.items()}, tmp_path / f"data{len(servers)}", args)
        servers.append(s)
        return s

    yield _start
    for s in servers:
        s.stop()


@pytest.fixture
def server(start):
    """A server with the shipped defaults."""
    return start()


class Account:
    """An app, an account on it and its user token."""

    def __init__(self, base, scopes="read write follow"):
        self.base = base
        app = requests.post(f"{base}/api/v1/apps", json={
            "client_name": "attack suite", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": scopes}, timeout=10)
        app.raise_for_status()
        self.client_id, self.client_secret = app.json()["client_id"], app.json()["client_secret"]
        token = requests.post(f"{base}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": self.client_id,
            "client_secret": self.client_secret, "scope": scopes}, timeout=10)
        token.raise_for_status()
        self.username = f"u{uuid.uuid4().hex[:10]}"
        self.email = f"{self.username}@example.org"
        signed = requests.post(f"{base}/api/v1/accounts", headers={
            "Authorization": f"Bearer {token.json()['access_token']}"}, json={
            "username": self.username, "email": self.email, "password": PASSWORD, "agreement": True}, timeout=30)
        signed.raise_for_status()
        self.token = signed.json()["access_token"]

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def account(server):
    return Account(server.url)


def wait_until(check, timeout=10.0, interval=0.05):
    """Polls `check` until it is true or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value
