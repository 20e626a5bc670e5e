"""Slow and silent clients (findings: no header-read or keep-alive idle
timeout on hyper's connections; the fast path limited only the gap between
two bytes, so a head sent a byte every 30 s was answered after 197 s; 300
silent connections locked a new client out; idle ones were still served
after 100 s; in-flight permits were taken before the body was read, so 64
stalled POSTs made every request answer 503; a `Content-Length:
99999999999` waited 10 s for a 504 instead of an immediate 413)."""
import socket
import threading
import time

import pytest
import requests

import wire
from wire import Upstream

HEADER_TIMEOUT_S = 2


@pytest.fixture
def strict(start):
    """Short deadlines, so the test waits seconds rather than minutes, and a
    pass-through route, so both HTTP paths are attacked."""
    up = Upstream()
    s = start(AVIARY_HTTP__HEADER_TIMEOUT_MS=HEADER_TIMEOUT_S * 1000,
              AVIARY_HTTP__MIN_BODY_BYTES_PER_SEC=1024,
              AVIARY_PROXY=f'[{{prefix = "/stream", upstream = ["127.0.0.1:{up.port}"]}}]')
    return s


PATHS = {"hyper": "/api/v1/apps", "fast path": "/stream/upload"}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_a_head_sent_a_byte_at_a_time_is_cut_off(strict, path):
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Padding: {'a' * 40}\r\n\r\n".encode()
    with wire.connect(strict) as c:
        t0 = time.monotonic()
        closed = None
        for byte in head:
            try:
                c.sendall(bytes([byte]))
            except OSError:
                closed = time.monotonic() - t0
                break
            got = wire.closed_or_answered_within(c, 0.5)
            if got is not None:
                closed = time.monotonic() - t0
                break
        assert closed is not None, "the whole head was accepted a byte at a time"
        assert closed < HEADER_TIMEOUT_S + 2, f"cut off only after {closed:.1f} s"


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_a_trickling_body_is_answered_408(strict, path):
    with wire.connect(strict) as c:
        c.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: 2000\r\n\r\n".encode())
        t0 = time.monotonic()
        answer = b""
        c.settimeout(0.5)
        while time.monotonic() - t0 < 4 * HEADER_TIMEOUT_S:
            try:
                c.sendall(b" ")
                chunk = c.recv(4096)
                if not chunk:
                    break
                answer += chunk
                break
            except socket.timeout:
                continue
            except OSError:
                break
        took = time.monotonic() - t0
        assert wire.status_of(answer) == 408, answer[:200]
        assert took < 2 * HEADER_TIMEOUT_S + 2, f"answered after {took:.1f} s"


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_an_idle_kept_alive_connection_is_closed(strict, path):
    with wire.connect(strict) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = wire.read_head(c)
        assert wire.status_of(head) is not None, head
        t0 = time.monotonic()
        c.settimeout(HEADER_TIMEOUT_S + 5)
        try:
            while c.recv(4096):
                pass
        except socket.timeout:
            pytest.fail("the idle connection was still open after the header timeout")
        except OSError:
            pass
        assert time.monotonic() - t0 < HEADER_TIMEOUT_S + 2


def test_a_silent_connection_is_closed(strict):
    with wire.connect(strict) as c:
        took = wire.closed_or_answered_within(c, HEADER_TIMEOUT_S + 5)
        assert took is not None and took < HEADER_TIMEOUT_S + 2, took


def test_silent_connections_beyond_the_cap_are_refused_at_once_and_a_trusted_front_is_exempt(start):
    per_ip = 20
    s = start(AVIARY_HTTP__MAX_CONNECTIONS_PER_IP=per_ip, AVIARY_HTTP__MAX_CONNECTIONS=60,
              AVIARY_HTTP__TRUSTED_PROXIES="127.0.0.3")
    held = [wire.connect_from(s, "127.0.0.2") for _ in range(per_ip)]
    time.sleep(0.3)
    try:
        # One more from that address: closed at once, not queued.
        with wire.connect_from(s, "127.0.0.2") as extra:
            took = wire.closed_or_answered_within(extra, 3)
            assert took is not None and took < 1.0, took
        # Another client is served meanwhile...
        assert requests.get(s.url + "/api/v1/instance", timeout=5).status_code == 200
        # ...and the trusted front may hold more than one client's share.
        front = [wire.connect_from(s, "127.0.0.3") for _ in range(per_ip + 10)]
        for c in front[-3:]:
            c.sendall(b"GET /api/v1/instance HTTP/1.1\r\nHost: x\r\n\r\n")
            assert wire.status_of(wire.read_head(c)) == 200
        # The process's cap holds for everyone: 20 + 30 + 10 = 60.
        more = [wire.connect_from(s, f"127.0.0.{4 + i}") for i in range(10)]
        time.sleep(0.3)
        with wire.connect_from(s, "127.0.0.99") as last:
            took = wire.closed_or_answered_within(last, 3)
            assert took is not None and took < 1.0, took
        for c in front + more:
            c.close()
    finally:
        for c in held:
            c.close()


def test_stalled_uploads_do_not_take_the_in_flight_permits(start):
    s = start(AVIARY_HTTP__MAX_IN_FLIGHT=8)
    stalled = []
    for i in range(32):
        c = wire.connect_from(s, f"127.0.1.{i + 1}")
        c.sendall(b"POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{\"client_name\": ")
        stalled.append(c)
    time.sleep(0.5)
    try:
        answers = [requests.get(s.url + "/api/v1/instance", timeout=5).status_code for _ in range(20)]
        assert answers == [200] * 20, answers
    finally:
        for c in stalled:
            c.close()


def test_an_oversized_content_length_is_refused_at_once(server):
    for length in ["99999999999", str(2 * 1024 * 1024)]:
        with wire.connect(server) as c:
            t0 = time.monotonic()
            c.sendall(f"POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {length}\r\n\r\n".encode())
            head = wire.read_head(c)
            took = time.monotonic() - t0
            assert wire.status_of(head) == 413, head[:200]
            assert took < 1.0, f"{took:.1f} s"


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_stalled_uploads_hold_no_more_than_they_declared(strict, path):
    """A stalled upload holds a buffer of its declared size, not a doubled
    one (finding: a stalled upload held ~2 MiB, the buffer doubling)."""
    s = strict
    uploads, declared, sent = 24, 1_000_000, 900_000
    before = s.rss_kib()
    held = []
    try:
        for i in range(uploads):
            c = wire.connect_from(s, f"127.0.2.{i + 1}")
            c.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {declared}\r\n\r\n".encode() + b" " * sent)
            held.append(c)
        time.sleep(0.5)
        grown = (s.rss_kib() - before) * 1024
        print(f"{path}: {uploads} stalled uploads grew resident memory by {grown / 2**20:.1f} MiB")
        assert grown < 1.5 * uploads * declared, f"{grown / 2**20:.1f} MiB for {uploads} × {declared} bytes declared"
    finally:
        for c in held:
            c.close()
