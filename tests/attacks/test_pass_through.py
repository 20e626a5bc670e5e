"""Pass-through routes stay under their prefix and splice only WebSocket
(findings: `/stream/../internal/users/authenticate`, `%2e%2e` and `..\\`
were forwarded as is; with `Upgrade: h2c` a tunnel reached arbitrary
upstream paths)."""
import socket
import threading

import pytest

import wire


class Upstream:
    """A naive upstream that records every request line it receives and
    switches protocols whenever asked: what a tunnel would reach."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lines = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        buf = b""
        with conn:
            conn.settimeout(5)
            try:
                while True:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(4096)
                        if not chunk:
                            return
                        buf += chunk
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    self.lines.append(head.split(b"\r\n")[0].decode("latin-1"))
                    if b"\r\nupgrade:" in head.lower():
                        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                    else:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (socket.timeout, OSError):
                return


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
