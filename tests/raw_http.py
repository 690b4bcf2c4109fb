"""HTTP/1.1 over a plain socket, for tests that send what no client library would:
half a request, a body that never ends, a header block too big to parse."""

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)

    def fault(self) -> dict[str, Any]:
        """The fault inside upstream's error envelope (a JSON string in error_message)."""
        fault: dict[str, Any] = json.loads(self.json()["error_message"])
        return fault


def connect(port: int, timeout: float = 30.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def request_head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    """The request line and header block, ending with the blank line."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, seconds: float = 60.0) -> Response:
    """One response (with a Content-Length body); fails the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock, deadline, "the response's headers")
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += _recv(sock, deadline, "the response's body")
    return Response(int(status_line.split()[1]), headers, body[:length])


def closed_by_server(sock: socket.socket, seconds: float) -> bool:
    """The server closes the connection (EOF or reset) within ``seconds``; what it sent
    before closing is discarded."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, min(1.0, deadline - time.monotonic())))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:  # reset
            return True
    return False


def _recv(sock: socket.socket, deadline: float, what: str) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise AssertionError(f"no complete answer: {what} did not arrive in time")
    sock.settimeout(remaining)
    try:
        chunk = sock.recv(65536)
    except TimeoutError as err:
        raise AssertionError(f"no complete answer: {what} did not arrive in time") from err
    if not chunk:
        raise AssertionError(f"the server closed the connection before {what}")
    return chunk
