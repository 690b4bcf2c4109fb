"""A JSON-RPC 2.0 client for a running SPDK application, over its unix socket.

SPDK (``doc/jsonrpc.md``) answers each request with one JSON object, ``result`` or
``error`` {``code``, ``message``}, and keeps the connection open.
"""

import json
import socket
from collections.abc import Mapping
from typing import Any


class SPDKError(Exception):
    """The SPDK application could not be asked, or answered with an error.

    ``code`` and ``message`` are those of SPDK's JSON-RPC error object (None when
    there was no answer).
    """

    def __init__(self, text: str, code: int | None = None, message: str | None = None):
        super().__init__(text)
        self.code = code
        self.message = message


def rpc_call(
    socket_path: str,
    method: str,
    timeout: float = 5.0,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """One JSON-RPC 2.0 request over SPDK's unix socket; the response's ``result``.

    ``timeout`` bounds each socket operation, so a silent SPDK costs at most a few
    timeouts, never a hang.
    """
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        body["params"] = dict(params)
    request = json.dumps(body).encode()
    decoder = json.JSONDecoder()
    received = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(request)
            while True:  # SPDK sends one JSON object and keeps the connection open
                chunk = sock.recv(65536)
                if not chunk:
                    raise SPDKError(f"{method}: connection closed before a full response")
                received += chunk
                try:
                    response, _ = decoder.raw_decode(received.decode().lstrip())
                    break
                except ValueError:  # incomplete so far (or malformed: ends in timeout)
                    continue
    except OSError as err:  # missing socket, refused, timeout
        raise SPDKError(f"{method}: {err}") from err
    if not isinstance(response, dict):
        raise SPDKError(f"{method}: response is not a JSON-RPC object")
    if "error" in response:
        error = response["error"]
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise SPDKError(
            f"{method}: {error}",
            code if isinstance(code, int) else None,
            message if isinstance(message, str) else None,
        )
    return response.get("result")


def objects(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list result; anything else counts as none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
