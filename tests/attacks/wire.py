"""Raw HTTP/1.1 on a socket, for requests a client library would refuse
to send or would fix up."""
import socket
import threading
import time


def connect(server, timeout=10.0):
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_head(sock, limit=65536):
    """Bytes up to the end of a response head; b"" if the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def status_of(head):
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def exchange(server, raw, timeout=10.0):
    """Sends `raw` on a new connection; (status, whole answer read until close
    or timeout)."""
    with connect(server, timeout) as s:
        s.sendall(raw)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data and _complete(data):
                    break
        except socket.timeout:
            pass
    return status_of(data), data


def _complete(data):
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def closed_or_answered_within(sock, seconds):
    """Seconds until the server answered or closed the connection, or None
    if it did neither within `seconds`."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        sock.recv(65536)
    except socket.timeout:
        return None
    except ConnectionError:
        pass
    return time.monotonic() - start


class Upstream:
    """A naive upstream that records every request line it receives and
    switches protocols whenever asked: what a tunnel would reach."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.heads = []
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
                    self.heads.append(head.decode("latin-1"))
                    if b"\r\nupgrade:" in head.lower():
                        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                    else:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (socket.timeout, OSError):
                return


def connect_from(server, source, timeout=10.0):
    """A connection from another loopback address (all of 127/8 is this host)."""
    s = socket.create_connection((server.host, server.port), timeout=timeout, source_address=(source, 0))
    s.settimeout(timeout)
    return s
