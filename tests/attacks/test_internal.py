"""Internal calls and operational endpoints (findings: `/internal/users/
issue_token` and `check_password` answered anyone who reached a component's
port in split mode; `/metrics` and `/readyz` were public on the gateway)."""
import subprocess
import uuid

import pytest
import requests

import wire

SECRET = "s3cr3t-" + "x" * 40


@pytest.fixture
def engines():
    """A fresh PostgreSQL database and RabbitMQ vhost for split-mode
    processes, both removed afterwards."""
    name = f"aviary_attack_{uuid.uuid4().hex[:12]}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run(psql + [f"CREATE DATABASE {name}"], check=True, capture_output=True)
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run(ctl + ["add_vhost", name], check=True, capture_output=True)
    subprocess.run(ctl + ["set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True, capture_output=True)
    yield {"AVIARY_DATABASE__URL": f"postgres://postgres@127.0.0.1:5432/{name}",
           "AVIARY_BUS__AMQP_URL": f"amqp://guest:guest@127.0.0.1:5672/{name}"}
    subprocess.run(ctl + ["delete_vhost", name], capture_output=True)
    subprocess.run(psql + [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


def call(base, method, body, secret=None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Aviary-Internal-Secret"] = secret
    return requests.post(f"{base}/internal/users/{method}", data=body, headers=headers, timeout=10).status_code


def test_internal_calls_without_the_secret_are_refused(start, engines):
    users = start("--target", "users", AVIARY_INTERNAL__SECRETS=SECRET, **engines)
    for method, body in [("issue_token", '[1, null, "read write follow"]'),
                         ("check_password", '["alice", "guess"]'), ("account_count", "null")]:
        assert call(users.url, method, body) == 401, method
        assert call(users.url, method, body, "wrong-" + "y" * 40) == 401, method
    assert call(users.url, "account_count", "null", SECRET) == 200


def test_split_mode_will_not_start_without_a_secret(start, engines):
    with pytest.raises(pytest.fail.Exception) as refused:
        start("--target", "users", **engines)
    assert "internal.secrets" in str(refused.value)


def test_readiness_and_metrics_answer_only_the_admin_addresses(server):
    for path in ["/metrics", "/readyz"]:
        with wire.connect_from(server, "127.0.0.2") as c:
            c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            assert wire.status_of(wire.read_head(c)) == 404, path
        # A forged X-Forwarded-For from a stranger changes nothing.
        with wire.connect_from(server, "127.0.0.2") as c:
            c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 127.0.0.1\r\n"
                      f"Connection: close\r\n\r\n".encode())
            assert wire.status_of(wire.read_head(c)) == 404, path
        assert requests.get(server.url + path, timeout=10).status_code == 200, path
    with wire.connect_from(server, "127.0.0.2") as c:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert wire.status_of(wire.read_head(c)) == 200, "balancers still see health"
    # And the public port serves no internal route at all.
    assert call(server.url, "account_count", "null", SECRET) == 404
