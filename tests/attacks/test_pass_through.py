"""Pass-through routes stay under their prefix and splice only WebSocket
(findings: `/stream/../internal/users/authenticate`, `%2e%2e` and `..\\`
were forwarded as is; with `Upgrade: h2c` a tunnel reached arbitrary
upstream paths)."""
import pytest

import wire
from wire import Upstream


@pytest.fixture
def proxied(start):
    up = Upstream()
    s = start(AVIARY_PROXY=f'[{{prefix = "/stream", upstream = ["127.0.0.1:{up.port}"]}}]')
    status, _ = wire.exchange(s, b"GET /stream/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200, "the pass-through route answers"
    return s, up


@pytest.mark.parametrize("target", [
    "/stream/../internal/users/authenticate",
    "/stream/%2e%2e/internal/users/authenticate",
    "/stream/%2E./internal/users/authenticate",
    "/stream/..%5cinternal/users/authenticate",
    "/stream/..\\internal/users/authenticate",
    "/stream%2f..%2finternal",
    "/stream/./x",
])
def test_dot_segments_never_reach_the_upstream(proxied, target):
    s, up = proxied
    seen = len(up.lines)
    status, answer = wire.exchange(s, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert status is not None and 400 <= status < 500, (target, answer[:200])
    assert not any("internal" in line or "/./" in line for line in up.lines[seen:]), up.lines[seen:]


def test_an_h2c_upgrade_is_not_spliced_into_a_tunnel(proxied):
    s, up = proxied
    with wire.connect(s, timeout=5) as c:
        c.sendall(b"GET /stream/h HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                  b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        head = wire.read_head(c)
        assert wire.status_of(head) != 101, head
        # Whatever the answer, what follows is not carried to the upstream raw.
        try:
            c.sendall(b"GET /internal/users/issue_token HTTP/1.1\r\nHost: x\r\n\r\n")
            wire.read_head(c)
        except OSError:
            pass
    assert not any("/internal/" in line for line in up.lines), up.lines
