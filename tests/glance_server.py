"""A small stand-in for Glance's image download API, on a real HTTP port in a thread.

It answers ``GET /v2/images/{id}`` (the image's metadata, with ``checksum``,
``os_hash_algo`` and ``os_hash_value``) and ``GET /v2/images/{id}/file`` (the data,
with ``Content-MD5``), 404 for unknown images, and records every request with the
``X-Auth-Token`` it carried. ``corrupt`` images answer data that does not match their
checksums; ``failures`` makes the next N requests answer 500.
"""

import contextlib
import hashlib
import json
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from tests import http_stub


class GlanceStub:
    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.properties: dict[str, dict[str, str]] = {}  # extra image properties
        self.corrupt: set[str] = set()
        self.failures = 0
        self.requests: list[tuple[str, str | None]] = []  # (path, X-Auth-Token)
        self._lock = threading.Lock()
        self.server = http_stub.server(self._http)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(
        self,
        image_id: str,
        data: bytes,
        *,
        corrupt: bool = False,
        properties: dict[str, str] | None = None,
    ) -> None:
        self.images[image_id] = data
        self.properties[image_id] = dict(properties or {})
        if corrupt:
            self.corrupt.add(image_id)

    def file_requests(self) -> int:
        return sum(1 for path, _ in self.requests if path.endswith("/file"))

    def _answer(self, path: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append((path, token))
            if self.failures:
                self.failures -= 1
                return 500, {"Content-Type": "text/plain"}, b"overloaded"
        route, _, query = path.partition("?")
        parts = route.strip("/").split("/")
        if parts == ["v2", "images"]:  # a search: every query parameter must match
            wanted = dict(urllib.parse.parse_qsl(query))
            found = [
                self._metadata(i)
                for i in self.images
                if all(self._metadata(i).get(k) == v for k, v in wanted.items())
            ]
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps({"images": found}).encode(),
            )
        if len(parts) not in (3, 4) or parts[:2] != ["v2", "images"]:
            return 404, {"Content-Type": "text/plain"}, b"no such route"
        image_id = parts[2]
        if image_id not in self.images:
            return 404, {"Content-Type": "text/plain"}, b"image not found"
        data = self.images[image_id]
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if len(parts) == 4 and parts[3] == "file":
            sent = data[:-1] + b"?" if image_id in self.corrupt and data else data
            return 200, {"Content-Type": "application/octet-stream", "Content-MD5": md5}, sent
        metadata = self._metadata(image_id)
        return 200, {"Content-Type": "application/json"}, json.dumps(metadata).encode()

    def _metadata(self, image_id: str) -> dict[str, Any]:
        data = self.images[image_id]
        return {
            "id": image_id,
            "status": "active",
            "size": len(data),
            "checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest(),
            **self.properties.get(image_id, {}),
        }

    def _http(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if method != "GET":
            return 405, {"Content-Type": "text/plain"}, b"GET only"
        return self._answer(path, headers.get("X-Auth-Token"))


@contextlib.contextmanager
def running() -> Iterator[GlanceStub]:
    stub = GlanceStub()
    with http_stub.serving(stub.server):
        yield stub
