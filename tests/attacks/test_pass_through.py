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


@pytest.mark.parametrize("target", [b"/stream/x", b"/stream/\xc3\xbcber", b"/stream/<x>{y}|^", b"/stream/x#fragment"],
                         ids=["plain", "raw-utf8", "brackets", "fragment"])
def test_both_http_paths_answer_odd_targets_alike(proxied, target):
    """Both HTTP paths parse alike (finding: raw UTF-8 and `<>{}|^`
    targets and `#fragment` were forwarded by the fast path and refused by
    hyper). A chunked body always goes to hyper; the same request with a
    length may take the fast path: both must be answered alike. cargo test
    -p proxy the_fast_path_reads_requests_exactly_as_hyper_does runs the
    whole corpus against hyper's parser."""
    s, up = proxied
    with_length = b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc"
    chunked = (b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    fast, _ = wire.exchange(s, with_length)
    slow, _ = wire.exchange(s, chunked)
    assert fast == slow, (target, fast, slow)


def test_a_signed_content_length_is_refused(proxied):
    """Finding: `Content-Length: +3` was accepted by the fast path and
    refused by hyper."""
    s, up = proxied
    seen = len(up.lines)
    status, answer = wire.exchange(s, b"POST /stream/x HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc")
    assert status == 400, answer[:200]
    assert len(up.lines) == seen, up.lines[seen:]
