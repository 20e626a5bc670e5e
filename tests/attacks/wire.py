"""Raw HTTP/1.1 on a socket, for requests a client library would refuse
to send or would fix up."""
import socket
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
